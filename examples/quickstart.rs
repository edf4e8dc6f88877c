//! The main demo: a model behind the fake provider, no keys, no network.
//!
//! Run: `cargo run --example quickstart`

#![allow(clippy::print_stdout)] // an example talks to its user

use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{Error, Model, Provider, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let fake = FakeProvider::new("fake");
    fake.push("small", Outcome::error(Error::overloaded()))
        .push("small", Outcome::text("Paris."));

    let model = fake.model("small")?;
    let request = Request::new()
        .system("Answer in one word.")
        .user("What is the capital of France?");

    match model.generate(request.clone()).await {
        Ok(reply) => println!("answer: {}", reply.text()),
        Err(e) => println!("first call failed ({}): {e}", e.class()),
    }
    let reply = model.generate(request).await?;
    println!(
        "answer: {} (from {}/{})",
        reply.text(),
        reply.provider,
        reply.model
    );
    println!("calls made to fake/small: {}", fake.calls("small"));
    Ok(())
}
