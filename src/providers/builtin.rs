//! The built-in tables: which providers `Registry::new()` registers by name,
//! and which DSN schemes it understands.
//!
//! This is the one place an HTTP provider is wired in. Rules for entries:
//! - A built-in provider must not fail to construct when its key is missing:
//!   it reads its standard variables (through `env`, never `std::env`) when
//!   first used, and a missing key is a permanent error at call time.
//! - A scheme factory calls [`Dsn::reject_unknown_options`] with the options
//!   its protocol knows, so a typo in an `LLM_*` variable is an error naming
//!   the variable and the option.
//! - A provider compiled out (its cargo feature off) still resolves, as a
//!   [`NotBuilt`] placeholder whose calls say which feature to enable.

use std::sync::Arc;

#[allow(unused_imports)] // unused when every provider feature is on
use super::not_built::NotBuilt;
use crate::scheme::{BuildContext, SchemeFactory};
use crate::{Dsn, Provider, Result};

/// Options every HTTP scheme accepts.
pub(crate) const COMMON_OPTIONS: &[&str] = &["timeout", "idle_timeout", "connect_timeout"];

/// The providers registered by name: `openai`, `anthropic`, `ollama`, `gemini`.
pub(crate) fn providers(context: &BuildContext) -> Vec<Arc<dyn Provider>> {
    let _ = context;
    vec![
        builtin!("openai", super::openai::builtin, context),
        builtin!("anthropic", super::anthropic::builtin, context),
        builtin!("ollama", super::ollama::builtin, context),
        builtin!("gemini", super::gemini::builtin, context),
    ]
}

/// The built-in provider `$feature` (each is named for its cargo feature)
/// when that feature is on, else a [`NotBuilt`] placeholder naming it.
macro_rules! builtin {
    ($feature:literal, $build:path, $context:expr) => {{
        #[cfg(feature = $feature)]
        let provider: Arc<dyn Provider> = $build($context);
        #[cfg(not(feature = $feature))]
        let provider: Arc<dyn Provider> = Arc::new(NotBuilt::new($feature, $feature));
        provider
    }};
}
use builtin;

type Build = fn(&str, &Dsn, &BuildContext) -> Result<Arc<dyn Provider>>;

/// `$build` when the cargo feature `$feature` is on, else a factory of
/// [`NotBuilt`] placeholders naming the feature.
macro_rules! when_built {
    ($feature:literal, $build:path) => {{
        #[cfg(feature = $feature)]
        let build: Build = $build;
        #[cfg(not(feature = $feature))]
        let build: Build = |name, _, _| Ok(Arc::new(NotBuilt::new(name, $feature)));
        build
    }};
}

/// The DSN schemes: `openai`, `anthropic`, `ollama`, `gemini`, `foreman`, `azure`.
pub(crate) fn schemes() -> Vec<(&'static str, Arc<dyn SchemeFactory>)> {
    vec![
        (
            "openai",
            scheme(
                &["inline_images"],
                when_built!("openai", super::openai::from_dsn),
            ),
        ),
        (
            "anthropic",
            scheme(
                &["version"],
                when_built!("anthropic", super::anthropic::from_dsn),
            ),
        ),
        (
            "ollama",
            scheme(&[], when_built!("ollama", super::ollama::from_dsn)),
        ),
        (
            "gemini",
            scheme(&[], when_built!("gemini", super::gemini::from_dsn)),
        ),
        (
            "azure",
            scheme(
                &["inline_images", "api-version"],
                when_built!("openai", super::openai::azure_from_dsn),
            ),
        ),
        (
            "foreman",
            scheme(
                &["inline_images"],
                when_built!("openai", super::openai::foreman_from_dsn),
            ),
        ),
    ]
}

/// A factory that checks the DSN's options (common ones plus `extra_options`)
/// and their durations, then builds with `build`.
fn scheme(extra_options: &'static [&'static str], build: Build) -> Arc<dyn SchemeFactory> {
    Arc::new(BuiltinScheme {
        extra_options,
        build,
    })
}

/// A built-in scheme: its options, and how it builds.
struct BuiltinScheme {
    extra_options: &'static [&'static str],
    build: Build,
}

impl SchemeFactory for BuiltinScheme {
    fn build(&self, name: &str, dsn: &Dsn) -> Result<Arc<dyn Provider>> {
        self.build_with(name, dsn, &BuildContext::default())
    }

    fn build_with(
        &self,
        name: &str,
        dsn: &Dsn,
        context: &BuildContext,
    ) -> Result<Arc<dyn Provider>> {
        let known: Vec<&str> = COMMON_OPTIONS
            .iter()
            .chain(self.extra_options)
            .copied()
            .collect();
        dsn.reject_unknown_options(&known)?;
        for option in COMMON_OPTIONS {
            dsn.duration_option(option)?;
        }
        (self.build)(name, dsn, context)
    }
}
