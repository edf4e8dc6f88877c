//! [`RegistryBuilder`]: the registry's clock, health, chain settings and environment.

use std::collections::HashMap;
use std::sync::Arc;

use super::Registry;
use super::env::EnvSource;
use crate::health::{Clock, HealthConfig, HealthStore, HealthTracker, MemoryStore, SystemClock};
use crate::opaque::Opaque;
use crate::scheme::{BuildContext, EnvLookup};
use crate::setters::chained_setters;
use crate::{ChainConfig, Layers, ProviderLayer};

/// A change to the chain settings applied at build time (usage sink, prices).
type ChainConfigEdit = Box<dyn FnOnce(ChainConfig) -> ChainConfig + Send>;

/// Builds a [`Registry`]; start with [`Registry::builder`].
///
/// ```
/// use majordomo::Registry;
/// use majordomo::health::FakeClock;
///
/// let registry = Registry::builder()
///     .clock(FakeClock::new())
///     .env_vars([("LLM_LOCAL", "ollama://127.0.0.1")])
///     .build();
/// assert_eq!(registry.provider("local")?.name(), "local");
/// # Ok::<(), majordomo::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until .build()"]
pub struct RegistryBuilder {
    clock: Arc<dyn Clock>,
    health_config: HealthConfig,
    health_store: Option<Arc<dyn HealthStore>>,
    chain_config: ChainConfig,
    /// Set by [`RegistryBuilder::observer`]; applied at build time so that a
    /// later [`RegistryBuilder::chain_config`] cannot drop it.
    observer: Option<Arc<dyn crate::FailoverObserver>>,
    /// Set by [`RegistryBuilder::usage_sink`] and [`RegistryBuilder::prices`];
    /// applied at build time, like the observer.
    usage: Opaque<Vec<ChainConfigEdit>>,
    /// Variables given with `env_vars` / `env_lookup`; `None` means the process.
    env: Option<EnvSource>,
    /// Set by [`RegistryBuilder::without_env`]: never read the process environment.
    hermetic: bool,
    /// Set by [`RegistryBuilder::layer`] and [`RegistryBuilder::layers`].
    layers: Layers,
    /// Set by [`RegistryBuilder::http_client`]. Not shown by `Debug`: the
    /// host's default headers may hold a credential.
    #[cfg(feature = "http")]
    http_client: Option<Opaque<reqwest::Client>>,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            clock: Arc::new(SystemClock),
            health_config: HealthConfig::default(),
            health_store: None,
            chain_config: ChainConfig::default(),
            observer: None,
            usage: Opaque::default(),
            env: None,
            hermetic: false,
            layers: Layers::new(),
            #[cfg(feature = "http")]
            http_client: None,
        }
    }
}

