//! Structured output: ask any [`Model`] for JSON of a given shape, parse it, and
//! ask again with the error fed back when the answer does not fit (design §9,
//! ADR 0016).
//!
//! [`ModelExt::generate_json`] takes the schema from a Rust type (feature
//! `schema`, on by default); [`ModelExt::generate_json_value`] takes a schema
//! at run time and validates the answer against it. Both are one-shot calls:
//! streaming a structured answer is not offered (a partial JSON value is of no
//! use to a caller that wants a typed one; stream the request yourself and
//! parse the folded text if you need progress).

#[cfg(feature = "schema")]
mod schema;
mod validate;
#[cfg(any(feature = "schema", feature = "gemini"))]
pub(crate) mod walk;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;

use serde_json::Value;

use crate::setters::chained_setters;
use crate::tool_loop::{ToolLoop, ToolLoopOutput};
use crate::{Attempt, Usage};
use crate::{Error, ErrorKind, Message, Model, Request, Response, ResponseFormat, Result, Toolbox};

#[cfg(feature = "schema")]
pub use schema::schema_for;

/// How the schema reaches the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SchemaMode {
    /// The provider's native schema mode unless the model declares it lacks
    /// [`crate::Capability::JsonSchema`] (`Some(false)`); then
    /// [`SchemaMode::Instructions`]. An undeclared capability counts as present:
    /// every built-in HTTP provider has a native mode.
    #[default]
    Auto,
    /// Always the native mode ([`ResponseFormat::JsonSchema`]).
    Native,
    /// JSON mode ([`ResponseFormat::Json`]) with the schema written into the
    /// system prompt, for models without a schema mode.
    Instructions,
}

/// Options for [`ModelExt::generate_json_with`] and
/// [`ModelExt::generate_json_value_with`].
///
/// ```
/// use majordomo::{JsonOptions, SchemaMode};
/// let options = JsonOptions::new().retries(1).name("Location").mode(SchemaMode::Instructions);
/// assert_eq!(options.max_retries(), 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JsonOptions {
    retries: u32,
    name: Option<String>,
    mode: SchemaMode,
    strict: bool,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            retries: 2,
            name: None,
            mode: SchemaMode::Auto,
            strict: true,
        }
    }
}

impl JsonOptions {
    /// Two retries, the schema's `title` (else `response`) as its name, the
    /// [`SchemaMode::Auto`] mode, strict where the provider can enforce it.
    pub fn new() -> Self {
        Self::default()
    }

    chained_setters! {
        /// How many times to ask again after an answer that does not parse or fit
        /// (default 2; 0 asks once).
        retries(retries: u32) => retries = retries;
        /// The schema's name, where the provider wants one (OpenAI).
        name(name: impl Into<String>) => name = Some(name.into());
        /// How the schema reaches the model.
        mode(mode: SchemaMode) => mode = mode;
        /// Whether to ask the provider to enforce the schema strictly where it can
        /// (default true; see [`ResponseFormat::JsonSchema`]).
        strict(strict: bool) => strict = strict;
    }

    /// The retry bound.
    pub fn max_retries(&self) -> u32 {
        self.retries
    }
}

/// A structured answer: the value, the [`Response`] it was read from, and how
/// many calls it took.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Structured<T> {
    /// The decoded value.
    pub value: T,
    /// The answer the value was read from. Its `usage` is the sum over every
    /// try and its `attempts` list every try's chain steps, in order.
    pub response: Response,
    /// Calls made: 1 when the first answer fitted.
    pub tries: u32,
}

/// What an [`ErrorKind::InvalidOutput`] error carries: the model's last answer
/// and why it did not fit. Read it with [`Error::invalid_output`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InvalidOutput {
    /// The last answer's text, as the model sent it.
    pub raw: String,
    /// Why it was refused (a JSON parse error, a schema mismatch, a
    /// deserialization error).
    pub reason: String,
    /// Calls made.
    pub tries: u32,
    /// Usage summed over every try.
    pub usage: Usage,
}

impl fmt::Display for InvalidOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the answer did not fit after {} tr{}: {}",
            self.tries,
            if self.tries == 1 { "y" } else { "ies" },
            self.reason
        )
    }
}

impl StdError for InvalidOutput {}

impl Error {
    /// The last answer and the reason for an [`ErrorKind::InvalidOutput`] error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> majordomo::Result<()> {
    /// use majordomo::providers::fake::{FakeProvider, Outcome};
    /// use majordomo::{ErrorKind, JsonOptions, ModelExt, Provider, Request};
    ///
    /// let fake = FakeProvider::new("fake");
    /// fake.set_default_all(Outcome::text("I'd rather not."));
    /// let error = fake
    ///     .model("m")?
    ///     .generate_json_value_with(Request::new().user("JSON?"), serde_json::json!({}), JsonOptions::new().retries(1))
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::InvalidOutput);
    /// let invalid = error.invalid_output().unwrap();
    /// assert_eq!((invalid.raw.as_str(), invalid.tries), ("I'd rather not.", 2));
    /// # Ok(()) }
    /// ```
    pub fn invalid_output(&self) -> Option<&InvalidOutput> {
        self.source_as::<InvalidOutput>()
    }
}

