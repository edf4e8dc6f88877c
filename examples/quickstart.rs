//! The main demo: a failover chain over the fake provider — no keys, no network.
//!
//! Run: `cargo run --example quickstart`
//!
//! Swap `FakeProvider` for real providers (`LLM_*` DSNs or `OPENAI_API_KEY`, …) and
//! the same three lines at the bottom route real calls.

#![allow(clippy::print_stdout)] // an example talks to its user

use std::time::Duration;

use majordomo::health::{FakeClock, HealthConfig};
use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{Error, FailoverEvent, Model, Registry, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // A provider named "fake" with two models: "primary" is overloaded twice (the
    // first call and its retry), "backup" answers.
    let fake = FakeProvider::new("fake");
    fake.push_all(
        "primary",
        [
            Outcome::error(Error::overloaded()),
            Outcome::error(Error::overloaded()),
        ],
    );
    fake.set_default("primary", Outcome::text("Paris (from primary)."));
    fake.set_default("backup", Outcome::text("Paris."));

    let clock = FakeClock::new();
    let registry = Registry::builder()
        .without_env()
        .clock(clock.clone())
        .health_config(HealthConfig::default().failure_threshold(2))
        .observer(|event: &FailoverEvent| println!("  event: {event}"))
        .build();
    registry.register_provider(fake.clone());
    registry.register_alias("fast", "fake/primary,fake/backup")?;

    let model = registry.parse("fast")?;
    println!("spec \"fast\" expands to: {model}");

    let request = Request::new()
        .system("Answer in one word.")
        .user("What is the capital of France?")
        .caller("quickstart");

    let reply = model.generate(request.clone()).await?;
    println!(
        "answer: {} (from {}/{})",
        reply.text(),
        reply.provider,
        reply.model
    );
    for attempt in &reply.attempts {
        println!("  step: {attempt}");
    }

    // Two failures benched fake/primary: the next call goes straight to the backup.
    let reply = model.generate(request.clone()).await?;
    println!(
        "while primary is benched: {} (from {}/{}, primary called {} times)",
        reply.text(),
        reply.provider,
        reply.model,
        fake.calls("primary")
    );

    // Time on the health clock moves only when we move it.
    clock.advance(Duration::from_secs(31));
    let reply = model.generate(request).await?;
    println!(
        "after the cooldown: {} (from {}/{})",
        reply.text(),
        reply.provider,
        reply.model
    );
    Ok(())
}
