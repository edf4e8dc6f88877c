//! Helpers for the registry, spec and DSN tests.

use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{Model as _, Registry, Request, Response};

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

/// What `spec` (a target or chain) answers to "hi", which must succeed.
pub async fn ask(registry: &Registry, spec: &str) -> Response {
    registry
        .parse(spec)
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
        .generate(Request::new().user("hi"))
        .await
        .unwrap_or_else(|e| panic!("{spec}: {e}"))
}
