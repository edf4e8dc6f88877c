//! [`ChainConfig`]: how a chain retries, advances and reports.

use std::fmt;
use std::sync::Arc;

use crate::{Classifier, DefaultClassifier};

/// Chain settings, set on the registry builder and shared by every chain it parses.
#[derive(Clone)]
#[non_exhaustive]
pub struct ChainConfig {
    /// Extra attempts on the same target after a transient error. Default: 1; 0 disables.
    pub transient_retries: u32,
    /// Advance to the next target on a permanent error instead of failing fast. Default: false.
    pub advance_on_permanent: bool,
    /// Assigns classes to errors. Default: [`DefaultClassifier`].
    pub classifier: Arc<dyn Classifier>,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            transient_retries: 1,
            advance_on_permanent: false,
            classifier: Arc::new(DefaultClassifier),
        }
    }
}

impl ChainConfig {
    /// Sets the number of same-target retries after a transient error.
    pub fn transient_retries(mut self, retries: u32) -> Self {
        self.transient_retries = retries;
        self
    }

    /// Advance on permanent errors instead of failing fast.
    pub fn advance_on_permanent(mut self, advance: bool) -> Self {
        self.advance_on_permanent = advance;
        self
    }

    /// Installs a custom classifier.
    pub fn classifier(mut self, classifier: impl Classifier + 'static) -> Self {
        self.classifier = Arc::new(classifier);
        self
    }
}

impl fmt::Debug for ChainConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainConfig")
            .field("transient_retries", &self.transient_retries)
            .field("advance_on_permanent", &self.advance_on_permanent)
            .finish_non_exhaustive()
    }
}
