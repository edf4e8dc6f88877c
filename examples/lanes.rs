//! Two callers share one lane of cap 2: `flood` submits 12 calls at once,
//! `occasional` submits one call every 1.5 seconds. Each call takes one second
//! (the fake provider's scripted delay, on tokio's paused clock, so the example
//! finishes at once). The order of service shows fair share at work, then the
//! same load under FIFO for contrast.
//!
//! ```sh
//! cargo run --example lanes
//! ```

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use majordomo::lanes::{LaneProvider, LaneRegistry, QueuePolicy};
use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{Model, Provider, Request};
use tokio::time::Instant;

async fn serve(policy: QueuePolicy) -> majordomo::Result<Vec<String>> {
    let fake = FakeProvider::new("fake");
    fake.set_default(
        "m",
        Outcome::delay(Duration::from_secs(1), Outcome::text("ok")),
    );
    let lanes = LaneRegistry::builder()
        .caps(|_: &str| Some(2))
        .policy(policy)
        .build();
    let model = LaneProvider::new(Arc::new(fake.clone()), lanes).model("m")?;
    let start = Instant::now();

    let call = move |model: Arc<dyn Model>, caller: &'static str, n: usize| async move {
        let request = Request::new().user("hi").caller(caller);
        let result = model.generate(request).await.map(|_| ());
        println!(
            "  t={:>4.1}s  {caller}#{n} done",
            start.elapsed().as_secs_f64()
        );
        result
    };
    let mut calls = Vec::new();
    for n in 1..=12 {
        calls.push(tokio::spawn(call(model.clone(), "flood", n)));
    }
    let occasional = {
        let model = model.clone();
        tokio::spawn(async move {
            for n in 1..=3 {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                call(model.clone(), "occasional", n).await?;
            }
            Ok::<(), majordomo::Error>(())
        })
    };
    for handle in calls {
        handle
            .await
            .map_err(|e| majordomo::Error::transport(e.to_string()))??;
    }
    occasional
        .await
        .map_err(|e| majordomo::Error::transport(e.to_string()))??;

    // The fake saw the calls in the order the lane admitted them.
    Ok(fake
        .requests("m")
        .iter()
        .map(|r| {
            r.call_context()
                .caller_id
                .as_deref()
                .unwrap_or("")
                .to_owned()
        })
        .collect())
}

fn summary(order: &[String]) -> String {
    let slots: Vec<String> = order
        .iter()
        .enumerate()
        .filter(|(_, caller)| caller.as_str() == "occasional")
        .map(|(slot, _)| (slot + 1).to_string())
        .collect();
    format!(
        "occasional served in slots {} of {}",
        slots.join(", "),
        order.len()
    )
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> majordomo::Result<()> {
    println!("fair share (the default):");
    let fair = serve(QueuePolicy::FairShare).await?;
    println!("FIFO:");
    let fifo = serve(QueuePolicy::Fifo).await?;
    println!("fair share: {}", summary(&fair));
    println!("FIFO:       {}", summary(&fifo));
    Ok(())
}
