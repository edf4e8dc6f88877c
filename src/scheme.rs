//! What the registry hands the providers it builds, kept apart from both so
//! that neither imports the other: [`SchemeFactory`] (how a DSN scheme builds
//! a provider), [`BuildContext`] (where variables are read, and the host's
//! HTTP client) and `EnvLookup`.
//!
//! The registry depends on this module and on the built-in provider table;
//! providers depend on this module only.

use std::fmt;
use std::sync::Arc;

use crate::{Dsn, Provider, Result};

/// Reads one environment variable; `None` when unset.
pub(crate) type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What a [`crate::Registry`] gives every provider it builds: the built-in
/// providers, and each provider a [`SchemeFactory`] builds from an `LLM_*`
/// variable. It carries where variables are read (the registry's environment
/// source) and, with an HTTP provider feature, the host's own
/// `reqwest::Client` set with [`crate::RegistryBuilder::http_client`].
///
/// ```
/// use majordomo::BuildContext;
/// let context = BuildContext::default(); // the process environment, no host client
/// # #[cfg(feature = "http")]
/// assert!(context.http_client().is_none());
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct BuildContext {
    env: EnvLookup,
    #[cfg(feature = "http")]
    http_client: Option<reqwest::Client>,
}

impl Default for BuildContext {
    /// Reads the process environment; no host client.
    fn default() -> Self {
        BuildContext::new(Arc::new(|key: &str| std::env::var(key).ok()))
    }
}

impl BuildContext {
    pub(crate) fn new(env: EnvLookup) -> Self {
        BuildContext {
            env,
            #[cfg(feature = "http")]
            http_client: None,
        }
    }

    /// The context with `client` as the HTTP client of every provider built.
    #[cfg(feature = "http")]
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Reads the variable `name` from the registry's environment source.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    /// The host's HTTP client, when one was given: a provider built with
    /// this context sends its requests through it (see
    /// [`crate::providers::http::HttpSettings::client`]).
    #[cfg(feature = "http")]
    pub fn http_client(&self) -> Option<&reqwest::Client> {
        self.http_client.as_ref()
    }
}

impl fmt::Debug for BuildContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("BuildContext");
        #[cfg(feature = "http")]
        d.field("http_client", &self.http_client.is_some());
        d.finish_non_exhaustive()
    }
}

/// Builds a provider from a DSN: registered per scheme with
/// [`crate::Registry::register_scheme`]. Any `Fn(&str, &Dsn) -> Result<Arc<dyn Provider>>`
/// is one.
///
/// A factory must not resolve providers through the registry that is calling
/// it: the name it builds is locked until it returns.
pub trait SchemeFactory: Send + Sync {
    /// Builds the provider registered as `name` (`m1` for `LLM_M1`) from `dsn`.
    ///
    /// # Errors
    /// Any error; [`Dsn::reject_unknown_options`] gives the standard one for
    /// an option the scheme does not know.
    fn build(&self, name: &str, dsn: &Dsn) -> Result<Arc<dyn Provider>>;

    /// As [`SchemeFactory::build`], with the registry's [`BuildContext`]
    /// (its environment source and the host's HTTP client). The registry
    /// calls this one; the default ignores the context and calls `build`,
    /// so a factory that wants the host's client overrides it.
    ///
    /// # Errors
    /// As [`SchemeFactory::build`].
    fn build_with(
        &self,
        name: &str,
        dsn: &Dsn,
        context: &BuildContext,
    ) -> Result<Arc<dyn Provider>> {
        let _ = context;
        self.build(name, dsn)
    }
}

impl<F> SchemeFactory for F
where
    F: Fn(&str, &Dsn) -> Result<Arc<dyn Provider>> + Send + Sync,
{
    fn build(&self, name: &str, dsn: &Dsn) -> Result<Arc<dyn Provider>> {
        self(name, dsn)
    }
}
