//! Sends one prompt to a spec and prints the answer: the command to try
//! majordomo against real servers.
//!
//! ```sh
//! cargo run --example chat -- [--stream] [--json] [--system TEXT] [--alias NAME=SPEC]... [--redis URL] SPEC PROMPT
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
//! - Each failover event: one line on stderr.
//! - On failure: the error on stderr, exit status 1.

use std::io::Write;
use std::process::ExitCode;

use futures::StreamExt as _;
use majordomo::{
    Attempt, AttemptOutcome, Error, ErrorKind, FailoverAction, FailoverEvent, Model, Registry,
    Request, Response, StreamAccumulator,
};
use serde_json::{Value, json};

const USAGE: &str = "usage: chat [--stream] [--json] [--system TEXT] [--alias NAME=SPEC]... [--redis URL] SPEC PROMPT";

/// The parsed command line.
#[derive(Debug, Default)]
struct Args {
    stream: bool,
    json: bool,
    system: Option<String>,
    aliases: Vec<(String, String)>,
    redis: Option<String>,
    spec: String,
    prompt: String,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
    let mut parsed = Args::default();
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
            "--alias" => {
                let definition = value_of("--alias", inline)?;
                let (name, spec) = definition
                    .split_once('=')
                    .ok_or_else(|| format!("--alias {definition:?}: expected NAME=SPEC"))?;
                parsed.aliases.push((name.to_owned(), spec.to_owned()));
            }
            "--redis" => parsed.redis = Some(value_of("--redis", inline)?),
            "--" => positional.extend(args.by_ref()),
            _ if flag.starts_with("--") => return Err(format!("unknown flag {arg:?}")),
            _ => positional.push(arg),
        }
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
    let outcome = call(args, shared.clone()).await;
    if let Some(store) = &shared {
        shared_health::flush(store).await;
    }
    outcome
}

async fn call(args: Args, shared: Option<shared_health::Store>) -> Result<(), String> {
    let mut builder = Registry::builder();
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
    let mut request = Request::new().user(args.prompt);
    if let Some(system) = args.system {
        request = request.system(system);
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
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("chat: {message}");
            ExitCode::FAILURE
        }
    }
}
