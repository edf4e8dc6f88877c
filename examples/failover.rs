//! A three-target failover chain on the fake provider: the first target is
//! overloaded, the second does not serve the model, the third answers.
//!
//! ```sh
//! cargo run --example failover
//! ```
#![allow(clippy::print_stdout)]

use majordomo::health::FakeClock;
use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{Error, FailoverEvent, Model, Registry, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> majordomo::Result<()> {
    let fake = FakeProvider::new("fake");
    fake.set_default("busy", Outcome::error(Error::overloaded()))
        .set_default("gone", Outcome::error(Error::model_not_found("gone")))
        .set_default("steady", Outcome::text("Paris."));

    let registry = Registry::builder()
        .clock(FakeClock::new())
        .without_env()
        .observer(|event: &FailoverEvent| println!("  step: {event}"))
        .build();
    registry.register_provider(fake);

    let chain = registry.parse("fake/busy, fake/gone, fake/steady")?;
    println!("chain: {chain}");
    let request = Request::new().user("Capital of France?").caller("demo");
    let reply = chain.generate(request).await?;
    println!(
        "answer from {}/{}: {}",
        reply.provider,
        reply.model,
        reply.text()
    );
    for attempt in &reply.attempts {
        println!("  attempt: {attempt}");
    }
    for status in registry.health().snapshot().await {
        println!(
            "health: {} failures={} benched={}",
            status.target,
            status.health.consecutive_failures,
            status.admitted_at.is_some()
        );
    }
    Ok(())
}
