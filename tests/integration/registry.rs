//! Integration tests: the registry — built-ins, `LLM_*` env DSNs (eager, lazy,
//! deferred errors), concurrent first use, registration and diagnostics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::call::{generate_error, generated};
use crate::support::registry::registry_with_env;
use majordomo::health::{Clock, FakeClock};
use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{
    ChainConfig, Dsn, DsnError, DsnErrorKind, ErrorClass, ErrorKind, Provider, Registry, Request,
    Result, SpecError, SpecErrorKind,
};

/// A scheme factory that counts its builds and records what it was given.
#[derive(Clone, Default)]
struct Counting {
    builds: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    /// Yields this many times inside the factory, to hold a build open long
    /// enough that racing first uses would overlap (no sleeping).
    linger: usize,
}

impl Counting {
    fn factory(&self) -> impl Fn(&str, &Dsn) -> Result<Arc<dyn Provider>> + Send + Sync + 'static {
        let this = self.clone();
        move |name: &str, dsn: &Dsn| {
            this.builds.fetch_add(1, Ordering::SeqCst);
            for _ in 0..this.linger {
                std::thread::yield_now();
            }
            this.seen
                .lock()
                .unwrap()
                .push((name.to_owned(), dsn.base_url()));
            Ok(Arc::new(FakeProvider::new(name)) as Arc<dyn Provider>)
        }
    }

    fn builds(&self) -> usize {
        self.builds.load(Ordering::SeqCst)
    }
}

#[test]
fn new_registers_the_built_in_providers_and_schemes() {
    let registry = registry_with_env(std::iter::empty::<(String, String)>());
    assert_eq!(
        registry.providers(),
        ["anthropic", "gemini", "ollama", "openai"]
    );
    assert_eq!(
        registry.schemes(),
        [
            "anthropic",
            "azure",
            "foreman",
            "gemini",
            "ollama",
            "openai"
        ]
    );
    assert!(registry.aliases().is_empty());
    assert!(registry.env_errors().is_empty());
}

#[tokio::test]
async fn built_in_providers_resolve_and_fail_calls_with_a_clear_permanent_error() {
    let registry = registry_with_env(std::iter::empty::<(String, String)>());
    // No keys anywhere: construction and parsing still succeed.
    let chain = registry.parse("gpt-4o").unwrap();
    let err = generate_error(&chain, Request::new().user("hi")).await;
    assert_eq!(err.class(), ErrorClass::NotConfigured);
    assert_eq!(err.attempts()[0].target.to_string(), "openai/gpt-4o");
    if cfg!(feature = "openai") {
        // The missing key is not configured: the chain moved on, ran out, and
        // names the variable to set.
        assert_eq!(err.kind(), ErrorKind::Exhausted, "{err:?}");
        assert_eq!(err.missing_variable(), Some("OPENAI_API_KEY"));
        assert!(err.message().contains("set OPENAI_API_KEY"), "{err}");
        assert!(err.to_string().contains("credential"), "{err}");
    } else {
        assert!(err.to_string().contains("not compiled in"), "{err}");
    }
}

#[tokio::test]
async fn eager_scan_loads_llm_vars_as_providers() {
    let registry = registry_with_env([
        ("LLM_M1", "foreman://token@host"),
        ("LLM_MY_PROV", "openai://k@example.com"),
        ("OPENAI_API_KEY", "not-a-dsn-and-not-ours"),
        ("LLM_lower", "not scanned: not the LLM_<UPPER> form"),
        ("LLM_EMPTY", ""),
    ]);
    let providers = registry.providers();
    assert!(providers.contains(&"m1".to_owned()), "{providers:?}");
    assert!(providers.contains(&"my-prov".to_owned()), "{providers:?}");
    assert!(!providers.iter().any(|p| p == "lower" || p == "empty"));
    assert!(
        registry.env_errors().is_empty(),
        "{:?}",
        registry.env_errors()
    );
    assert_eq!(registry.provider("m1").unwrap().name(), "m1");

    let chain = registry.parse("m1/qwen2.5:72b").unwrap();
    assert_eq!(chain.to_string(), "m1/qwen2.5:72b");
}

