//! Two replicas of an application sharing health through Redis: replica A
//! benches a failing target, and replica B skips it without ever calling it.
//!
//! ```sh
//! redis-server --port 6379 --save "" --appendonly no &
//! cargo run --features redis --example replicas -- redis://127.0.0.1:6379/
//! ```
//!
//! The URL may also come from `MAJORDOMO_REDIS_URL`. Each replica is a
//! `Registry` with its own `RedisStore` (in a real deployment, one per
//! process) and its own fake provider whose `flaky` model always answers 503.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use majordomo::health::{HealthConfig, RedisStore};
use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{AttemptOutcome, Model as _, Registry, Request, Target};

/// One replica: a registry whose health lives in Redis.
async fn replica(url: &str) -> Result<(Registry, FakeProvider), String> {
    let store = RedisStore::builder(url)
        .namespace("majordomo-replicas-example")
        .build()
        .map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_secs(5), store.synced(0))
        .await
        .map_err(|_| format!("Redis at {store:?} did not answer within 5 s"))?;
    let registry = Registry::builder()
        .env_vars(std::iter::empty::<(String, String)>())
        .health_config(HealthConfig::default().failure_threshold(1))
        .health_store(store)
        .build();
    let fake = FakeProvider::new("fake");
    fake.set_default("flaky", Outcome::status(503));
    fake.set_default("steady", Outcome::text("answered by fake/steady"));
    registry.register_provider(fake.clone());
    Ok((registry, fake))
}

async fn run(url: &str) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let (a, a_fake) = replica(url).await?;
    let (b, b_fake) = replica(url).await?;
    let flaky: Target = "fake/flaky".parse().map_err(|e| format!("{e}"))?;
    // A clean start, whatever an earlier run left in Redis.
    a.health().record_success(&flaky).await;

    let request = Request::new().user("hi");
    let spec = "fake/flaky,fake/steady";
    let answer = a
        .parse(spec)
        .map_err(|e| e.to_string())?
        .generate(request.clone())
        .await
        .map_err(|e| e.to_string())?;
    let _ = writeln!(
        out,
        "replica A: {:?} after fake/flaky failed {} time(s); A benched it",
        answer.text(),
        a_fake.calls("flaky")
    );

    let start = Instant::now();
    while !b.health().is_benched(&flaky).await {
        if start.elapsed() > Duration::from_secs(5) {
            return Err("replica B never saw the bench".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = writeln!(out, "replica B: saw A's bench after {:?}", start.elapsed());

    let answer = b
        .parse(spec)
        .map_err(|e| e.to_string())?
        .generate(request)
        .await
        .map_err(|e| e.to_string())?;
    let skipped = answer
        .attempts
        .iter()
        .any(|attempt| attempt.outcome == AttemptOutcome::Skipped && attempt.target == flaky);
    let _ = writeln!(
        out,
        "replica B: {:?}; fake/flaky skipped: {skipped}, called {} time(s) by B",
        answer.text(),
        b_fake.calls("flaky")
    );
    if !skipped || b_fake.calls("flaky") != 0 {
        return Err("replica B called a target that replica A had benched".into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("MAJORDOMO_REDIS_URL").ok())
        .unwrap_or_else(|| "redis://127.0.0.1:6379/".to_owned());
    match run(&url).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("replicas: {message}");
            ExitCode::FAILURE
        }
    }
}
