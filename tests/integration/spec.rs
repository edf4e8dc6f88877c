//! Integration tests: the spec grammar through `Registry::parse` (design §5).

use majordomo::spec::{self, ElementTarget};
use majordomo::{ErrorKind, ReasoningLevel, Registry, SpecError, SpecErrorKind};
use proptest::prelude::*;

use crate::support::registry::{test_registry, with_aliases};

const ALIASES: &[(&str, &str)] = &[
    ("fast", "openai/gpt-4o-mini,anthropic/claude-haiku-4-5"),
    ("smart", "fast, openai/o3"),
    (
        "lowfast",
        "openai/gpt-4o-mini#low,anthropic/claude-haiku-4-5",
    ),
    ("outer", "inner#medium"),
    ("inner", "openai/x,openai/y#low"),
    ("cyc-a", "cyc-b"),
    ("cyc-b", "openai/ok,cyc-c"),
    ("cyc-c", "cyc-a"),
    ("self", "self"),
    ("broken", "openai/fine,nope"),
    ("gpt-4o", "anthropic/claude-sonnet-4-5"),
];

fn registry() -> Registry {
    with_aliases(ALIASES)
}

enum Want {
    /// The chain's canonical spec.
    Chain(&'static str),
    /// The error kind, its byte position, and a fragment of its message.
    Error(SpecErrorKind, usize, &'static str),
}
use Want::{Chain, Error};
use majordomo::SpecErrorKind as K;

// One row a case: the table reads as the grammar.
#[rustfmt::skip]
const CASES: &[(&str, Want)] = &[
    // Verbatim model ids: everything after the first '/' is the id.
    ("ollama/llama3.1:8b", Chain("ollama/llama3.1:8b")),
    ("openrouter/meta-llama/llama-3-70b", Chain("openrouter/meta-llama/llama-3-70b")),
    ("vertex/claude-3@20240229", Chain("vertex/claude-3@20240229")),
    ("openrouter/a.b/c:d@e#max", Chain("openrouter/a.b/c:d@e#max")),
    // Whitespace around elements is ignored.
    ("  openai/gpt-4o ,\tanthropic/claude-haiku-4-5\n", Chain("openai/gpt-4o,anthropic/claude-haiku-4-5")),
    // Empty specs and elements, with positions.
    ("", Error(K::EmptySpec, 0, "empty spec")),
    (" \t ", Error(K::EmptySpec, 0, "empty spec")),
    ("openai/gpt-4o,,gpt-4o", Error(K::EmptyElement, 14, "empty element")),
    ("openai/gpt-4o,", Error(K::EmptyElement, 14, "empty element")),
    (",openai/gpt-4o", Error(K::EmptyElement, 0, "empty element")),
    ("openai/gpt-4o,  ,x", Error(K::EmptyElement, 16, "empty element")),
    ("#high", Error(K::EmptyElement, 0, "no target")),
    ("/gpt-4o", Error(K::EmptyProvider, 0, "empty provider")),
    ("gpt-4o, openai/", Error(K::EmptyModel, 15, "empty model id")),
    ("openai/gpt 4o", Error(K::InvalidCharacter, 10, "whitespace")),
    // Bare names: model families.
    ("o1", Chain("openai/o1")),
    ("o3-mini", Chain("openai/o3-mini")),
    ("o4-mini#high", Chain("openai/o4-mini#high")),
    ("gpt-4.1-mini", Chain("openai/gpt-4.1-mini")),
    ("claude-sonnet-4-5", Chain("anthropic/claude-sonnet-4-5")),
    ("gemini-2.5-pro#2048", Chain("gemini/gemini-2.5-pro#2048")),
    // Unknown bare names.
    ("llama3", Error(K::UnknownName, 0, "\"llama3\"")),
    ("o1,  mystery", Error(K::UnknownName, 5, "not a known model family")),
    ("broken", Error(K::UnknownName, 0, "\"nope\" (in alias broken)")),
    // Reasoning levels.
    ("openai/o3#4096", Chain("openai/o3#4096")),
    ("openai/o3#off", Chain("openai/o3#off")),
    ("openai/o3#banana", Error(K::BadReasoning, 10, "\"banana\"")),
    ("openai/o3#", Error(K::BadReasoning, 10, "\"\"")),
    ("openai/o3#0", Error(K::BadReasoning, 10, "\"0\"")),
    ("openai/o3#-5", Error(K::BadReasoning, 10, "\"-5\"")),
    ("openai/o3#high#low", Error(K::BadReasoning, 10, "\"high#low\"")),
    ("openai/o3#HIGH", Error(K::BadReasoning, 10, "HIGH")),
    // Aliases, recursively, inline at their position.
    ("fast,gpt-4.1", Chain("openai/gpt-4o-mini,anthropic/claude-haiku-4-5,openai/gpt-4.1")),
    ("openai/first,smart", Chain("openai/first,openai/gpt-4o-mini,anthropic/claude-haiku-4-5,openai/o3")),
    // The trailing-thinking case: the suffix binds to its own element only.
    ("fast,openai/o3#high", Chain("openai/gpt-4o-mini,anthropic/claude-haiku-4-5,openai/o3#high")),
    // An alias's suffix applies to its targets; an inner suffix wins.
    ("fast#high", Chain("openai/gpt-4o-mini#high,anthropic/claude-haiku-4-5#high")),
    ("lowfast#high", Chain("openai/gpt-4o-mini#low,anthropic/claude-haiku-4-5#high")),
    ("outer", Chain("openai/x#medium,openai/y#low")),
    ("outer#high", Chain("openai/x#medium,openai/y#low")),
    // An alias shadows a model family of the same name.
    ("gpt-4o", Chain("anthropic/claude-sonnet-4-5")),
    // Cycles name their path.
    ("cyc-a", Error(
            K::AliasCycle,
            0,
            "alias cycle: cyc-a -> cyc-b -> cyc-c -> cyc-a",
        )),
    ("o1, cyc-c", Error(K::AliasCycle, 4, "cyc-c -> cyc-a -> cyc-b -> cyc-c")),
    ("self", Error(K::AliasCycle, 0, "self -> self")),
    // De-duplication keeps the first occurrence of target + level.
    (
        "openai/gpt-4o-mini,gpt-4o-mini,openai/gpt-4o-mini#high,fast#high,openai/gpt-4o-mini",
        Chain("openai/gpt-4o-mini,openai/gpt-4o-mini#high,anthropic/claude-haiku-4-5#high"),
    ),
    ("fast,fast,anthropic/claude-haiku-4-5", Chain("openai/gpt-4o-mini,anthropic/claude-haiku-4-5")),
    // Unknown providers name the variable checked.
    ("nowhere/model", Error(K::UnknownProvider, 0, "LLM_NOWHERE is not set")),
    ("o1,my-prov/m", Error(K::UnknownProvider, 3, "LLM_MY_PROV")),
];

#[test]
fn grammar_table() {
    let registry = registry();
    for (spec, want) in CASES {
        let got = registry.parse(spec);
        match (want, got) {
            (Chain(canonical), Ok(chain)) => {
                assert_eq!(chain.to_string(), *canonical, "spec {spec:?}");
            }
            (Error(kind, position, fragment), Err(err)) => {
                assert_eq!(err.kind(), ErrorKind::Spec, "spec {spec:?}: {err}");
                let spec_err = err
                    .source_as::<SpecError>()
                    .unwrap_or_else(|| panic!("spec {spec:?}: no SpecError source in {err}"));
                assert_eq!(spec_err.kind(), *kind, "spec {spec:?}: {err}");
                assert_eq!(spec_err.position(), *position, "spec {spec:?}: {err}");
                assert!(
                    err.to_string().contains(fragment),
                    "spec {spec:?}: {err:?} lacks {fragment:?}"
                );
                assert!(
                    err.to_string().contains(&format!("at byte {position}")),
                    "spec {spec:?}: {err}"
                );
            }
            (Chain(canonical), Err(err)) => panic!("spec {spec:?}: want {canonical}, got {err}"),
            (Error(kind, ..), Ok(chain)) => panic!("spec {spec:?}: want {kind:?}, got {chain}"),
        }
    }
}

#[test]
fn a_one_element_spec_is_a_chain_of_one() {
    let chain = registry().parse("ollama/llama3.1:8b#low").unwrap();
    assert_eq!(chain.targets().len(), 1);
    let only = &chain.targets()[0];
    assert_eq!(only.target.provider(), "ollama");
    assert_eq!(only.target.model(), "llama3.1:8b");
    assert_eq!(only.reasoning, Some(ReasoningLevel::Low));
}

#[test]
fn parse_targets_expands_without_building_models() {
    let registry = registry();
    let targets = registry.parse_targets("fast#max, o3").unwrap();
    let shown: Vec<String> = targets.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "openai/gpt-4o-mini#max",
            "anthropic/claude-haiku-4-5#max",
            "openai/o3"
        ]
    );
    assert_eq!(targets[2].reasoning, None);
    let err = registry.parse_targets("nowhere/x").unwrap_err();
    assert!(err.to_string().contains("LLM_NOWHERE"), "{err}");
}

