//! Integration tests: DSN parsing (`scheme[+http]://[credential@]host[:port][/base-path][?options]`)
//! and how the registry reports bad `LLM_*` DSNs.

use std::error::Error as _;
use std::time::Duration;

use majordomo::{Dsn, DsnError, DsnErrorKind, ErrorKind, Registry};

use crate::support::registry::registry_with_env;

/// A credential distinctive enough that finding it in output is a leak.
const KEY: &str = "SeKrEt-7f3a9";

struct Good {
    dsn: &'static str,
    scheme: &'static str,
    plain_http: bool,
    host: &'static str,
    port: Option<u16>,
    base_path: &'static str,
    base_url: &'static str,
    credential: Option<&'static str>,
}

const GOOD: &[Good] = &[
    Good {
        dsn: "openai://SeKrEt-7f3a9@api.example.com",
        scheme: "openai",
        plain_http: false,
        host: "api.example.com",
        port: None,
        base_path: "",
        base_url: "https://api.example.com",
        credential: Some(KEY),
    },
    Good {
        dsn: "openai+http://SeKrEt-7f3a9@127.0.0.1:8080/v1",
        scheme: "openai",
        plain_http: true,
        host: "127.0.0.1",
        port: Some(8080),
        base_path: "/v1",
        base_url: "http://127.0.0.1:8080/v1",
        credential: Some(KEY),
    },
    Good {
        dsn: "anthropic://SeKrEt-7f3a9@api.anthropic.com/",
        scheme: "anthropic",
        plain_http: false,
        host: "api.anthropic.com",
        port: None,
        base_path: "",
        base_url: "https://api.anthropic.com",
        credential: Some(KEY),
    },
    Good {
        dsn: "ollama://gpu-box.lan",
        scheme: "ollama",
        plain_http: true,
        host: "gpu-box.lan",
        port: None,
        base_path: "",
        base_url: "http://gpu-box.lan:11434",
        credential: None,
    },
    Good {
        dsn: "ollama+https://ollama.example.com:443/proxy/",
        scheme: "ollama",
        plain_http: false,
        host: "ollama.example.com",
        port: Some(443),
        base_path: "/proxy",
        base_url: "https://ollama.example.com:443/proxy",
        credential: None,
    },
    Good {
        dsn: "gemini://SeKrEt-7f3a9@generativelanguage.googleapis.com/v1beta",
        scheme: "gemini",
        plain_http: false,
        host: "generativelanguage.googleapis.com",
        port: None,
        base_path: "/v1beta",
        base_url: "https://generativelanguage.googleapis.com/v1beta",
        credential: Some(KEY),
    },
    Good {
        dsn: "foreman://SeKrEt-7f3a9@queue.internal:9000/api/v1",
        scheme: "foreman",
        plain_http: false,
        host: "queue.internal",
        port: Some(9000),
        base_path: "/api/v1",
        base_url: "https://queue.internal:9000/api/v1",
        credential: Some(KEY),
    },
    Good {
        // Percent-encoded `@`, `:` and `/` inside the credential.
        dsn: "openai://SeKrEt%40-7f%3A3a%2F9@host",
        scheme: "openai",
        plain_http: false,
        host: "host",
        port: None,
        base_path: "",
        base_url: "https://host",
        credential: Some("SeKrEt@-7f:3a/9"),
    },
    Good {
        dsn: "openai+http://user:SeKrEt-7f3a9@[::1]:11434",
        scheme: "openai",
        plain_http: true,
        host: "[::1]",
        port: Some(11434),
        base_path: "",
        base_url: "http://[::1]:11434",
        credential: Some("user:SeKrEt-7f3a9"),
    },
];

fn assert_no_credential(text: &str, context: &str) {
    assert!(
        !text.contains(KEY),
        "credential leaked in {context}: {text}"
    );
    assert!(
        !text.contains("SeKrEt"),
        "credential fragment leaked in {context}: {text}"
    );
}

#[test]
fn good_dsns_parse_into_their_parts() {
    for case in GOOD {
        let dsn = Dsn::from_env("LLM_X", case.dsn).unwrap_or_else(|e| panic!("{}: {e}", case.dsn));
        assert_eq!(dsn.scheme(), case.scheme, "{}", case.dsn);
        assert_eq!(dsn.plain_http(), case.plain_http, "{}", case.dsn);
        assert_eq!(dsn.host(), case.host, "{}", case.dsn);
        assert_eq!(dsn.port(), case.port, "{}", case.dsn);
        assert_eq!(dsn.base_path(), case.base_path, "{}", case.dsn);
        assert_eq!(dsn.base_url(), case.base_url, "{}", case.dsn);
        assert_eq!(
            dsn.credential().map(|c| c.expose()),
            case.credential,
            "{}",
            case.dsn
        );
        assert_eq!(dsn.variable(), "LLM_X");
        assert_no_credential(&format!("{dsn:?}"), "Debug");
        assert_no_credential(&format!("{dsn:#?}"), "pretty Debug");
        assert_no_credential(&dsn.to_string(), "Display");
    }
}