/// Structured output and the tool loop on every [`Model`]: single models,
/// chains and `Arc<dyn Model>` alike.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> majordomo::Result<()> {
/// use majordomo::providers::fake::{FakeProvider, Outcome};
/// use majordomo::{ModelExt, Provider, Request};
/// use serde_json::json;
///
/// let fake = FakeProvider::new("fake");
/// fake.push("m", Outcome::text("not json"))
///     .push("m", Outcome::text("```json\n{\"n\": 3}\n```"));
/// let model = fake.model("m")?;
/// let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
/// let answer = model.generate_json_value(Request::new().user("A number?"), schema).await?;
/// assert_eq!(answer.value, json!({"n": 3}));
/// assert_eq!(answer.tries, 2);
/// # Ok(()) }
/// ```
pub trait ModelExt: Model {
    /// Asks for a `T`, with its schema from [`schemars`] and the default
    /// [`JsonOptions`]. See [`ModelExt::generate_json_with`].
    ///
    /// # Errors
    /// As [`ModelExt::generate_json_with`].
    #[cfg(feature = "schema")]
    fn generate_json<T>(
        &self,
        request: Request,
    ) -> impl Future<Output = Result<Structured<T>>> + Send
    where
        T: serde::de::DeserializeOwned + schemars::JsonSchema + Send,
    {
        self.generate_json_with(request, JsonOptions::default())
    }

    /// Asks for a `T`: sends `T`'s schema (natively or in the instructions, per
    /// [`SchemaMode`]), reads the answer's JSON (a fenced ```` ```json ```` block
    /// is fine) and deserializes it. An answer that does not parse or
    /// deserialize is sent back with the error, and the model asked again, up
    /// to [`JsonOptions::retries`] times.
    ///
    /// # Errors
    /// The model's own error, or [`ErrorKind::InvalidOutput`] after the last
    /// retry ([`Error::invalid_output`] has the last raw text).
    #[cfg(feature = "schema")]
    fn generate_json_with<T>(
        &self,
        request: Request,
        options: JsonOptions,
    ) -> impl Future<Output = Result<Structured<T>>> + Send
    where
        T: serde::de::DeserializeOwned + schemars::JsonSchema + Send,
    {
        let schema = schema_for::<T>();
        async move {
            generate(self, request, schema, &options, false, |value| {
                serde_json::from_value::<T>(value)
                    .map_err(|e| format!("the JSON does not fit the expected shape: {e}"))
            })
            .await
        }
    }

    /// Asks for JSON matching `schema` (a JSON Schema given at run time) with
    /// the default [`JsonOptions`]. See [`ModelExt::generate_json_value_with`].
    ///
    /// # Errors
    /// As [`ModelExt::generate_json_value_with`].
    fn generate_json_value(
        &self,
        request: Request,
        schema: Value,
    ) -> impl Future<Output = Result<Structured<Value>>> + Send {
        self.generate_json_value_with(request, schema, JsonOptions::default())
    }

    /// Asks for JSON matching `schema` and validates the answer against it (a
    /// subset of JSON Schema, see ADR 0016: types, `enum`/`const`, properties,
    /// `required`, `additionalProperties`, items, sizes, bounds, combinators,
    /// local `$ref`s). An answer that does not parse or validate is sent back
    /// with the error, up to [`JsonOptions::retries`] times.
    ///
    /// # Errors
    /// The model's own error, or [`ErrorKind::InvalidOutput`] after the last retry.
    fn generate_json_value_with(
        &self,
        request: Request,
        schema: Value,
        options: JsonOptions,
    ) -> impl Future<Output = Result<Structured<Value>>> + Send {
        async move { generate(self, request, schema, &options, true, Ok).await }
    }

    /// Runs the tool loop with `toolbox` and the default [`ToolLoop`] settings.
    ///
    /// # Errors
    /// As [`ToolLoop::run`].
    fn run_tools<'a>(
        &'a self,
        request: Request,
        toolbox: &'a Toolbox,
    ) -> impl Future<Output = Result<ToolLoopOutput>> + Send + 'a {
        async move { ToolLoop::new(toolbox.clone()).run(self, request).await }
    }
}

impl<M: Model + ?Sized> ModelExt for M {}

