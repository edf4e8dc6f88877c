//! Sends one prompt to a spec and prints the answer: the command to try
//! majordomo against real servers.
//!
//! ```sh
//! cargo run --example chat -- [--stream] [--json] [--system TEXT] [--alias NAME=SPEC]...
//!     [--repeat N] [--hedge DURATION] [--affinity KEY] [--usage] [--trace]
//!     [--capture-content] [--redis URL] SPEC PROMPT
//! cargo run --example chat -- --schema FILE SPEC PROMPT
//! cargo run --example chat -- --tools [--stream] SPEC PROMPT
//!
//! export OPENAI_API_KEY=sk-...
//! cargo run --example chat -- gpt-4o-mini "Say hi"
//! LLM_LOCAL=openai+http://key@127.0.0.1:8000/v1 cargo run --example chat -- --stream local/qwen2.5 "Say hi"
//! cargo run --example chat -- ollama/llama3.2 "Say hi"
//! ```
//!
//! Uses `Registry::new()`, so built-in providers read their usual variables
//! (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, `OLLAMA_HOST`, `GEMINI_API_KEY`) and
//! every `LLM_*` DSN defines a provider.
//!
//! `--redis URL` (or `MAJORDOMO_REDIS_URL`; needs `--features redis`) shares
//! health through Redis, so two runs see each other's benches.
//!
//! - Default: the answer text on stdout (as it arrives, with `--stream`).
//! - `--json`: on success, exactly one JSON object on stdout: `text`, `provider`, `model`,
//!   `finish_reason`, `usage` (`input_tokens`, `output_tokens`) and `attempts`
//!   (`target`, `outcome`, `class`, `error`).
//! - `--schema FILE`: asks for JSON matching the JSON Schema in FILE (retried with
//!   the error fed back when the answer does not fit) and prints the JSON value
//!   on stdout, one line.
//! - `--tools`: offers a demo tool `get_weather(city)` (a fixed sunny forecast)
//!   and runs the tool loop, plain or `--stream`; each tool call is one line on
//!   stderr, the final answer goes to stdout (with `--json`, as above).
//! - `--repeat N`: N calls in one process (so groups learn latencies), each
//!   answer on its own line.
//! - `--hedge DURATION` (`150ms`, `2s`): hedge an attempt that has not
//!   answered after DURATION, within a budget of 20 % of calls.
//! - `--affinity KEY`: the request's affinity key (same key, same group member).
//! - `--usage`: each chain call's usage record as one JSON object per line on stderr.
//! - `--trace`: the library's spans (ADR 0020) as JSON lines on stderr, one
//!   when each span closes, with that span's fields (`otel.name`,
//!   `gen_ai.*`, `error.type`, …).
//! - `--capture-content`: the spans also carry the prompt and the answer
//!   (`gen_ai.input.messages`, `gen_ai.output.messages`).
//! - Each failover event: one line on stderr.
//! - On failure: the error on stderr, exit status 1.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt as _;
use majordomo::{
    Attempt, AttemptOutcome, ChainConfig, Error, ErrorKind, FailoverAction, FailoverEvent, Model,
    ModelExt, Registry, Request, Response, RetryBudget, StreamAccumulator, Tool, ToolLoop, Toolbox,
};
use serde_json::{Value, json};

const USAGE: &str = "usage: chat [--stream] [--json] [--system TEXT] [--alias NAME=SPEC]... [--repeat N] [--hedge DURATION] [--affinity KEY] [--usage] [--trace] [--capture-content] [--redis URL] [--schema FILE | --tools] SPEC PROMPT";

/// The parsed command line.
#[derive(Debug, Default)]
struct Args {
    stream: bool,
    json: bool,
    system: Option<String>,
    aliases: Vec<(String, String)>,
    schema: Option<String>,
    tools: bool,
    repeat: u32,
    hedge: Option<Duration>,
    affinity: Option<String>,
    usage: bool,
    trace: bool,
    capture_content: bool,
    redis: Option<String>,
    spec: String,
    prompt: String,
}

