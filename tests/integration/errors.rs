//! Integration tests: error classification and credential hygiene.

use std::time::Duration;

use majordomo::{
    Capability, Classifier, DefaultClassifier, Error, ErrorClass, ErrorKind, Secret,
    class_of_status,
};

#[test]
fn every_status_in_the_design_table_maps_to_its_class() {
    use ErrorClass::*;
    let table: &[(u16, ErrorClass)] = &[
        (400, Permanent),
        (401, Permanent),
        (403, Permanent),
        (404, ModelNotFound),
        (408, Transient),
        (409, Transient),
        (413, RequestSpecific),
        (422, Permanent),
        (429, Transient),
        (500, Transient),
        (502, Transient),
        (503, Transient),
        (504, Transient),
        (529, Transient),
    ];
    for (status, class) in table {
        assert_eq!(class_of_status(*status), *class, "status {status}");
        assert_eq!(
            Error::api(*status, "x").class(),
            *class,
            "Error::api({status})"
        );
    }
}

#[test]
fn non_http_cases_map_to_their_class() {
    use ErrorClass::*;
    let cases: Vec<(Error, ErrorClass)> = vec![
        (Error::transport("connection reset by peer"), Transient),
        (Error::timeout("read timed out"), Transient),
        (Error::stream_ended_early(), Transient),
        (Error::decode("garbage"), Transient),
        (Error::model_not_found("gpt-9"), ModelNotFound),
        (Error::unsupported(Capability::Images), RequestSpecific),
        (Error::context_length_exceeded("too long"), RequestSpecific),
        (Error::content_filtered("filtered"), RequestSpecific),
        (Error::config("bad DSN"), Permanent),
        (
            Error::missing_credential("openai", "OPENAI_API_KEY"),
            NotConfigured,
        ),
        (Error::new(ErrorKind::Spec, "empty spec"), Permanent),
        (Error::cancelled(), Cancelled),
        (Error::overloaded(), Transient),
        (Error::rate_limited(Some(Duration::from_secs(3))), Transient),
    ];
    for (error, class) in cases {
        assert_eq!(error.class(), class, "{error}");
    }
}

#[test]
fn provider_codes_refine_the_status() {
    // A 429 for an exhausted quota will not clear by waiting.
    let quota = Error::api(429, "You exceeded your current quota").with_code("insufficient_quota");
    assert_eq!(quota.class(), ErrorClass::Permanent);
    let too_long = Error::api(400, "maximum context length").with_code("context_length_exceeded");
    assert_eq!(too_long.class(), ErrorClass::RequestSpecific);
    // A 401 body says invalid_request_error: the status decides.
    let auth = Error::api(401, "Incorrect API key").with_code("invalid_request_error");
    assert_eq!(auth.class(), ErrorClass::Permanent);
    // A mid-stream error event has no status; its type decides.
    let midstream = Error::new(ErrorKind::Api, "Overloaded").with_code("overloaded_error");
    assert_eq!(midstream.class(), ErrorClass::Transient);
    // An explicit class beats everything.
    let pinned = Error::api(503, "x").with_class(ErrorClass::Permanent);
    assert_eq!(pinned.class(), ErrorClass::Permanent);
}

#[test]
fn a_custom_classifier_overrides_the_default() {
    let classify = |e: &Error| match e.status() {
        Some(400) => ErrorClass::Transient,
        _ => DefaultClassifier.classify(e),
    };
    assert_eq!(
        classify.classify(&Error::api(400, "flaky gateway")),
        ErrorClass::Transient
    );
    assert_eq!(
        classify.classify(&Error::api(401, "auth")),
        ErrorClass::Permanent
    );
}

#[test]
fn errors_carry_target_status_code_retry_after_and_context() {
    let target = "openai/gpt-4o".parse().unwrap();
    let e = Error::rate_limited(Some(Duration::from_secs(20)))
        .with_code("rate_limit_exceeded")
        .with_target(&target)
        .with_context(majordomo::CallContext::new().caller("alice").run("r1"));
    assert_eq!(e.provider(), Some("openai"));
    assert_eq!(e.model(), Some("gpt-4o"));
    assert_eq!(e.target(), Some(target));
    assert_eq!(e.status(), Some(429));
    assert_eq!(e.code(), Some("rate_limit_exceeded"));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(20)));
    assert_eq!(e.context().unwrap().caller_id.as_deref(), Some("alice"));
    assert_eq!(
        e.to_string(),
        "openai/gpt-4o: HTTP 429: rate limited (rate_limit_exceeded)"
    );
}

#[test]
fn a_credential_never_prints_from_errors_or_secrets() {
    const KEY: &str = "sk-proj-SUPERSECRET0123456789";
    let secret = Secret::new(KEY);
    let body = format!("Incorrect API key provided: {KEY}. You can find your key at ...");
    let errors = vec![
        Error::api(401, secret.redact(&body)),
        Error::config(format!("bad DSN for LLM_X: {}", secret.redact(KEY)))
            .with_source(std::io::Error::other(secret.redact(&body))),
        Error::missing_credential("openai", "OPENAI_API_KEY"),
    ];
    for e in &errors {
        for text in [format!("{e}"), format!("{e:?}"), format!("{e:#?}")] {
            assert!(!text.contains(KEY), "credential leaked: {text}");
            assert!(!text.contains("SUPERSECRET"), "credential leaked: {text}");
        }
    }
    for text in [format!("{secret}"), format!("{secret:?}")] {
        assert!(!text.contains("SUPERSECRET"));
    }
    assert!(errors[0].to_string().contains("***"));
}

#[test]
fn errors_are_send_sync_clone_and_keep_their_source_chain() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Error>();
    let e = Error::transport("connect failed").with_source(std::io::Error::other("refused"));
    let source = std::error::Error::source(&e).expect("source kept");
    assert_eq!(source.to_string(), "refused");
    assert!(e.source_as::<std::io::Error>().is_some());
}