#[test]
fn lazy_resolution_reads_llm_name_once_and_caches() {
    let lookups: Arc<Mutex<Vec<String>>> = Arc::default();
    let env: HashMap<&str, &str> = [
        ("LLM_M5", "counting://m5-host"),
        ("LLM_MY_PROV", "counting+http://my-host:8080/v1"),
    ]
    .into();
    let seen = Arc::clone(&lookups);
    let registry = Registry::builder()
        .env_lookup(move |key| {
            seen.lock().unwrap().push(key.to_owned());
            env.get(key).map(|v| (*v).to_owned())
        })
        .build();
    let counting = Counting::default();
    registry
        .register_scheme("counting", counting.factory())
        .unwrap();

    assert_eq!(registry.provider("m5").unwrap().name(), "m5");
    assert_eq!(
        registry.parse("my-prov/x").unwrap().to_string(),
        "my-prov/x"
    );
    assert_eq!(
        *counting.seen.lock().unwrap(),
        [
            ("m5".to_owned(), "https://m5-host".to_owned()),
            ("my-prov".to_owned(), "http://my-host:8080/v1".to_owned())
        ]
    );
    let m5_reads = |l: &[String]| l.iter().filter(|k| *k == "LLM_M5").count();
    assert_eq!(m5_reads(&lookups.lock().unwrap()), 1);
    assert!(lookups.lock().unwrap().contains(&"LLM_MY_PROV".to_owned()));

    // Cached: no second read, no second build.
    registry.parse("m5/a,m5/b,my-prov/c").unwrap();
    assert_eq!(m5_reads(&lookups.lock().unwrap()), 1);
    assert_eq!(counting.builds(), 2);
    assert!(registry.providers().contains(&"m5".to_owned()));
}

#[test]
fn without_env_skips_the_scan_but_still_resolves_lazily() {
    let registry = Registry::builder()
        .env_vars([("LLM_LATE", "openai://k@late.example"), ("LLM_BAD", "nope")])
        .without_env()
        .build();
    assert!(!registry.providers().contains(&"late".to_owned()));
    assert!(
        registry.env_errors().is_empty(),
        "no scan, no remembered errors"
    );
    assert_eq!(registry.provider("late").unwrap().name(), "late");
    assert!(registry.providers().contains(&"late".to_owned()));
    // A lazily read malformed variable fails when used, naming it.
    let err = registry.provider("bad").unwrap_err();
    assert!(err.to_string().contains("LLM_BAD"), "{err}");
}

#[test]
fn a_malformed_variable_fails_only_when_its_name_is_used() {
    let registry = registry_with_env([
        ("LLM_BAD", "foreman://token@host:notaport"),
        ("LLM_GOOD", "foreman://token@host"),
    ]);
    let deferred = registry.env_errors();
    assert_eq!(deferred.len(), 1);
    assert_eq!(deferred[0].0, "bad");

    assert!(registry.parse("good/x,gpt-4o").is_ok());
    let err = registry.parse("gpt-4o,bad/x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(err.class(), ErrorClass::Permanent);
    let dsn_err = err.source_as::<DsnError>().expect("DsnError source");
    assert_eq!(dsn_err.kind(), DsnErrorKind::BadPort);
    assert_eq!(dsn_err.variable(), "LLM_BAD");
    assert!(err.to_string().contains("LLM_BAD"), "{err}");
    assert!(!err.to_string().contains("token"), "{err}");
    // The same error every time, also through provider().
    assert_eq!(
        registry.provider("bad").unwrap_err().to_string(),
        err.to_string()
    );

    // Registering a provider under that name replaces the remembered error.
    registry.register_provider(FakeProvider::new("bad"));
    assert!(registry.parse("bad/x").is_ok());
    assert!(registry.env_errors().is_empty());
}

#[test]
fn a_variable_for_a_built_in_name_replaces_the_built_in() {
    let registry = registry_with_env([("LLM_OPENAI", "openai:/missing-slash")]);
    let err = registry.parse("gpt-4o").unwrap_err();
    assert!(err.to_string().contains("LLM_OPENAI"), "{err}");
    assert!(registry.parse("claude-haiku-4-5").is_ok());
}

#[test]
fn unknown_providers_name_the_variable_checked() {
    let registry = registry_with_env(std::iter::empty::<(String, String)>());
    let err = registry.provider("my-prov").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(err.provider(), Some("my-prov"));
    assert!(err.to_string().contains("LLM_MY_PROV"), "{err}");

    let err = registry.parse("gpt-4o, m5/llama").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Spec);
    let spec_err = err.source_as::<SpecError>().unwrap();
    assert_eq!(spec_err.kind(), SpecErrorKind::UnknownProvider);
    assert_eq!(spec_err.position(), 8);
    assert!(err.to_string().contains("LLM_M5"), "{err}");
}

