//! [`Registry`]: providers, aliases, DSN schemes, health and chain settings,
//! and [`Registry::parse`], the front door (design §4).

mod builder;
mod env;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use builder::RegistryBuilder;

use crate::dsn::{Dsn, DsnError, DsnErrorKind};
use crate::health::HealthTracker;
use crate::scheme::{BuildContext, SchemeFactory};
use crate::spec::{self, Element, SpecError, SpecErrorKind, SpecTarget};
use crate::sync::LockUnpoisoned as _;
use crate::sync::RwLockUnpoisoned as _;
use crate::{Chain, ChainConfig, ChainTarget, Error, Layers, Provider, Result};

/// Owns providers, aliases, DSN scheme factories, the health tracker and the
/// chain settings, and turns specs into chains.
///
/// Cheap to clone: clones share state. Safe to use from many tasks at once.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> majordomo::Result<()> {
/// use majordomo::{Model, Registry, Request};
/// use majordomo::providers::fake::{FakeProvider, Outcome};
///
/// let registry = Registry::builder().without_env().build();
/// let fake = FakeProvider::new("fake");
/// fake.push("b", Outcome::text("hi from b"));
/// registry.register_provider(fake.clone());
/// registry.register_alias("fast", "fake/a#low,fake/b")?;
///
/// let chain = registry.parse("fast#high, gpt-4o")?;
/// assert_eq!(chain.to_string(), "fake/a#low,fake/b#high,openai/gpt-4o");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    state: RwLock<State>,
    /// One lock per name being built from its variable, so concurrent first
    /// uses build it once.
    building: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    health: HealthTracker,
    chain: Arc<ChainConfig>,
    /// The environment source and the host's HTTP client, for built-ins and
    /// `LLM_*` providers.
    context: BuildContext,
    /// Wraps every provider the registry holds (`RegistryBuilder::layer`).
    layers: Layers,
}

#[derive(Default)]
struct State {
    providers: HashMap<String, Arc<dyn Provider>>,
    aliases: HashMap<String, Alias>,
    schemes: HashMap<String, Arc<dyn SchemeFactory>>,
    /// `LLM_*` variables that failed the eager scan, by provider name; returned
    /// when (and only when) the name is used.
    env_errors: HashMap<String, Error>,
}

struct Alias {
    spec: String,
    elements: Vec<Element>,
}

/// Why a provider name did not resolve.
enum Unresolved {
    /// Neither registered nor defined by its variable.
    Unknown { variable: String },
    /// Defined, but its DSN or factory failed.
    Failed(Error),
}

impl Unresolved {
    fn message(name: &str, variable: &str) -> String {
        format!("unknown provider {name:?}: not registered, and {variable} is not set")
    }

    fn into_error(self, name: &str) -> Error {
        match self {
            Unresolved::Unknown { variable } => {
                Error::config(Self::message(name, &variable)).with_provider(name)
            }
            Unresolved::Failed(e) => e,
        }
    }