/// The shared loop of both forms. `validate_first` checks the value against
/// `schema` before `decode` runs.
async fn generate<M, T, F>(
    model: &M,
    request: Request,
    schema: Value,
    options: &JsonOptions,
    validate_first: bool,
    decode: F,
) -> Result<Structured<T>>
where
    M: Model + ?Sized,
    F: Fn(Value) -> std::result::Result<T, String> + Send,
{
    let native = match options.mode {
        SchemaMode::Native => true,
        SchemaMode::Instructions => false,
        SchemaMode::Auto => model.capabilities().json_schema != Some(false),
    };
    let mut request = if native {
        let name = options
            .name
            .clone()
            .or_else(|| {
                schema
                    .get("title")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| "response".to_owned());
        request.response_format(ResponseFormat::JsonSchema {
            name,
            schema: schema.clone(),
            strict: options.strict,
        })
    } else {
        let instructions = schema_instructions(&schema);
        let system = match request.system_prompt() {
            Some(prompt) if !prompt.trim().is_empty() => format!("{prompt}\n\n{instructions}"),
            _ => instructions,
        };
        request.response_format(ResponseFormat::Json).system(system)
    };

    let mut usage = Usage::default();
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut tries = 0;
    loop {
        tries += 1;
        let response = model.generate(request.clone()).await?;
        usage.add(&response.usage);
        attempts.extend(response.attempts.iter().cloned());
        let raw = response.text();
        let outcome = parse_answer(&raw).and_then(|value| {
            if validate_first {
                validate::validate(&schema, &value)
                    .map_err(|e| format!("the JSON does not match the schema: {e}"))?;
            }
            decode(value)
        });
        let reason = match outcome {
            Ok(value) => {
                let mut response = response;
                response.usage = usage;
                response.attempts = attempts;
                return Ok(Structured {
                    value,
                    response,
                    tries,
                });
            }
            Err(reason) => reason,
        };
        tracing::debug!(tries, %reason, "structured output did not fit");
        if tries > options.retries {
            let payload = InvalidOutput {
                raw,
                reason,
                tries,
                usage,
            };
            return Err(Error::new(ErrorKind::InvalidOutput, payload.to_string())
                .with_provider(response.provider.as_str())
                .with_model(response.model.as_str())
                .with_attempts(attempts)
                .with_context(request.call_context().clone())
                .with_source(payload));
        }
        let said = if raw.trim().is_empty() {
            "(empty answer)".to_owned()
        } else {
            raw
        };
        request = request
            .message(Message::assistant(said))
            .user(retry_prompt(&reason));
    }
}

/// The instructions for [`SchemaMode::Instructions`].
fn schema_instructions(schema: &Value) -> String {
    format!(
        "Respond with a single JSON value that matches the JSON Schema below, and nothing else: \
         no prose, no code fences.\n\nJSON Schema:\n{schema}"
    )
}

/// The user turn that follows an answer that did not fit.
fn retry_prompt(reason: &str) -> String {
    format!(
        "Your previous answer could not be used: {reason}\n\
         Answer again with only the corrected JSON value, matching the requested schema: \
         no prose, no code fences."
    )
}

/// Reads the JSON value in an answer: the whole text, or the contents of its
/// first fenced block (```` ```json ```` or ```` ``` ````).
fn parse_answer(text: &str) -> std::result::Result<Value, String> {
    let body = unfence(text);
    if body.trim().is_empty() {
        return Err("the answer is empty; expected a JSON value".to_owned());
    }
    serde_json::from_str(body).map_err(|e| format!("the answer is not valid JSON: {e}"))
}

fn unfence(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(start) = trimmed.find("```") else {
        return trimmed;
    };
    // Whole text parses: a fence inside a JSON string is data, not a fence.
    if serde_json::from_str::<serde::de::IgnoredAny>(trimmed).is_ok() {
        return trimmed;
    }
    let after = &trimmed[start + 3..];
    // Skip the info string (`json`, `JSON`, …) up to the end of the line.
    let body = match after.find('\n') {
        Some(newline) => &after[newline + 1..],
        None => after,
    };
    match body.find("```") {
        Some(end) => body[..end].trim(),
        None => body.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fenced_and_bare_answers_parse() {
        for text in [
            "{\"a\": 1}",
            "  {\"a\": 1}\n",
            "```json\n{\"a\": 1}\n```",
            "```\n{\"a\": 1}\n```",
            "Here it is:\n```JSON\n{\"a\": 1}\n```\nEnjoy.",
            "```json\n{\"a\": 1}",
        ] {
            assert_eq!(parse_answer(text), Ok(json!({"a": 1})), "{text:?}");
        }
        assert_eq!(
            parse_answer("{\"code\": \"```x```\"}"),
            Ok(json!({"code": "```x```"}))
        );
        assert!(parse_answer("").unwrap_err().contains("empty"));
        assert!(
            parse_answer("sure! {")
                .unwrap_err()
                .starts_with("the answer is not valid JSON")
        );
    }

    #[test]
    fn usage_adds_known_fields() {
        let mut total = Usage::default();
        total.add(&Usage::new(10, 2));
        total.add(&Usage::new(5, 1).with_cached_input_tokens(3));
        assert_eq!(total, Usage::new(15, 3).with_cached_input_tokens(3));
    }
}