#[test]
fn display_is_the_dsn_with_the_credential_masked() {
    let dsn = Dsn::parse("openai+http://SeKrEt-7f3a9@h:81/v1?timeout=5s").unwrap();
    assert_eq!(dsn.to_string(), "openai+http://***@h:81/v1?timeout=5s");
    let dsn = Dsn::parse("ollama+https://h").unwrap();
    assert_eq!(dsn.to_string(), "ollama+https://h");
}

#[test]
fn options_are_read_by_name_and_durations_parse() {
    let dsn = Dsn::from_env(
        "LLM_Q",
        "anthropic://k@h?version=2023-06-01&timeout=90s&connect_timeout=500ms&slow=2m&hour=1h&bare=7",
    )
    .unwrap();
    assert_eq!(dsn.option("version"), Some("2023-06-01"));
    assert_eq!(dsn.option("missing"), None);
    assert_eq!(dsn.options().len(), 6);
    let d = |name| dsn.duration_option(name).unwrap();
    assert_eq!(d("timeout"), Some(Duration::from_secs(90)));
    assert_eq!(d("connect_timeout"), Some(Duration::from_millis(500)));
    assert_eq!(d("slow"), Some(Duration::from_secs(120)));
    assert_eq!(d("hour"), Some(Duration::from_secs(3600)));
    assert_eq!(d("bare"), Some(Duration::from_secs(7)));
    assert_eq!(d("missing"), None);

    let err = dsn.duration_option("version").unwrap_err();
    assert_eq!(err.kind(), DsnErrorKind::BadOptionValue);
    assert!(err.to_string().starts_with("LLM_Q: "), "{err}");
    assert!(err.to_string().contains("version"), "{err}");
}

#[test]
fn unknown_options_are_rejected_by_name() {
    let dsn = Dsn::from_env("LLM_Q", "openai://SeKrEt-7f3a9@h?timeout=1s&tmeout=2s").unwrap();
    assert!(dsn.reject_unknown_options(&["timeout", "tmeout"]).is_ok());
    let err = dsn.reject_unknown_options(&["timeout"]).unwrap_err();
    assert_eq!(err.kind(), DsnErrorKind::UnknownOption);
    assert_eq!(err.variable(), "LLM_Q");
    let text = err.to_string();
    assert!(
        text.contains("LLM_Q") && text.contains("\"tmeout\""),
        "{text}"
    );
    assert_no_credential(&text, "error");
}

#[test]
fn bad_dsns_are_typed_errors_naming_the_variable_and_never_the_credential() {
    let cases: &[(&str, DsnErrorKind)] = &[
        ("openai://SeKrEt-7f3a9@host:99999", DsnErrorKind::BadPort),
        ("openai://SeKrEt-7f3a9@host:http", DsnErrorKind::BadPort),
        ("openai://SeKrEt-7f3a9@host:0", DsnErrorKind::BadPort),
        ("openai://SeKrEt-7f3a9@host:-1", DsnErrorKind::BadPort),
        ("SeKrEt-7f3a9@host", DsnErrorKind::Malformed),
        ("openai:/SeKrEt-7f3a9@host", DsnErrorKind::Malformed),
        ("OpenAI://SeKrEt-7f3a9@host", DsnErrorKind::Malformed),
        ("://SeKrEt-7f3a9@host", DsnErrorKind::Malformed),
        (
            "openai+ftp://SeKrEt-7f3a9@host",
            DsnErrorKind::UnknownTransport,
        ),
        ("openai://SeKrEt-7f3a9@", DsnErrorKind::BadHost),
        ("openai://", DsnErrorKind::BadHost),
        ("openai://SeKrEt-7f3a9@ho st", DsnErrorKind::BadHost),
        ("openai://SeKrEt-7f3a9@host#frag", DsnErrorKind::Fragment),
        (
            "openai://SeKrEt-7f3a9@host?timeout=1s&timeout=2s",
            DsnErrorKind::DuplicateOption,
        ),
        (
            "openai://SeKrEt-7f3a9@host?=1",
            DsnErrorKind::BadOptionValue,
        ),
        ("openai://SeKrEt%FF7f3a9@host", DsnErrorKind::Malformed),
    ];
    for &(value, kind) in cases {
        let err: DsnError = match Dsn::from_env("LLM_BROKEN", value) {
            Ok(dsn) => panic!("{value} parsed: {dsn:?}"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), kind, "{value}: {err}");
        assert_eq!(err.variable(), "LLM_BROKEN");
        let text = err.to_string();
        assert!(text.starts_with("LLM_BROKEN: "), "{value}: {text}");
        assert_no_credential(&text, value);
        assert_no_credential(&format!("{err:?}"), value);
        let wrapped: majordomo::Error = err.into();
        assert_eq!(wrapped.kind(), ErrorKind::Config);
        assert_eq!(
            wrapped.source_as::<DsnError>().map(|e| e.kind()),
            Some(kind)
        );
        assert_no_credential(&format!("{wrapped} {wrapped:?}"), value);
    }
}

