//! majordomo beside what a user would write or pick instead, on one loopback
//! mock in one current-thread runtime: each figure is the whole cost of a
//! chat completion (encode, HTTP both ways, decode), client and server.
//!
//! ```text
//! cargo run --release                      # interleaved rounds, medians, ratios
//! cargo run --release -- profile md-chain2 2000   # one client only, for callgrind
//! ```
//!
//! Clients: a hand-written reqwest call with typed serde structs (the
//! baseline), async-openai, rust-genai, majordomo's openai provider, a
//! one-target chain, and a two-target chain whose first target is healthy.
//! Rounds rotate the order so no client always runs first; medians of the
//! per-round means are printed with their ratio to the baseline. Time is the
//! thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), which leaves out
//! waiting for a core on a loaded machine; wall time is printed beside it.

use std::time::Instant;

use futures::StreamExt as _;
use majordomo::Provider as _;
use majordomo_peers::{Answer, serve, stream_text};
use serde::{Deserialize, Serialize};

const CLIENTS: [&str; 6] = [
    "raw",
    "async-openai",
    "genai",
    "md-provider",
    "md-chain1",
    "md-chain2",
];

const LABELS: [&str; 6] = [
    "hand-written reqwest + serde",
    "async-openai 0.28",
    "rust-genai 0.3",
    "majordomo provider",
    "majordomo chain, 1 target",
    "majordomo chain, 2 targets",
];

#[derive(Serialize)]
struct RawRequest<'a> {
    model: &'a str,
    messages: [RawMessage<'a>; 1],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct RawMessage<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct RawCompletion {
    choices: Vec<RawChoice>,
}

#[derive(Deserialize)]
struct RawChoice {
    #[serde(default)]
    message: Option<RawContent>,
    #[serde(default)]
    delta: Option<RawContent>,
}

#[derive(Deserialize)]
struct RawContent {
    #[serde(default)]
    content: Option<String>,
}

/// Every client, pointed at its own listener on the mock.
struct Clients {
    raw: reqwest::Client,
    raw_url: String,
    oai: async_openai::Client<async_openai::config::OpenAIConfig>,
    genai: genai::Client,
    provider: std::sync::Arc<dyn majordomo::Model>,
    chain1: majordomo::Chain,
    chain2: majordomo::Chain,
}

impl Clients {
    async fn new(answer: Answer) -> Self {
        let raw_url = format!("{}/chat/completions", serve(answer).await);
        let oai_base = serve(answer).await;
        let genai_base = format!("{}/", serve(answer).await);
        let resolver = genai::resolver::ServiceTargetResolver::from_resolver_fn(
            move |mut target: genai::ServiceTarget| -> Result<genai::ServiceTarget, genai::resolver::Error> {
                target.endpoint = genai::resolver::Endpoint::from_owned(genai_base.clone());
                target.auth = genai::resolver::AuthData::from_single("k");
                Ok(target)
            },
        );
        let dsn = |base: String| base.replacen("http://", "openai+http://k@", 1);
        let registry = majordomo::Registry::builder()
            .without_env()
            .env_vars([
                ("LLM_P", dsn(serve(answer).await)),
                ("LLM_C1", dsn(serve(answer).await)),
                ("LLM_C2A", dsn(serve(answer).await)),
                ("LLM_C2B", dsn(serve(answer).await)),
            ])
            .build();
        let provider = registry.provider("p").expect("provider p");
        Clients {
            raw: reqwest::Client::new(),
            raw_url,
            oai: async_openai::Client::with_config(
                async_openai::config::OpenAIConfig::new()
                    .with_api_base(oai_base)
                    .with_api_key("k"),
            ),
            genai: genai::Client::builder()
                .with_service_target_resolver(resolver)
                .build(),
            provider: provider.model("gpt-4o").expect("model"),
            chain1: registry.parse("c1/gpt-4o").expect("chain"),
            chain2: registry.parse("c2a/gpt-4o,c2b/gpt-4o").expect("chain"),
        }
    }