#[test]
fn alias_names_are_validated_and_alias_specs_parsed_on_registration() {
    let registry = test_registry();
    for (name, position) in [
        ("a/b", 1),
        ("a,b", 1),
        ("a#b", 1),
        ("a b", 1),
        ("", 0),
        ("x\n", 1),
    ] {
        let err = registry.register_alias(name, "openai/gpt-4o").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Spec, "{name:?}");
        let spec_err = err.source_as::<SpecError>().unwrap();
        assert_eq!(spec_err.kind(), SpecErrorKind::InvalidAliasName, "{name:?}");
        assert_eq!(spec_err.position(), position, "{name:?}");
    }
    let err = registry
        .register_alias("ok", "openai/gpt-4o,,x")
        .unwrap_err();
    assert!(err.to_string().contains("alias \"ok\""), "{err}");
    assert_eq!(
        err.source_as::<SpecError>()
            .map(|e| (e.kind(), e.position())),
        Some((SpecErrorKind::EmptyElement, 14))
    );
    assert!(registry.aliases().is_empty(), "nothing registered on error");

    // Names inside an alias resolve at parse time, so order does not matter.
    registry.register_alias("first", "second#low").unwrap();
    registry.register_alias("second", "o3").unwrap();
    assert_eq!(
        registry.parse("first").unwrap().to_string(),
        "openai/o3#low"
    );
    // Re-registering replaces.
    registry.register_alias("second", "o1").unwrap();
    assert_eq!(
        registry.parse("first").unwrap().to_string(),
        "openai/o1#low"
    );
    assert_eq!(
        registry.aliases(),
        [
            ("first".to_owned(), "second#low".to_owned()),
            ("second".to_owned(), "o1".to_owned())
        ]
    );
}