/// A registry over exactly `vars`, so tests never touch the process environment.
fn registry_with(vars: &[(&str, &str)]) -> Registry {
    registry_with_env(vars.iter().map(|&(k, v)| (k, v)))
}

#[test]
fn registry_reports_unknown_schemes_with_the_variable_and_scheme() {
    let registry = registry_with(&[("LLM_ODD", "carrier-pigeon://SeKrEt-7f3a9@loft")]);
    let err = registry.parse("odd/model").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let dsn_err = err.source_as::<DsnError>().expect("a DsnError source");
    assert_eq!(dsn_err.kind(), DsnErrorKind::UnknownScheme);
    let text = err.to_string();
    assert!(text.contains("LLM_ODD"), "{text}");
    assert!(text.contains("\"carrier-pigeon\""), "{text}");
    assert!(text.contains("foreman"), "lists registered schemes: {text}");
    assert_no_credential(&format!("{text} {err:?}"), "registry error");
}

#[test]
fn built_in_schemes_reject_unknown_options_and_bad_durations() {
    let registry = registry_with(&[
        ("LLM_TYPO", "openai://SeKrEt-7f3a9@h?tmeout=30s"),
        ("LLM_SLOW", "foreman://SeKrEt-7f3a9@h?timeout=forever"),
        (
            "LLM_CLAUDE",
            "anthropic://SeKrEt-7f3a9@h?version=2023-06-01&timeout=30s",
        ),
        ("LLM_NOVERSION", "openai://SeKrEt-7f3a9@h?version=1"),
    ]);
    let typo = registry.parse("typo/m").unwrap_err();
    let text = typo.to_string();
    assert!(
        text.contains("LLM_TYPO") && text.contains("\"tmeout\""),
        "{text}"
    );
    assert_eq!(
        typo.source_as::<DsnError>().map(DsnError::kind),
        Some(DsnErrorKind::UnknownOption)
    );

    let slow = registry.parse("slow/m").unwrap_err();
    assert!(slow.to_string().contains("LLM_SLOW"), "{slow}");
    assert_eq!(
        slow.source_as::<DsnError>().map(DsnError::kind),
        Some(DsnErrorKind::BadOptionValue)
    );

    // `version` is an Anthropic option, not an OpenAI one.
    assert!(registry.parse("claude/claude-haiku-4-5").is_ok());
    let err = registry.parse("noversion/m").unwrap_err();
    assert!(err.to_string().contains("\"version\""), "{err}");

    for (name, error) in registry.env_errors() {
        assert_no_credential(&format!("{error} {error:?}"), &name);
        // The error's own source chain is clean too.
        let mut source = error.source();
        while let Some(s) = source {
            assert_no_credential(&s.to_string(), &name);
            source = s.source();
        }
    }
    assert_no_credential(&format!("{registry:?}"), "registry Debug");
}

#[test]
fn an_unescaped_slash_or_question_mark_in_the_credential_is_a_typed_error() {
    for value in [
        "openai://SeKrEt-ab/cd7f3a9@host",
        "openai://SeKrEt-ab/cd/ef7f3a9@host:8080/v1",
        "openai://SeKrEt?x7f3a9@host",
        "openai://user:SeKrEt/7f3a9@host",
        "anthropic+http://SeKrEt#7f3a9@127.0.0.1:9",
    ] {
        let err = Dsn::from_env("LLM_SLASH", value).unwrap_err();
        assert_eq!(
            err.kind(),
            DsnErrorKind::CredentialNotEncoded,
            "{value}: {err}"
        );
        let text = format!("{err} {err:?}");
        assert!(text.contains("percent-encode"), "{text}");
        assert_no_credential(&text, value);
        assert!(!text.contains("7f3a9") && !text.contains("cd"), "{text}");

        // Through the registry the same: no DNS lookup of a piece of the key,
        // no "unknown option" naming one.
        let registry = registry_with(&[("LLM_SLASH", value)]);
        let err = registry.parse("slash/m").unwrap_err();
        assert_eq!(
            err.source_as::<DsnError>().map(DsnError::kind),
            Some(DsnErrorKind::CredentialNotEncoded),
            "{value}: {err}"
        );
        assert_no_credential(&format!("{err} {err:?}"), value);
    }
    // Encoded, the same credentials parse and decode.
    let dsn = Dsn::parse("openai://SeKrEt-ab%2Fcd%3Fx@host").unwrap();
    assert_eq!(dsn.credential().unwrap().expose(), "SeKrEt-ab/cd?x");
}