impl RegistryBuilder {
    chained_setters! {
        /// The clock health reads (default: the system clock). Tests pass a
        /// [`crate::health::FakeClock`] and move it by hand.
        clock(clock: impl Clock + 'static) => clock = Arc::new(clock);
        /// Health tracker settings.
        health_config(config: HealthConfig) => health_config = config;
        /// Where health state is kept (default: in memory).
        health_store(store: impl HealthStore + 'static) => health_store = Some(Arc::new(store));
        /// Chain settings shared by every chain the registry parses. An observer
        /// set with [`RegistryBuilder::observer`] is kept whatever the order of
        /// the two calls, and wins over one inside `config`.
        chain_config(config: ChainConfig) => chain_config = config;
        /// Installs the failover observer on the chain settings (see
        /// [`ChainConfig::observer`]): it receives a [`crate::FailoverEvent`] for
        /// every failover step of every chain the registry parses. Any order
        /// with [`RegistryBuilder::chain_config`] works.
        observer(observer: impl crate::FailoverObserver + 'static) => observer = Some(Arc::new(observer));
    }

    /// Installs the usage sink on the chain settings (see
    /// [`ChainConfig::usage_sink`]): one [`crate::UsageRecord`] per chain call of
    /// every chain the registry parses. Any order with `chain_config` works.
    pub fn usage_sink(mut self, sink: impl crate::UsageSink + 'static) -> Self {
        self.usage
            .push(Box::new(move |config| config.usage_sink(sink)));
        self
    }

    /// Prices the usage records (see [`ChainConfig::prices`]). Any order works.
    pub fn prices(mut self, prices: crate::PriceTable) -> Self {
        self.usage
            .push(Box::new(move |config| config.prices(prices)));
        self
    }

    /// Reads variables through `lookup` instead of the process environment,
    /// for lazy `LLM_<NAME>` resolution and the built-in providers' keys. A
    /// function cannot be listed, so there is no eager `LLM_*` scan.
    pub fn env_lookup(
        mut self,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        let lookup: EnvLookup = Arc::new(lookup);
        self.env = Some(EnvSource::Lookup(lookup));
        self
    }

    /// Uses exactly these variables instead of the process environment, for
    /// the eager `LLM_*` scan, lazy lookups and the built-in providers' keys
    /// (`OPENAI_API_KEY`, …).
    pub fn env_vars<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let map: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.env = Some(EnvSource::Fixed(Arc::new(map)));
        self
    }

    /// Reads nothing from the process environment: no eager `LLM_*` scan, no
    /// lazy `LLM_<NAME>` lookup, and no `OPENAI_API_KEY`, `OPENAI_BASE_URL`,
    /// `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`, `OLLAMA_HOST` for the built-in
    /// providers. Variables given with [`RegistryBuilder::env_vars`] or
    /// [`RegistryBuilder::env_lookup`] (before or after this call) are still
    /// read lazily, when a name is used: they are the test's environment, not
    /// the process's.
    ///
    /// ```
    /// use majordomo::Registry;
    /// let registry = Registry::builder().without_env().build();
    /// // Unregistered names are not looked up as `LLM_*` variables.
    /// assert!(registry.provider("m1").is_err());
    /// ```
    pub fn without_env(mut self) -> Self {
        self.hermetic = true;
        self
    }

    /// The HTTP client every HTTP provider the registry builds sends its
    /// requests through: the built-in `openai`, `anthropic`, `ollama` and
    /// `gemini`, and providers built from `LLM_*` variables by the built-in
    /// schemes (a custom [`crate::SchemeFactory`] receives it through
    /// [`crate::BuildContext::http_client`]). Give it the proxies, TLS roots,
    /// pool and default headers the host needs; the connect and read
    /// timeouts are the client's own, while the per-call deadlines (the DSN's
    /// `timeout` and `idle_timeout`) still apply. Providers registered by
    /// hand keep the client of their own settings (see
    /// [`crate::providers::http::HttpSettings::client`]).
    ///
    /// ```
    /// use majordomo::Registry;
    /// let client = reqwest::Client::builder().build().unwrap();
    /// let registry = Registry::builder().without_env().http_client(client).build();
    /// # let _ = registry;
    /// ```
    #[cfg(feature = "http")]
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(Opaque(client));
        self
    }

    /// Wraps every provider the registry holds in `layer`: the built-in
    /// providers, those given to [`crate::Registry::register_provider`], and
    /// those built from `LLM_*` variables (by the eager scan or on first
    /// use). Layers added first are outermost, as in [`Layers`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use majordomo::{Deadlines, Registry, TimeoutLayer};
    /// let registry = Registry::builder()
    ///     .without_env()
    ///     .layer(TimeoutLayer::new(Deadlines::new().generate(Duration::from_secs(30))))
    ///     .build();
    /// # let _ = registry;
    /// ```
    pub fn layer(mut self, layer: impl ProviderLayer + 'static) -> Self {
        self.layers = self.layers.layer(layer);
        self
    }

    /// Adds a whole stack: as [`RegistryBuilder::layer`] for each of its
    /// layers, in order.
    pub fn layers(self, layers: Layers) -> Self {
        self.layer(layers)
    }

    /// Builds the registry: built-in providers and schemes, then the eager
    /// `LLM_*` scan of the environment source (none for a lookup function or
    /// after [`RegistryBuilder::without_env`]). A malformed variable never
    /// fails this; its error is returned when its name is used.
    pub fn build(self) -> Registry {
        let store = self
            .health_store
            .unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let health = HealthTracker::with_store(self.health_config, self.clock, store);
        let env = match (self.env, self.hermetic) {
            (Some(source), _) => source,
            (None, true) => EnvSource::Fixed(Arc::default()),
            (None, false) => EnvSource::Process,
        };
        let mut chain_config = self.chain_config;
        for apply in self.usage.0 {
            chain_config = apply(chain_config);
        }
        if let Some(observer) = self.observer {
            chain_config.observer = Some(observer);
        }
        let context = BuildContext::new(env.lookup());
        #[cfg(feature = "http")]
        let context = match self.http_client {
            Some(client) => context.with_http_client(client.0),
            None => context,
        };
        let registry = Registry::assemble(health, Arc::new(chain_config), context, self.layers);
        if !self.hermetic {
            registry.load_vars(env.llm_vars());
        }
        registry
    }
}