#[test]
fn pure_parse_reports_elements_with_positions() {
    let elements = spec::parse(" fast#high ,openai/a/b").unwrap();
    assert_eq!(elements.len(), 2);
    assert_eq!(elements[0].target(), &ElementTarget::Name("fast".into()));
    assert_eq!(elements[0].reasoning(), Some(ReasoningLevel::High));
    assert_eq!(elements[0].position(), 1);
    assert_eq!(elements[1].position(), 12);
    match elements[1].target() {
        ElementTarget::Target(t) => assert_eq!((t.provider(), t.model()), ("openai", "a/b")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn exponential_alias_fan_out_is_an_error_not_a_hang() {
    let registry = test_registry();
    registry.register_alias("l0", "openai/m").unwrap();
    for level in 1..=12 {
        let below = format!("l{}", level - 1);
        let spec = [below.as_str(); 4].join(",");
        registry
            .register_alias(&format!("l{level}"), &spec)
            .unwrap();
    }
    // 4^12 visits without the cap.
    let err = registry.parse("l12").unwrap_err();
    assert_eq!(
        err.source_as::<SpecError>().map(SpecError::kind),
        Some(SpecErrorKind::TooLarge),
        "{err}"
    );
    assert_eq!(registry.parse("l3").unwrap().to_string(), "openai/m");
}

#[test]
fn deep_alias_nesting_is_an_error_not_a_stack_overflow() {
    let registry = test_registry();
    registry.register_alias("d0", "openai/m").unwrap();
    for depth in 1..=100 {
        registry
            .register_alias(&format!("d{depth}"), &format!("d{}", depth - 1))
            .unwrap();
    }
    assert!(registry.parse("d20").is_ok());
    let err = registry.parse("d100").unwrap_err();
    assert_eq!(
        err.source_as::<SpecError>().map(SpecError::kind),
        Some(SpecErrorKind::TooLarge),
        "{err}"
    );
}

// ===== properties =====

fn element() -> impl Strategy<Value = String> {
    let provider = prop::sample::select(vec!["openai", "anthropic", "ollama", "fake", "vertex"]);
    let model = "[a-z0-9][a-z0-9:./@_-]{0,12}";
    let qualified = (provider, model).prop_map(|(p, m)| format!("{p}/{m}"));
    let bare = prop::sample::select(vec![
        "gpt-4o",
        "o1",
        "o3-mini",
        "claude-haiku-4-5",
        "gemini-2.0-flash",
        "fast",
        "smart",
        "lowfast",
        "outer",
    ])
    .prop_map(str::to_owned);
    let reasoning = prop::option::of(prop::sample::select(vec![
        "off", "minimal", "low", "medium", "high", "max", "1", "4096",
    ]));
    (prop_oneof![qualified, bare], reasoning).prop_map(|(t, r)| match r {
        Some(r) => format!("{t}#{r}"),
        None => t,
    })
}

fn valid_spec() -> impl Strategy<Value = String> {
    let padding = prop::sample::select(vec!["", " ", "\t", "  "]);
    prop::collection::vec((padding.clone(), element(), padding), 1..6).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(l, e, r)| format!("{l}{e}{r}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

proptest! {
    #[test]
    fn parse_never_panics(input in "\\PC{0,40}|[a-z/#,: 0-9-]{0,40}") {
        let registry = registry();
        if let Err(err) = registry.parse(&input) {
            // Every failure is typed; grammar failures point inside the input.
            if let Some(spec_err) = err.source_as::<SpecError>() {
                prop_assert!(spec_err.position() <= input.len());
            }
        }
    }

    #[test]
    fn canonical_display_round_trips(spec in valid_spec()) {
        let registry = registry();
        let chain = registry.parse(&spec).unwrap();
        let canonical = chain.to_string();
        let again = registry.parse(&canonical).unwrap();
        prop_assert_eq!(again.to_string(), canonical.clone());
        let pairs = |c: &majordomo::Chain| {
            c.targets().iter().map(|t| (t.target.clone(), t.reasoning)).collect::<Vec<_>>()
        };
        prop_assert_eq!(pairs(&again), pairs(&chain));
        // The canonical form names no alias and carries no whitespace.
        prop_assert!(!canonical.contains(' '));
        let elements = spec::parse(&canonical).unwrap();
        prop_assert!(!elements.iter().any(|e| matches!(e.target(), ElementTarget::Name(_))));
    }
}
