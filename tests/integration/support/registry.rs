//! Helpers for the registry, spec and DSN tests.

use majordomo::Registry;
use majordomo::providers::fake::FakeProvider;

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
