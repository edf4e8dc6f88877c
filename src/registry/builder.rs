//! [`RegistryBuilder`]: the registry's clock, health, chain settings and environment.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::Registry;
use super::env::{EnvLookup, EnvSource};
use crate::ChainConfig;
use crate::health::{Clock, HealthConfig, HealthStore, HealthTracker, MemoryStore, SystemClock};

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
#[must_use = "a builder does nothing until .build()"]
pub struct RegistryBuilder {
    clock: Arc<dyn Clock>,
    health_config: HealthConfig,
    health_store: Option<Arc<dyn HealthStore>>,
    chain_config: ChainConfig,
    env: EnvSource,
    eager_env: bool,
}

impl Default for RegistryBuilder {
    fn default() -> Self {
        RegistryBuilder {
            clock: Arc::new(SystemClock),
            health_config: HealthConfig::default(),
            health_store: None,
            chain_config: ChainConfig::default(),
            env: EnvSource::Process,
            eager_env: true,
        }
    }
}

impl RegistryBuilder {
    /// The clock health reads (default: the system clock). Tests pass a
    /// [`crate::health::FakeClock`] and move it by hand.
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Health tracker settings.
    pub fn health_config(mut self, config: HealthConfig) -> Self {
        self.health_config = config;
        self
    }

    /// Where health state is kept (default: in memory).
    pub fn health_store(mut self, store: impl HealthStore + 'static) -> Self {
        self.health_store = Some(Arc::new(store));
        self
    }

    /// Chain settings shared by every chain the registry parses.
    pub fn chain_config(mut self, config: ChainConfig) -> Self {
        self.chain_config = config;
        self
    }

    /// Installs the failover observer on the chain settings (see
    /// [`ChainConfig::observer`]): it receives a [`crate::FailoverEvent`] for
    /// every failover step of every chain the registry parses. Set it after
    /// [`RegistryBuilder::chain_config`], which replaces the whole settings.
    pub fn observer(mut self, observer: impl crate::FailoverObserver + 'static) -> Self {
        self.chain_config = self.chain_config.observer(observer);
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
        self.env = EnvSource::Lookup(lookup);
        self
    }

    /// Uses exactly these variables instead of the process environment, for
    /// both the eager `LLM_*` scan and lazy lookups.
    pub fn env_vars<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        let map: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.env = EnvSource::Fixed(Arc::new(map));
        self
    }

    /// No eager `LLM_*` scan at construction. Lazy lookup of an unregistered
    /// provider name still reads its variable.
    pub fn without_env(mut self) -> Self {
        self.eager_env = false;
        self
    }

    /// Builds the registry: built-in providers and schemes, then (unless
    /// [`RegistryBuilder::without_env`]) the eager `LLM_*` scan. A malformed
    /// variable never fails this; its error is returned when its name is used.
    pub fn build(self) -> Registry {
        let store = self
            .health_store
            .unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let health = HealthTracker::with_store(self.health_config, self.clock, store);
        let eager = if self.eager_env {
            self.env.llm_vars()
        } else {
            Vec::new()
        };
        let registry = Registry::assemble(health, Arc::new(self.chain_config), self.env.lookup());
        registry.load_vars(eager);
        registry
    }
}

impl fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryBuilder")
            .field("clock", &self.clock)
            .field("health_config", &self.health_config)
            .field("chain_config", &self.chain_config)
            .field("env", &self.env)
            .field("eager_env", &self.eager_env)
            .finish_non_exhaustive()
    }
}