/// `150ms`, `2s` or `1.5s`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("--hedge {text:?}: expected a duration such as 150ms or 2s");
    let (number, scale) = match text.strip_suffix("ms") {
        Some(ms) => (ms, 1e-3),
        None => (text.strip_suffix('s').ok_or_else(bad)?, 1.0),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    Duration::try_from_secs_f64(value * scale).map_err(|_| bad())
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args {
        repeat: 1,
        ..Args::default()
    };
    let mut positional = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value_of = |flag: &str, inline: Option<&str>| match inline {
            Some(v) => Ok(v.to_owned()),
            None => args.next().ok_or_else(|| format!("{flag} needs a value")),
        };
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, v)) if flag.starts_with("--") => (flag.to_owned(), Some(v)),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--stream" => parsed.stream = true,
            "--json" => parsed.json = true,
            "--system" => parsed.system = Some(value_of("--system", inline)?),
            "--schema" => parsed.schema = Some(value_of("--schema", inline)?),
            "--tools" => parsed.tools = true,
            "--alias" => {
                let definition = value_of("--alias", inline)?;
                let (name, spec) = definition
                    .split_once('=')
                    .ok_or_else(|| format!("--alias {definition:?}: expected NAME=SPEC"))?;
                parsed.aliases.push((name.to_owned(), spec.to_owned()));
            }
            "--repeat" => {
                let n = value_of("--repeat", inline)?;
                parsed.repeat = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--repeat {n:?}: expected a positive number"))?;
            }
            "--hedge" => parsed.hedge = Some(parse_duration(&value_of("--hedge", inline)?)?),
            "--affinity" => parsed.affinity = Some(value_of("--affinity", inline)?),
            "--usage" => parsed.usage = true,
            "--trace" => parsed.trace = true,
            "--capture-content" => parsed.capture_content = true,
            "--redis" => parsed.redis = Some(value_of("--redis", inline)?),
            "--" => positional.extend(args.by_ref()),
            _ if flag.starts_with("--") => return Err(format!("unknown flag {arg:?}")),
            _ => positional.push(arg),
        }
    }
    if parsed.schema.is_some() && parsed.tools {
        return Err("--schema and --tools cannot be combined".to_owned());
    }
    match <[String; 2]>::try_from(positional) {
        Ok([spec, prompt]) => {
            parsed.spec = spec;
            parsed.prompt = prompt;
            Ok(Some(parsed))
        }
        Err(got) => Err(format!(
            "expected SPEC and PROMPT, got {} argument(s)",
            got.len()
        )),
    }
}

fn attempt_json(attempt: &Attempt) -> Value {
    let outcome = match attempt.outcome {
        AttemptOutcome::Ok => "ok",
        AttemptOutcome::Error => "error",
        AttemptOutcome::Skipped => "skipped",
        _ => "other",
    };
    json!({
        "target": attempt.target.to_string(),
        "outcome": outcome,
        "class": attempt.class.map(|c| c.as_str()),
        "error": attempt.error,
    })
}

fn response_json(response: &Response) -> Value {
    json!({
        "text": response.text(),
        "provider": response.provider,
        "model": response.model,
        "finish_reason": response.finish_reason.as_str(),
        "usage": {
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
        },
        "attempts": response.attempts.iter().map(attempt_json).collect::<Vec<_>>(),
    })
}

/// The error that ended a chain call. An exhausted chain's steps were each
/// printed by the observer, so only its summary is left to say.
fn call_error(e: Error) -> String {
    if e.kind() == ErrorKind::Exhausted {
        e.message().to_owned()
    } else {
        e.to_string()
    }
}

fn io(e: std::io::Error) -> String {
    format!("cannot write the answer: {e}")
}

/// `--redis URL`: the registry's health lives in Redis, shared with other runs.
#[cfg(feature = "redis")]
mod shared_health {
    use std::time::Duration;

    pub type Store = majordomo::health::RedisStore;

    pub async fn connect(url: &str) -> Result<Store, String> {
        let store = Store::builder(url)
            .namespace("majordomo-chat")
            .build()
            .map_err(|e| e.to_string())?;
        // Learn the other runs' benches first (bounded: Redis may be down).
        let _ = tokio::time::timeout(Duration::from_secs(1), store.synced(0)).await;
        Ok(store)
    }

    /// Lets this run's health writes reach Redis before the process exits.
    pub async fn flush(store: &Store) {
        let _ = tokio::time::timeout(Duration::from_secs(1), store.flush()).await;
    }
}

#[cfg(not(feature = "redis"))]
mod shared_health {
    pub type Store = majordomo::health::MemoryStore;

    pub async fn connect(_: &str) -> Result<Store, String> {
        Err("--redis needs the `redis` feature: cargo run --features redis --example chat".into())
    }

    pub async fn flush(_: &Store) {}
}

async fn run(args: Args) -> Result<(), String> {
    let redis = args.redis.clone().or_else(|| {
        std::env::var("MAJORDOMO_REDIS_URL")
            .ok()
            .filter(|url| !url.is_empty())
    });
    let shared = match &redis {
        Some(url) => Some(shared_health::connect(url).await?),
        None => None,
    };
    let outcome = run_with(&args, shared.clone()).await;
    if let Some(store) = &shared {
        shared_health::flush(store).await;
    }
    outcome
}

