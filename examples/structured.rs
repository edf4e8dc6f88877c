//! Structured output on the fake provider — no keys, no network: a typed
//! answer (`generate_json::<T>()`) whose first try does not parse, and a
//! schema given at run time (`generate_json_value`).
//!
//! Run: `cargo run --example structured`
//!
//! Swap the fake for a real spec (`registry.parse("gpt-4o-mini")?`, …): the
//! schema then goes in the provider's native schema mode.

#![allow(clippy::print_stdout)] // an example talks to its user

use majordomo::providers::fake::{FakeProvider, Outcome};
use majordomo::{Error, JsonOptions, ModelExt, Registry, Request};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// What we want back.
#[derive(Deserialize, JsonSchema)]
struct Capital {
    country: String,
    city: String,
    population_millions: f64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let fake = FakeProvider::new("fake");
    // First answer: prose around half a JSON object. The model is asked again
    // with its answer and the parse error; the second answer is fenced JSON.
    fake.push("m", Outcome::text("Sure! {\"country\": \"France\", "))
        .push(
            "m",
            Outcome::text(
                "```json\n{\"country\": \"France\", \"city\": \"Paris\", \"population_millions\": 2.1}\n```",
            ),
        )
        .push("m", Outcome::text("{\"city\": \"Rome\", \"sunny\": true}"));

    let registry = Registry::builder().without_env().build();
    registry.register_provider(fake.clone());
    let model = registry.parse("fake/m")?;

    let answer = model
        .generate_json::<Capital>(Request::new().user("The capital of France, as JSON."))
        .await?;
    let capital = answer.value;
    println!(
        "typed: {} is the capital of {} ({} million people), after {} tries",
        capital.city, capital.country, capital.population_millions, answer.tries
    );
    let retry = &fake.requests("m")[1];
    println!("the retry said: {}", retry.messages()[2].text());

    let schema = json!({
        "type": "object",
        "properties": {"city": {"type": "string"}, "sunny": {"type": "boolean"}},
        "required": ["city", "sunny"]
    });
    let answer = model
        .generate_json_value_with(
            Request::new().user("Is it sunny in Rome?"),
            schema,
            JsonOptions::new().retries(1),
        )
        .await?;
    println!("dynamic: {}", answer.value);
    Ok(())
}