    /// The hand-written request: a typed body, bearer auth, status checked.
    async fn raw_send(&self, stream: bool) -> reqwest::Response {
        let body = RawRequest {
            model: "gpt-4o",
            messages: [RawMessage {
                role: "user",
                content: "hi",
            }],
            stream,
        };
        self.raw
            .post(&self.raw_url)
            .bearer_auth("k")
            .json(&body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .expect("raw send")
    }

    fn majordomo(&self, client: usize) -> &dyn majordomo::Model {
        match client {
            3 => &*self.provider,
            4 => &self.chain1,
            _ => &self.chain2,
        }
    }

    /// One plain call by `client`; returns the answer's text length.
    async fn plain(&self, client: usize) -> usize {
        match client {
            0 => {
                let answer: RawCompletion =
                    self.raw_send(false).await.json().await.expect("raw body");
                answer.choices[0]
                    .message
                    .as_ref()
                    .and_then(|m| m.content.as_ref())
                    .map_or(0, String::len)
            }
            1 => {
                let answer = self
                    .oai
                    .chat()
                    .create(oai_request(false))
                    .await
                    .expect("async-openai");
                answer.choices[0]
                    .message
                    .content
                    .as_deref()
                    .map_or(0, str::len)
            }
            2 => {
                let request =
                    genai::chat::ChatRequest::new(vec![genai::chat::ChatMessage::user("hi")]);
                let answer = self
                    .genai
                    .exec_chat("gpt-4o", request, None)
                    .await
                    .expect("genai");
                answer.content_text_as_str().map_or(0, str::len)
            }
            k => {
                let answer = self
                    .majordomo(k)
                    .generate(majordomo::Request::new().user("hi"))
                    .await
                    .expect("majordomo");
                answer.text().len()
            }
        }
    }

    /// One streamed call by `client`, read to its end; returns the text.
    async fn streamed(&self, client: usize) -> String {
        let mut text = String::new();
        match client {
            0 => {
                let response = self.raw_send(true).await;
                let mut chunks = response.bytes_stream();
                let mut buffer: Vec<u8> = Vec::new();
                while let Some(chunk) = chunks.next().await {
                    buffer.extend_from_slice(&chunk.expect("raw chunk"));
                    let mut start = 0;
                    while let Some(end) = find(&buffer[start..], b"\n\n") {
                        let event = &buffer[start..start + end];
                        start += end + 2;
                        let Some(data) = event.strip_prefix(b"data: ") else {
                            continue;
                        };
                        if data == b"[DONE]" {
                            continue;
                        }
                        let chunk: RawCompletion = serde_json::from_slice(data).expect("raw event");
                        if let Some(delta) = chunk.choices.first().and_then(|c| c.delta.as_ref()) {
                            text.push_str(delta.content.as_deref().unwrap_or(""));
                        }
                    }
                    buffer.drain(..start);
                }
            }
            1 => {
                let mut events = self
                    .oai
                    .chat()
                    .create_stream(oai_request(true))
                    .await
                    .expect("async-openai");
                while let Some(event) = events.next().await {
                    let event = event.expect("async-openai event");
                    if let Some(delta) = event
                        .choices
                        .first()
                        .and_then(|c| c.delta.content.as_deref())
                    {
                        text.push_str(delta);
                    }
                }
            }
            2 => {
                let request =
                    genai::chat::ChatRequest::new(vec![genai::chat::ChatMessage::user("hi")]);
                let mut answer = self
                    .genai
                    .exec_chat_stream("gpt-4o", request, None)
                    .await
                    .expect("genai");
                while let Some(event) = answer.stream.next().await {
                    if let genai::chat::ChatStreamEvent::Chunk(chunk) = event.expect("genai event")
                    {
                        text.push_str(&chunk.content);
                    }
                }
            }
            k => {
                let mut events = self
                    .majordomo(k)
                    .stream(majordomo::Request::new().user("hi"))
                    .await
                    .expect("majordomo");
                while let Some(event) = events.next().await {
                    if let majordomo::StreamEvent::TextDelta { text: delta } =
                        event.expect("majordomo event")
                    {
                        text.push_str(&delta);
                    }
                }
            }
        }
        text
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn oai_request(stream: bool) -> async_openai::types::CreateChatCompletionRequest {
    use async_openai::types::{
        ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
    };
    let message = ChatCompletionRequestUserMessageArgs::default()
        .content("hi")
        .build()
        .expect("message");
    let mut request = CreateChatCompletionRequestArgs::default();
    request.model("gpt-4o").messages([message.into()]);
    if stream {
        request.stream(true);
    }
    request.build().expect("request")
}

/// This thread's CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_ns() -> u64 {
    u64::try_from(cpu_time::ThreadTime::now().as_duration().as_nanos()).unwrap_or(u64::MAX)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Interleaved rounds of `per_round` calls by each of `clients`; prints the
/// medians of the per-call means and their ratios to the first client.
async fn compare<F, Fut>(title: &str, clients: &[usize], rounds: usize, per_round: usize, call: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut cpu = vec![Vec::new(); clients.len()];
    let mut wall = vec![Vec::new(); clients.len()];
    // Two warm-up rounds open connections and fill caches; they are not counted.
    for round in 0..rounds + 2 {
        for offset in 0..clients.len() {
            let slot = (round + offset) % clients.len();
            let started_cpu = thread_cpu_ns();
            let started = Instant::now();
            for _ in 0..per_round {
                call(clients[slot]).await;
            }
            if round >= 2 {
                let calls = per_round as f64;
                cpu[slot].push((thread_cpu_ns() - started_cpu) as f64 / 1e3 / calls);
                wall[slot].push(started.elapsed().as_secs_f64() * 1e6 / calls);
            }
        }
    }
    let cpu: Vec<f64> = cpu.iter_mut().map(|v| median(v)).collect();
    let wall: Vec<f64> = wall.iter_mut().map(|v| median(v)).collect();
    println!("== {title} ({rounds} rounds x {per_round} calls, rotated order)");
    println!(
        "{:30} {:>12} {:>8} {:>10} | {:>12} {:>8}",
        "", "CPU us/call", "ratio", "added us", "wall us/call", "ratio"
    );
    for (slot, &client) in clients.iter().enumerate() {
        println!(
            "{:30} {:12.1} {:7.3}x {:+10.2} | {:12.1} {:7.3}x",
            LABELS[client],
            cpu[slot],
            cpu[slot] / cpu[0],
            cpu[slot] - cpu[0],
            wall[slot],
            wall[slot] / wall[0],
        );
    }
    if let (Some(provider), Some(chain)) = (
        clients.iter().position(|&c| c == 3),
        clients.iter().position(|&c| c == 5),
    ) {
        println!(
            "two-target chain over the provider: {:+.2} us CPU/call",
            cpu[chain] - cpu[provider]
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    majordomo_peers::run_local(async {
        if args.first().map(String::as_str) == Some("profile-stream") {
            // As `profile`, for streamed answers sent one event per write.
            let name = args.get(1).map_or("md-provider", String::as_str);
            let calls: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(100);
            let client = CLIENTS
                .iter()
                .position(|&c| c == name)
                .expect("a client name");
            let clients = Clients::new(Answer::SseEventByEvent).await;
            for _ in 0..calls {
                assert_eq!(clients.streamed(client).await.len(), stream_text().len());
            }
            return;
        }
        if args.first().map(String::as_str) == Some("profile") {
            // One client alone, for `valgrind --tool=callgrind`: the count
            // divided by the calls is the client's instructions per call.
            let name = args.get(1).map_or("md-provider", String::as_str);
            let calls: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1000);
            let client = CLIENTS
                .iter()
                .position(|&c| c == name)
                .expect("a client name");
            let clients = Clients::new(Answer::Json).await;
            for _ in 0..calls {
                assert!(clients.plain(client).await > 0);
            }
            return;
        }
        let rounds: usize = std::env::var("ROUNDS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(30);
        let plain = Clients::new(Answer::Json).await;
        compare(
            "plain chat completion",
            &[0, 1, 2, 3, 4, 5],
            rounds,
            200,
            |client| {
                let plain = &plain;
                async move { assert_eq!(plain.plain(client).await, "hello from mock".len()) }
            },
        )
        .await;
        let expected = stream_text();
        for (answer, title, per_round) in [
            (
                Answer::SseEventByEvent,
                "streamed chat completion, 102 SSE events, one write each",
                10,
            ),
            (
                Answer::Sse,
                "streamed chat completion, 102 SSE events in one write",
                20,
            ),
        ] {
            let streamed = Clients::new(answer).await;
            compare(title, &[0, 1, 2, 3, 5], rounds, per_round, |client| {
                let (streamed, expected) = (&streamed, &expected);
                async move { assert_eq!(&streamed.streamed(client).await, expected) }
            })
            .await;
        }
    });
}
