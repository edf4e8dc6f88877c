//! Helpers for the registry, spec and DSN tests.

#![allow(dead_code)] // each feature set uses a different subset

use majordomo::health::{FakeClock, HealthConfig};
use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{ChainConfig, Model as _, Registry, Request, Response};

/// A registry with no environment at all, plus fake providers named
/// `openrouter`, `vertex` and `fake` for the verbatim-id cases.
pub fn test_registry() -> Registry {
    let registry = Registry::builder()
        .env_vars(std::iter::empty::<(String, String)>())
        .build();
    for name in ["openrouter", "vertex", "fake"] {
        registry.register_provider(FakeProvider::new(name));
    }
    registry
}

/// [`test_registry`] with `aliases` (name, spec) registered.
pub fn with_aliases(aliases: &[(&str, &str)]) -> Registry {
    let registry = test_registry();
    for (name, spec) in aliases {
        registry.register_alias(name, spec).unwrap();
    }
    registry
}

/// A fake provider `fake` whose model `m` answers `outcome` once (then
/// what is pushed or set next).
pub fn scripted_fake(outcome: Outcome) -> FakeProvider {
    let fake = FakeProvider::new("fake");
    fake.push("m", outcome);
    fake
}

/// A registry with no environment, on `clock`, with `health` and `chain`
/// configs, serving a fake provider `fake` (returned to script it).
pub fn fake_registry(
    clock: &FakeClock,
    health: HealthConfig,
    chain: ChainConfig,
) -> (Registry, FakeProvider) {
    let fake = FakeProvider::new("fake");
    let registry = Registry::builder()
        .without_env()
        .clock(clock.clone())
        .health_config(health)
        .chain_config(chain)
        .build();
    registry.register_provider(fake.clone());
    (registry, fake)
}

/// A registry whose environment is `vars`.
pub fn registry_with_env<K: Into<String>, V: Into<String>>(
    vars: impl IntoIterator<Item = (K, V)>,
) -> Registry {
    Registry::builder().env_vars(vars).build()
}

/// What `spec` (a target or chain) answers to "hi", which must succeed.
pub async fn ask(registry: &Registry, spec: &str) -> Response {
    registry
        .parse(spec)
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
        .generate(Request::new().user("hi"))
        .await
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
}
