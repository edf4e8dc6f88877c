//! The provider core (issue 13): the host's own `reqwest::Client` and
//! registry-wide layers, for configured, built-in and `LLM_*` providers.

#![cfg(all(feature = "openai", feature = "ollama"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use majordomo::providers::fake::FakeProvider;
use majordomo::providers::http::HttpSettings;
use majordomo::providers::openai::{OpenAiConfig, OpenAiProvider};
use majordomo::{
    BuildContext, Dsn, Layers, Model, Provider, ProviderLayer, Registry, Request, SchemeFactory,
};
use reqwest::header::{HeaderMap, HeaderValue};
use wiremock::MockServer;
use wiremock::matchers::header;

use crate::support::call::generated;
use crate::support::http::{fixture_answer, post};
use crate::support::registry::registry_with_env;

/// A client only the host could have built: it adds `x-host: yes` to every request.
fn host_client() -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert("x-host", HeaderValue::from_static("yes"));
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A Chat Completions server that answers only requests carrying the host
/// client's header (anything else gets wiremock's 404).
async fn host_only_server(route: &str, fixture: &str) -> MockServer {
    let server = MockServer::start().await;
    post(route)
        .and(header("x-host", "yes"))
        .respond_with(fixture_answer(fixture))
        .mount(&server)
        .await;
    server
}

async fn assert_answers(provider: &Arc<dyn Provider>, model: &str) {
    let reply = generated(&provider.model(model).unwrap(), Request::new().user("hi")).await;
    assert!(!reply.text().is_empty());
}

fn host_port(server: &MockServer) -> String {
    server.address().to_string()
}

#[tokio::test]
async fn a_configured_provider_sends_through_the_host_client_with_its_own_headers() {
    let server = host_only_server("/v1/chat/completions", "openai/chat_response_text.json").await;
    let settings = HttpSettings::new(format!("{}/v1", server.uri()))
        .api_key("sk-test")
        .header("x-config", "c")
        .client(host_client());
    let provider: Arc<dyn Provider> =
        Arc::new(OpenAiProvider::new(OpenAiConfig::from_settings(settings)).unwrap());
    assert_answers(&provider, "gpt-4o-mini").await;
    let requests = server.received_requests().await.unwrap();
    let request = &requests[0];
    // The settings' headers and the user agent ride on each request.
    assert_eq!(request.headers["x-config"], "c");
    assert!(
        request.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("majordomo/")
    );
    assert_eq!(request.headers["authorization"], "Bearer sk-test");
}

#[tokio::test]
async fn builtin_providers_send_through_the_registry_client() {
    let openai = host_only_server("/v1/chat/completions", "openai/chat_response_text.json").await;
    let ollama = host_only_server("/api/chat", "ollama/chat_response.json").await;
    let registry = Registry::builder()
        .env_vars([
            ("OPENAI_API_KEY", "sk-test".to_owned()),
            ("OPENAI_BASE_URL", format!("{}/v1", openai.uri())),
            ("OLLAMA_HOST", ollama.uri()),
        ])
        .http_client(host_client())
        .build();
    assert_answers(&registry.provider("openai").unwrap(), "gpt-4o-mini").await;
    assert_answers(&registry.provider("ollama").unwrap(), "llama3.2").await;
}

