//! A three-target failover chain on the fake provider: the first target is
//! overloaded, the second does not serve the model, the third answers.
//!
//! ```sh
//! cargo run --example failover
//! ```
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use majordomo::health::{FakeClock, HealthConfig, HealthTracker};
use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{
    Chain, ChainConfig, ChainTarget, Error, FailoverEvent, Model, Provider, Request, Target,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> majordomo::Result<()> {
    let fake = FakeProvider::new("fake");
    fake.set_default("busy", Outcome::error(Error::overloaded()))
        .set_default("gone", Outcome::error(Error::model_not_found("gone")))
        .set_default("steady", Outcome::text("Paris."));

    let config =
        ChainConfig::default().observer(|event: &FailoverEvent| println!("  step: {event}"));
    let health = HealthTracker::new(HealthConfig::default(), Arc::new(FakeClock::new()));
    let targets = ["busy", "gone", "steady"]
        .into_iter()
        .map(|model| {
            let target = Target::new(fake.name(), model)?;
            Ok(ChainTarget::new(target, None, fake.model(model)?))
        })
        .collect::<majordomo::Result<Vec<_>>>()?;
    let chain = Chain::new(targets, health.clone(), Arc::new(config));

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
    for status in health.snapshot().await {
        println!(
            "health: {} failures={} benched={}",
            status.target,
            status.health.consecutive_failures,
            status.admitted_at.is_some()
        );
    }
    Ok(())
}
