//! Heap per chain call in flight: N calls on a two-target chain whose first
//! target never answers, all parked at once; the allocator's live bytes before
//! and after, divided by N. The model that never answers keeps nothing of its
//! own, so what is counted is the chain's (and the runtime task holding it).
//!
//! ```text
//! cargo run --release --bin memory -- 10000
//! ```
//!
//! Also: the same over majordomo's openai provider against a loopback server
//! that reads each request and never answers, which adds what reqwest and
//! hyper keep per open request (connection, buffers).

use std::alloc::System;
use std::sync::Arc;

use majordomo::health::HealthTracker;
use majordomo::{
    Capabilities, Chain, ChainConfig, ChainTarget, EventStream, Model, Request, Response, Result,
    Target,
};
use majordomo_peers::{Answer, serve};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A model that never answers and keeps nothing.
struct Never(Capabilities);

#[async_trait::async_trait]
impl Model for Never {
    fn capabilities(&self) -> &Capabilities {
        &self.0
    }

    async fn generate(&self, _request: Request) -> Result<Response> {
        std::future::pending().await
    }

    async fn stream(&self, _request: Request) -> Result<EventStream> {
        std::future::pending().await
    }
}

/// Starts `calls` copies of `call` as tasks, lets them all park, and returns
/// the live heap bytes they hold, per call.
async fn per_call<F, Fut>(calls: usize, call: F) -> f64
where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = ()> + 'static,
{
    // The requests exist before the count starts: a caller owns its request
    // whether or not it uses majordomo.
    let requests: Vec<Request> = (0..calls).map(|_| Request::new().user("hi")).collect();
    let mut tasks = Vec::with_capacity(calls);
    // Let earlier tasks' drops and the runtime settle before counting.
    for _ in 0..16 {
        tokio::task::yield_now().await;
    }
    let region = Region::new(GLOBAL);
    for request in requests {
        tasks.push(tokio::task::spawn_local(call(request)));
    }
    // Enough turns for every task to reach its park point (the HTTP case
    // waits for its connection and request write).
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
    let change = region.change();
    let live = change.bytes_allocated as f64 - change.bytes_deallocated as f64;
    // The task handles were counted too; they are the caller's, not ours.
    let handles = (calls * std::mem::size_of::<tokio::task::JoinHandle<()>>()) as f64;
    for task in &tasks {
        task.abort();
    }
    for task in tasks {
        let _ = task.await;
    }
    (live - handles) / calls as f64
}

/// The size of `model`'s boxed call futures (`&*`: the box's contents, not
/// the box). Over 1,032 bytes, glibc's malloc leaves its per-thread cache
/// for a slower path on every call.
fn print_future_sizes(what: &str, model: &dyn Model) {
    let generate = model.generate(Request::new().user("hi"));
    let stream = model.stream(Request::new().user("hi"));
    println!(
        "{what} call futures: generate {} bytes, stream {} bytes",
        std::mem::size_of_val(&*generate),
        std::mem::size_of_val(&*stream)
    );
}

fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    majordomo_peers::run_local(async {
        let never: Arc<dyn Model> = Arc::new(Never(Capabilities::default()));
        let targets = ["a", "b"]
            .iter()
            .map(|m| {
                Ok(ChainTarget::new(
                    Target::new("never", m)?,
                    None,
                    Arc::clone(&never),
                ))
            })
            .collect::<Result<Vec<_>>>()
            .expect("targets");
        let chain = Chain::new(
            targets,
            HealthTracker::default(),
            Arc::new(ChainConfig::default()),
        );
        print_future_sizes("chain", &chain);
        for (what, streaming) in [
            ("chain.generate in flight", false),
            ("chain.stream opening", true),
        ] {
            let bytes = per_call(calls, |request| {
                let chain = chain.clone();
                async move {
                    if streaming {
                        let _ = chain.stream(request).await;
                    } else {
                        let _ = chain.generate(request).await;
                    }
                }
            })
            .await;
            println!("{what}, model that never answers: {bytes:.0} bytes/call ({calls} calls)");
        }

        let model_bytes = per_call(calls, |request| {
            let never = Arc::clone(&never);
            async move {
                let _ = never.generate(request).await;
            }
        })
        .await;
        println!("the never-answering model alone: {model_bytes:.0} bytes/call");

        let http_calls = calls.min(500);
        let base = serve(Answer::Never).await;
        let registry = majordomo::Registry::builder()
            .without_env()
            .env_vars([(
                "LLM_SILENT",
                base.replacen("http://", "openai+http://k@", 1),
            )])
            .build();
        let http_chain = registry.parse("silent/gpt-4o").expect("chain");
        {
            use majordomo::Provider as _;
            let model = registry
                .provider("silent")
                .and_then(|p| p.model("gpt-4o"))
                .expect("model");
            print_future_sizes("openai model", &*model);
        }
        let http_bytes = per_call(http_calls, |request| {
            let chain = http_chain.clone();
            async move {
                let _ = chain.generate(request).await;
            }
        })
        .await;
        println!(
            "chain over the openai provider, silent loopback server: {http_bytes:.0} bytes/call ({http_calls} calls; includes the mock server's side of each connection)"
        );
    });
}