#[tokio::test]
async fn llm_providers_eager_and_lazy_send_through_the_registry_client() {
    let server = host_only_server("/v1/chat/completions", "openai/chat_response_text.json").await;
    let dsn = format!("openai+http://sk-test@{}/v1", host_port(&server));
    // The eager scan (a fixed set of variables).
    let eager = Registry::builder()
        .env_vars([("LLM_LOCAL", dsn.clone())])
        .http_client(host_client())
        .build();
    assert_answers(&eager.provider("local").unwrap(), "m").await;
    // Lazily, on first use (a lookup function cannot be scanned).
    let lazy = Registry::builder()
        .env_lookup(move |name| (name == "LLM_LOCAL").then(|| dsn.clone()))
        .http_client(host_client())
        .build();
    assert_answers(&lazy.provider("local").unwrap(), "m").await;
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

/// A custom scheme that builds OpenAI-compatible providers and takes the
/// registry's client from its context.
struct Custom;

impl SchemeFactory for Custom {
    fn build_with(
        &self,
        name: &str,
        dsn: &Dsn,
        context: &BuildContext,
    ) -> majordomo::Result<Arc<dyn Provider>> {
        let mut settings = HttpSettings::new(format!("{}/v1", dsn.base_url()));
        if let Some(client) = context.http_client() {
            settings = settings.client(client.clone());
        }
        Ok(Arc::new(OpenAiProvider::new(
            OpenAiConfig::from_settings(settings).name(name),
        )?))
    }

    fn build(&self, name: &str, dsn: &Dsn) -> majordomo::Result<Arc<dyn Provider>> {
        self.build_with(name, dsn, &BuildContext::default())
    }
}

#[tokio::test]
async fn a_custom_scheme_receives_the_registry_client() {
    let server = host_only_server("/v1/chat/completions", "openai/chat_response_text.json").await;
    let registry = Registry::builder()
        .env_vars([("LLM_MINE", format!("custom+http://{}", host_port(&server)))])
        .http_client(host_client())
        .build();
    registry.register_scheme("custom", Custom).unwrap();
    assert_answers(&registry.provider("mine").unwrap(), "m").await;
}

/// Counts the models handed out by every provider it wraps.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

struct CountingProvider {
    inner: Arc<dyn Provider>,
    models: Arc<AtomicUsize>,
}

impl ProviderLayer for Counting {
    fn layer(&self, inner: Arc<dyn Provider>) -> Arc<dyn Provider> {
        Arc::new(CountingProvider {
            inner,
            models: Arc::clone(&self.0),
        })
    }
}

impl Provider for CountingProvider {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn model(&self, id: &str) -> majordomo::Result<Arc<dyn Model>> {
        self.models.fetch_add(1, Ordering::SeqCst);
        self.inner.model(id)
    }
}

#[tokio::test]
async fn registry_layers_wrap_builtin_registered_and_llm_providers() {
    let server = host_only_server("/v1/chat/completions", "openai/chat_response_text.json").await;
    let dsn = format!("openai+http://sk-test@{}/v1", host_port(&server));
    let counting = Counting::default();
    let registry = Registry::builder()
        .env_lookup(move |name| match name {
            "LLM_LAZY" => Some(dsn.clone()),
            "OPENAI_API_KEY" => Some("sk-test".to_owned()),
            _ => None,
        })
        .http_client(host_client())
        .layers(Layers::new().layer(counting.clone()))
        .build();
    registry.register_provider(FakeProvider::always_text("fake", "hi"));
    let count = || counting.0.load(Ordering::SeqCst);

    // A provider built lazily from its `LLM_*` variable, and called.
    assert_answers(&registry.provider("lazy").unwrap(), "m").await;
    assert_eq!(count(), 1);
    // The built-in, a registered provider, and a chain over all three.
    registry
        .provider("openai")
        .unwrap()
        .model("gpt-4o")
        .unwrap();
    registry.provider("fake").unwrap().model("m").unwrap();
    assert_eq!(count(), 3);
    let chain = registry.parse("fake/m,lazy/m,openai/gpt-4o").unwrap();
    assert_eq!(count(), 6);
    let reply = generated(&chain, Request::new().user("hi")).await;
    assert_eq!(reply.text(), "hi", "the chain's first target answers");
}

#[tokio::test]
async fn registry_layers_wrap_the_eager_scan() {
    let counting = Counting::default();
    let registry = Registry::builder()
        .env_vars([("LLM_LOCAL", "openai+http://127.0.0.1:9/v1")])
        .layer(counting.clone())
        .build();
    registry.provider("local").unwrap().model("m").unwrap();
    assert_eq!(counting.0.load(Ordering::SeqCst), 1);
}

// ===== Azure OpenAI =====
// Its route, query, key header, bodies, streams and errors run in the
// conformance harness (`conformance::azure`); its DSN options here.

#[test]
fn azure_dsns_reject_unknown_options() {
    let registry = registry_with_env([("LLM_AZ", "azure://k@r.openai.azure.com?api_version=x")]);
    let error = registry.provider("az").unwrap_err();
    assert!(error.to_string().contains("api_version"), "{error}");
}