async fn run_with(args: &Args, shared: Option<shared_health::Store>) -> Result<(), String> {
    let mut config = ChainConfig::default().capture_content(args.capture_content);
    if let Some(after) = args.hedge {
        let budget =
            RetryBudget::new(0.2, 1, Duration::from_secs(10)).map_err(|e| e.to_string())?;
        config = config.hedge(after, budget);
    }
    if args.usage {
        config = config.usage_sink(|record: &majordomo::UsageRecord| {
            if let Ok(line) = serde_json::to_string(record) {
                eprintln!("{line}");
            }
        });
    }
    let mut builder = Registry::builder().chain_config(config);
    if let Some(store) = shared {
        builder = builder.health_store(store);
    }
    let registry = builder
        // Each step is printed once here; the error that ends the call is
        // printed once by `main`, so the final give-up step is not repeated.
        .observer(|event: &FailoverEvent| {
            if event.action != FailoverAction::GiveUp {
                eprintln!("failover: {event}");
            }
        })
        .build();
    for (name, spec) in &args.aliases {
        registry
            .register_alias(name, spec)
            .map_err(|e| e.to_string())?;
    }
    let chain = registry.parse(&args.spec).map_err(|e| e.to_string())?;
    let mut request = Request::new().user(args.prompt.clone());
    if let Some(system) = &args.system {
        request = request.system(system.clone());
    }
    if let Some(key) = &args.affinity {
        request = request.affinity(key.clone());
    }
    let mut outcome = Ok(());
    for _ in 0..args.repeat {
        outcome = call(&chain, request.clone(), args).await;
        if outcome.is_err() {
            break;
        }
    }
    // Usage records travel on a task of their own: let them out before exiting.
    registry.chain_config().flush_usage().await;
    outcome
}

/// One call, its answer printed on its own line.
async fn call(chain: &majordomo::Chain, request: Request, args: &Args) -> Result<(), String> {
    if let Some(path) = &args.schema {
        return structured(chain, request, path).await;
    }
    if args.tools {
        return with_tools(chain, request, args.stream, args.json).await;
    }

    let mut out = std::io::stdout().lock();
    let response = if args.stream {
        let mut stream = chain.stream(request).await.map_err(call_error)?;
        let (provider, model) = (stream.provider().to_owned(), stream.model().to_owned());
        let attempts = stream.attempts().to_vec();
        let mut acc = StreamAccumulator::new();
        while let Some(event) = stream.next().await {
            let event = event.map_err(call_error)?;
            if let (false, majordomo::StreamEvent::TextDelta { text }) = (args.json, &event) {
                out.write_all(text.as_bytes()).map_err(io)?;
                out.flush().map_err(io)?;
            }
            acc.push(event);
        }
        let mut response = acc.finish(provider, model);
        response.attempts = attempts;
        response
    } else {
        let response = chain.generate(request).await.map_err(call_error)?;
        if !args.json {
            out.write_all(response.text().as_bytes()).map_err(io)?;
        }
        response
    };
    if args.json {
        writeln!(out, "{}", response_json(&response)).map_err(io)?;
    } else {
        writeln!(out).map_err(io)?;
    }
    Ok(())
}

/// `--schema FILE`: the JSON value, validated against the schema in FILE.
async fn structured(chain: &impl Model, request: Request, path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--schema {path}: {e}"))?;
    let schema: Value =
        serde_json::from_str(&text).map_err(|e| format!("--schema {path}: not JSON: {e}"))?;
    let answer = chain
        .generate_json_value(request, schema)
        .await
        .map_err(call_error)?;
    writeln!(std::io::stdout(), "{}", answer.value).map_err(io)
}

/// The arguments of the demo tool.
#[derive(serde::Deserialize)]
struct Weather {
    city: String,
}

/// `--tools`: the tool loop with `get_weather(city)`.
async fn with_tools(
    chain: &impl Model,
    request: Request,
    stream: bool,
    json_out: bool,
) -> Result<(), String> {
    let weather = Tool::new(
        "get_weather",
        "The weather forecast for a city",
        json!({
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city"}},
            "required": ["city"],
            "additionalProperties": false
        }),
    );
    let tools = Toolbox::new().typed(weather, |w: Weather| async move {
        Ok::<_, String>(json!({"city": w.city, "forecast": "sunny", "celsius": 21}).to_string())
    });
    let mut tool_loop = ToolLoop::new(tools).observer(|step| {
        for (call, result) in step.response.tool_calls().zip(step.results) {
            eprintln!(
                "tool: {}({}) -> {}",
                call.name, call.arguments, result.content
            );
        }
    });
    let print_deltas = stream && !json_out;
    if stream {
        tool_loop = tool_loop.stream(true);
    }
    if print_deltas {
        tool_loop = tool_loop.on_event(|event| {
            if let majordomo::StreamEvent::TextDelta { text } = event {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
        });
    }
    let done = tool_loop.run(chain, request).await.map_err(call_error)?;
    let mut out = std::io::stdout().lock();
    if json_out {
        writeln!(out, "{}", response_json(&done.response)).map_err(io)
    } else if print_deltas {
        writeln!(out).map_err(io)
    } else {
        writeln!(out, "{}", done.response.text()).map_err(io)
    }
}

/// `--trace`: every span of the library as one JSON line on stderr when it
/// closes, with the span's own fields: what an OpenTelemetry exporter would
/// receive, readable without a collector.
fn install_trace() {
    use tracing_subscriber::fmt::format::FmtSpan;
    tracing_subscriber::fmt()
        .json()
        .with_span_events(FmtSpan::CLOSE)
        .with_current_span(true)
        .with_span_list(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("chat: {message}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    if args.trace {
        install_trace();
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            // One line, like the failover lines, even when a server's message has several.
            let line: Vec<&str> = message.split_whitespace().collect();
            eprintln!("chat: {}", line.join(" "));
            ExitCode::FAILURE
        }
    }
}