    fn into_spec_error(self, name: &str, position: usize) -> Error {
        match self {
            Unresolved::Unknown { variable } => SpecError::new(
                SpecErrorKind::UnknownProvider,
                position,
                Self::message(name, &variable),
            )
            .into(),
            Unresolved::Failed(e) => e,
        }
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    /// The built-in providers and schemes, then every `LLM_*` DSN in the
    /// process environment. Never fails: a malformed variable's error is
    /// returned when its provider name is used.
    pub fn new() -> Self {
        RegistryBuilder::default().build()
    }

    /// A builder for clock, health, chain settings and environment.
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    fn assemble(
        health: HealthTracker,
        chain: Arc<ChainConfig>,
        context: BuildContext,
        layers: Layers,
    ) -> Self {
        let mut state = State::default();
        for provider in crate::providers::builtin::providers(&context) {
            state
                .providers
                .insert(provider.name().to_owned(), layers.wrap(provider));
        }
        for (scheme, factory) in crate::providers::builtin::schemes() {
            state.schemes.insert(scheme.to_owned(), factory);
        }
        Registry {
            inner: Arc::new(Inner {
                state: RwLock::new(state),
                building: Mutex::new(HashMap::new()),
                health,
                chain,
                context,
                layers,
            }),
        }
    }

    /// The eager scan: builds every `LLM_*` provider now. A variable defining
    /// a built-in name replaces the built-in; a failure removes it, so the
    /// error is what using the name returns.
    fn load_vars(&self, vars: Vec<(String, String)>) {
        for (variable, value) in vars {
            let Some(name) = env::provider_for_variable(&variable) else {
                continue;
            };
            let built = self.build_from_dsn(&name, &variable, &value);
            let mut state = self.write();
            match built {
                Ok(provider) => {
                    state.env_errors.remove(&name);
                    state.providers.insert(name, provider);
                }
                Err(error) => {
                    state.providers.remove(&name);
                    state.env_errors.insert(name, error);
                }
            }
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // Nothing panics while holding the lock, and every write leaves the
        // maps consistent, so a poisoned lock is still usable.
        self.inner.state.read_unpoisoned()
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write_unpoisoned()
    }

    // ===== registration =====

    /// Adds `provider` under its [`Provider::name`], replacing any provider or
    /// remembered `LLM_*` error of that name, and returns the provider it
    /// replaced (a built-in, or one registered earlier), if any.
    pub fn register_provider(
        &self,
        provider: impl Provider + 'static,
    ) -> Option<Arc<dyn Provider>> {
        self.register_shared_provider(Arc::new(provider))
    }

    /// [`Registry::register_provider`] for a provider already in an `Arc`, so
    /// [`Registry::provider`] returns that same `Arc` (when the registry has
    /// no layers; with [`RegistryBuilder::layer`], it returns the layered one).
    pub fn register_shared_provider(
        &self,
        provider: Arc<dyn Provider>,
    ) -> Option<Arc<dyn Provider>> {
        let name = provider.name().to_owned();
        let provider = self.inner.layers.wrap(provider);
        let mut state = self.write();
        state.env_errors.remove(&name);
        let replaced = state.providers.insert(name, provider);
        if let Some(old) = &replaced {
            tracing::debug!(
                provider = old.name(),
                "register_provider replaced a provider of the same name"
            );
        }
        replaced
    }

    /// Maps the bare `name` to `spec`, which may name other aliases; they are
    /// resolved when a spec using `name` is parsed. Replaces an alias of the
    /// same name.
    ///
    /// # Errors
    /// An [`crate::ErrorKind::Spec`] error when `name` is not a bare name (no
    /// `/`, `,`, `#` or whitespace) or `spec` does not parse; its source is the
    /// [`SpecError`], positioned in `name` or `spec` respectively.
    pub fn register_alias(&self, name: &str, spec: &str) -> Result<()> {
        spec::validate_alias_name(name)?;
        let elements = spec::parse(spec).map_err(|e| {
            Error::new(
                crate::ErrorKind::Spec,
                format!("alias {name:?}: invalid spec: {e}"),
            )
            .with_source(e)
        })?;
        self.write().aliases.insert(
            name.to_owned(),
            Alias {
                spec: spec.to_owned(),
                elements,
            },
        );
        Ok(())
    }

    /// Adds `factory` for DSNs of `scheme` (`LLM_X=scheme://…`), replacing a
    /// factory of that name, built-ins included. Variables that failed the
    /// eager scan for an unknown scheme are read again when next used.
    ///
    /// # Errors
    /// A configuration error when `scheme` is not a lower-case name of
    /// letters, digits, `-` and `.` starting with a letter, as DSNs require.
    pub fn register_scheme(
        &self,
        scheme: &str,
        factory: impl SchemeFactory + 'static,
    ) -> Result<()> {
        if !crate::dsn::is_valid_scheme(scheme) {
            return Err(Error::config(format!(
                "invalid scheme name {scheme:?}: use lower-case letters, digits, '-' and '.', starting with a letter"
            )));
        }
        let mut state = self.write();
        state.schemes.insert(scheme.to_owned(), Arc::new(factory));
        // A variable seen by the eager scan before its scheme was registered
        // is read again on first use instead of failing with "unknown scheme".
        state.env_errors.retain(|_, e| {
            e.source_as::<DsnError>().map(DsnError::kind) != Some(DsnErrorKind::UnknownScheme)
        });
        Ok(())
    }

    // ===== lookup =====

    /// The provider called `name`: registered, or built from `LLM_<NAME>`
    /// (upper-cased, `-` → `_`) on first use and cached.
    ///
    /// # Errors
    /// A configuration error naming the variable checked when the name is
    /// unknown; the DSN's error (source [`DsnError`]) or the factory's when
    /// the variable is malformed.
    pub fn provider(&self, name: &str) -> Result<Arc<dyn Provider>> {
        self.resolve(name).map_err(|u| u.into_error(name))
    }

    fn resolve(&self, name: &str) -> std::result::Result<Arc<dyn Provider>, Unresolved> {
        if let Some(found) = self.registered(name) {
            return found.map_err(Unresolved::Failed);
        }
        let variable = env::variable_for(name);
        let slot = {
            let mut building = self.inner.building.lock_unpoisoned();
            Arc::clone(building.entry(name.to_owned()).or_default())
        };
        let result = {
            let _only_builder = slot.lock_unpoisoned();
            // Whoever held the slot before us may have built it already.
            match self.registered(name) {
                Some(found) => found.map_err(Unresolved::Failed),
                None => self.build_lazily(name, variable),
            }
        };
        self.inner.building.lock_unpoisoned().remove(name);
        result
    }

    /// A registered provider, or the remembered error of its variable.
    fn registered(&self, name: &str) -> Option<Result<Arc<dyn Provider>>> {
        let state = self.read();
        if let Some(error) = state.env_errors.get(name) {
            return Some(Err(error.clone()));
        }
        state.providers.get(name).cloned().map(Ok)
    }

    fn build_lazily(
        &self,
        name: &str,
        variable: String,
    ) -> std::result::Result<Arc<dyn Provider>, Unresolved> {
        let value = match self.inner.context.var(&variable) {
            Some(value) if !value.is_empty() => value,
            _ => return Err(Unresolved::Unknown { variable }),
        };
        let provider = self
            .build_from_dsn(name, &variable, &value)
            .map_err(Unresolved::Failed)?;
        let mut state = self.write();
        Ok(Arc::clone(
            state.providers.entry(name.to_owned()).or_insert(provider),
        ))
    }

    fn build_from_dsn(&self, name: &str, variable: &str, value: &str) -> Result<Arc<dyn Provider>> {
        let dsn = Dsn::from_env(variable, value)?;
        let factory = self.read().schemes.get(dsn.scheme()).cloned();
        let Some(factory) = factory else {
            let mut known = self.schemes();
            known.sort();
            return Err(DsnError::new(
                DsnErrorKind::UnknownScheme,
                variable,
                format!(
                    "unknown scheme {:?}; registered schemes: {}",
                    dsn.scheme(),
                    known.join(", ")
                ),
            )
            .into());
        };
        factory
            .build_with(name, &dsn, &self.inner.context)
            .map(|provider| self.inner.layers.wrap(provider))
            .map_err(|e| {
                if e.provider().is_some() {
                    e
                } else {
                    e.with_provider(name)
                }
            })
    }

    /// The health tracker every chain from this registry reports to.
    pub fn health(&self) -> &HealthTracker {
        &self.inner.health
    }

    /// The chain settings.
    pub fn chain_config(&self) -> &ChainConfig {
        &self.inner.chain
    }

    // ===== diagnostics =====

    /// Registered provider names (built-in, explicit and from `LLM_*`), sorted.
    pub fn providers(&self) -> Vec<String> {
        sorted(self.read().providers.keys().cloned(), Ord::cmp)
    }

    /// Registered aliases as (name, spec), sorted by name.
    pub fn aliases(&self) -> Vec<(String, String)> {
        let inner = self.read();
        sorted(
            inner
                .aliases
                .iter()
                .map(|(name, a)| (name.clone(), a.spec.clone())),
            Ord::cmp,
        )
    }

    /// Registered DSN schemes, sorted.
    pub fn schemes(&self) -> Vec<String> {
        sorted(self.read().schemes.keys().cloned(), Ord::cmp)
    }

    /// Provider names whose `LLM_*` variable failed the eager scan, with the
    /// error using them returns, sorted by name.
    pub fn env_errors(&self) -> Vec<(String, Error)> {
        let inner = self.read();
        let errors = inner.env_errors.iter();
        sorted(errors.map(|(name, e)| (name.clone(), e.clone())), |a, b| {
            a.0.cmp(&b.0)
        })
    }

    // ===== parsing =====

    /// Parses `spec` into a failover chain (design §5): aliases expanded,
    /// bare model families resolved, duplicates removed, every provider
    /// resolved and every model built. A one-element spec is a chain too.
    ///
    /// # Errors
    /// An [`crate::ErrorKind::Spec`] error with a [`SpecError`] source for
    /// grammar mistakes, unknown names, alias cycles and unknown providers
    /// (naming the `LLM_*` variable checked); the remembered configuration
    /// error of a malformed `LLM_*` variable; or a provider's error building
    /// a model.
    pub fn parse(&self, spec: &str) -> Result<Chain> {
        let mut elements = Vec::new();
        for planned in self.plan(spec)? {
            let mut members = Vec::with_capacity(planned.len());
            for (target, weight, provider) in planned {
                let model = provider
                    .model(target.target.model())
                    .map_err(|e| e.or_target(&target.target))?;
                members.push(
                    ChainTarget::new(target.target, target.reasoning, model).with_weight(weight),
                );
            }
            elements.push(members);
        }
        Ok(Chain::grouped(
            elements,
            self.inner.health.clone(),
            Arc::clone(&self.inner.chain),
        )?
        .with_spec(spec.trim()))
    }

    /// The expanded, de-duplicated targets of `spec`, with every provider
    /// resolved but no model built: what [`Registry::parse`] would chain,
    /// with the members of groups in order.
    ///
    /// # Errors
    /// As [`Registry::parse`], except for model construction errors.
    pub fn parse_targets(&self, spec: &str) -> Result<Vec<SpecTarget>> {
        Ok(self
            .plan(spec)?
            .into_iter()
            .flatten()
            .map(|(t, _, _)| t)
            .collect())
    }

    /// Each chain position of `spec`: its members with weights and providers.
    #[allow(clippy::type_complexity)]
    fn plan(&self, spec: &str) -> Result<Vec<Vec<(SpecTarget, u32, Arc<dyn Provider>)>>> {
        let elements = spec::parse(spec)?;
        let expanded = {
            let state = self.read();
            spec::expand_grouped(&elements, |name| {
                state.aliases.get(name).map(|a| a.elements.as_slice())
            })?
        };
        let mut planned = Vec::with_capacity(expanded.len());
        for element in expanded {
            let mut members = Vec::with_capacity(element.members.len());
            for (target, weight) in element.members {
                let name = target.target.provider();
                let provider = self
                    .resolve(name)
                    .map_err(|u| u.into_spec_error(name, element.position))?;
                members.push((target, weight, provider));
            }
            planned.push(members);
        }
        Ok(planned)
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("providers", &self.providers())
            .field("aliases", &self.aliases())
            .field("schemes", &self.schemes())
            .field(
                "env_errors",
                &self
                    .env_errors()
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect::<Vec<_>>(),
            )
            .field("chain", &self.inner.chain)
            .finish_non_exhaustive()
    }
}

/// `items` in a `Vec`, sorted by `order`: the diagnostics list what maps hold
/// in a stable order.
fn sorted<T>(
    items: impl IntoIterator<Item = T>,
    order: impl FnMut(&T, &T) -> std::cmp::Ordering,
) -> Vec<T> {
    let mut items: Vec<T> = items.into_iter().collect();
    items.sort_by(order);
    items
}