#[test]
fn a_scheme_registered_after_the_scan_is_used_for_variables_the_scan_could_not_build() {
    let registry = registry_with_env([("LLM_CUSTOM", "mine://SeKrEt@box:9")]);
    let before = registry.parse("custom/x").unwrap_err();
    assert_eq!(
        before.source_as::<DsnError>().map(DsnError::kind),
        Some(DsnErrorKind::UnknownScheme)
    );
    assert!(!before.to_string().contains("SeKrEt"), "{before}");

    let counting = Counting::default();
    registry
        .register_scheme("mine", counting.factory())
        .unwrap();
    assert_eq!(registry.parse("custom/x").unwrap().to_string(), "custom/x");
    assert_eq!(counting.builds(), 1);
    assert!(registry.schemes().contains(&"mine".to_owned()));

    for bad in ["", "Mine", "9lives", "a b", "a+http"] {
        assert!(
            registry.register_scheme(bad, counting.factory()).is_err(),
            "{bad:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_uses_build_one_provider() {
    let registry = Registry::builder()
        .env_vars([("LLM_SHARED", "counting://shared-host")])
        .without_env()
        .build();
    let counting = Counting {
        linger: 20_000,
        ..Counting::default()
    };
    registry
        .register_scheme("counting", counting.factory())
        .unwrap();

    let start = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let registry = registry.clone();
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                if i % 2 == 0 {
                    registry.provider("shared").unwrap()
                } else {
                    // Through parse too: the same resolution path.
                    registry.parse("shared/m").unwrap();
                    registry.provider("shared").unwrap()
                }
            })
        })
        .collect();
    let mut providers = Vec::new();
    for task in tasks {
        providers.push(task.await.unwrap());
    }
    assert_eq!(counting.builds(), 1, "the factory ran more than once");
    let first = &providers[0];
    assert!(providers.iter().all(|p| Arc::ptr_eq(p, first)));
}

#[tokio::test]
async fn clones_share_state_and_chains_share_health_and_settings() {
    let clock = FakeClock::new();
    let registry = Registry::builder()
        .clock(clock.clone())
        .chain_config(ChainConfig::default().transient_retries(3))
        .env_vars(std::iter::empty::<(String, String)>())
        .build();
    let clone = registry.clone();
    let fake = FakeProvider::new("fake");
    fake.push("a", Outcome::text("from a"));
    clone.register_provider(fake.clone());
    clone.register_alias("mine", "fake/a").unwrap();

    let chain = registry.parse("mine").unwrap();
    assert_eq!(chain.config().transient_retries, 3);
    assert_eq!(
        generated(&chain, Request::new().user("hi")).await.text(),
        "from a"
    );
    assert_eq!(fake.calls("a"), 1);

    clock.advance(Duration::from_secs(90));
    assert_eq!(chain.health().now(), clock.now());
    assert_eq!(registry.health().now(), clock.now());
}

#[test]
fn a_shared_provider_is_returned_as_registered() {
    let registry = Registry::builder().without_env().build();
    let provider: Arc<dyn Provider> = Arc::new(FakeProvider::new("mine"));
    registry.register_shared_provider(Arc::clone(&provider));
    assert!(Arc::ptr_eq(&registry.provider("mine").unwrap(), &provider));
    let debug = format!("{registry:?}");
    assert!(debug.contains("\"mine\""), "{debug}");
}
