//! [`Request`]: everything a model call needs, built with chainable methods.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::context::CallContext;
use super::message::{Image, Message, Part, Role, ToolResult};
use super::scratch::CallScratch;
use super::tool::Tool;
use crate::setters::chained_setters;

/// How hard the model should think. Providers map the level onto their own
/// controls (OpenAI `reasoning_effort`, Anthropic thinking budget, Gemini
/// `thinkingConfig`, Ollama `think`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReasoningLevel {
    /// No reasoning.
    Off,
    /// The least reasoning the provider offers.
    Minimal,
    /// Low effort.
    Low,
    /// Medium effort.
    Medium,
    /// High effort.
    High,
    /// The most the provider offers.
    Max,
    /// An explicit thinking-token budget.
    Budget(u32),
}

impl ReasoningLevel {
    /// A token budget for providers that take one, derived from the level.
    /// `None` for [`ReasoningLevel::Off`].
    pub fn token_budget(self) -> Option<u32> {
        Some(match self {
            ReasoningLevel::Off => return None,
            ReasoningLevel::Minimal => 1024,
            ReasoningLevel::Low => 2048,
            ReasoningLevel::Medium => 8192,
            ReasoningLevel::High => 16384,
            ReasoningLevel::Max => 32768,
            ReasoningLevel::Budget(n) => n,
        })
    }
}

impl fmt::Display for ReasoningLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReasoningLevel::Off => f.write_str("off"),
            ReasoningLevel::Minimal => f.write_str("minimal"),
            ReasoningLevel::Low => f.write_str("low"),
            ReasoningLevel::Medium => f.write_str("medium"),
            ReasoningLevel::High => f.write_str("high"),
            ReasoningLevel::Max => f.write_str("max"),
            ReasoningLevel::Budget(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for ReasoningLevel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ReasoningLevel::Budget(n) => s.serialize_u32(*n),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for ReasoningLevel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Budget(u32),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Budget(n) => Ok(ReasoningLevel::Budget(n)),
            Raw::Name(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Which tool the model may or must call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "name", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolChoice {
    /// The model decides (the default).
    #[default]
    Auto,
    /// No tool calls.
    None,
    /// At least one tool call.
    Required,
    /// A call to this tool.
    Tool(String),
}

/// The shape of the answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseFormat {
    /// Free text (the default).
    #[default]
    Text,
    /// Any JSON object.
    Json,
    /// JSON matching a schema.
    JsonSchema {
        /// A name for the schema (OpenAI requires one).
        name: String,
        /// The JSON schema.
        schema: serde_json::Value,
        /// Ask the provider to enforce the schema strictly where it can.
        #[serde(default)]
        strict: bool,
    },
}

/// Sampling and length options. All optional: unset means the provider's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Options {
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Cap on output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// Sampling seed, where supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// A model call: messages, system prompt, options, tools, reasoning level,
/// response format and the call context.
///
/// Cloning is cheap: everything but the reasoning level and the per-call
/// scratch is shared until changed (one reference count), so the chain can
/// hand each attempt its own copy, and moving a request moves a few words.
///
/// ```
/// use majordomo::{Request, ReasoningLevel};
/// let req = Request::new()
///     .system("Answer briefly.")
///     .user("What is the capital of France?")
///     .temperature(0.2)
///     .reasoning(ReasoningLevel::Low)
///     .caller("user-42");
/// assert_eq!(req.messages().len(), 1);
/// assert_eq!(req.system_prompt(), Some("Answer briefly."));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Request {
    /// What is sent and who for, shared by clones until one changes it.
    body: Arc<Body>,
    /// Kept apart from the body: a chain's `#level` suffix changes it per
    /// target, and that must not copy the messages.
    reasoning: Option<ReasoningLevel>,
    scratch: CallScratch,
    queue: super::queue_watch::QueueWatch,
}

/// A request's shared part. Its fields (with the reasoning level) are the
/// request's serialized form, in this order ([`RequestWire`]).
#[derive(Debug, Clone, Default, PartialEq)]
struct Body {
    system: Option<Arc<str>>,
    messages: Vec<Message>,
    options: Options,
    tools: Vec<Tool>,
    tool_choice: ToolChoice,
    response_format: ResponseFormat,
    context: CallContext,
    affinity: Option<Arc<str>>,
}

/// The serialized form of a [`Request`]: a flat object, unchanged by the
/// request's shared layout. Generic so that one definition serializes
/// borrowed fields and deserializes owned ones.
#[derive(Serialize, Deserialize)]
#[serde(bound(
    serialize = "S: Serialize, M: Serialize, O: Serialize, T: Serialize + AsRef<[Tool]>, \
                 C: Serialize, F: Serialize, X: Serialize + std::borrow::Borrow<CallContext>",
    deserialize = "S: Deserialize<'de>, M: Deserialize<'de> + Default, \
                   O: Deserialize<'de> + Default, T: Deserialize<'de> + Default, \
                   C: Deserialize<'de> + Default, F: Deserialize<'de> + Default, \
                   X: Deserialize<'de> + Default"
))]
struct RequestWire<S, M, O, T, C, F, X> {
    #[serde(default, skip_serializing_if = "is_none")]
    system: Option<S>,
    #[serde(default)]
    messages: M,
    #[serde(default)]
    options: O,
    #[serde(default, skip_serializing_if = "is_empty")]
    tools: T,
    #[serde(default)]
    tool_choice: C,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reasoning: Option<ReasoningLevel>,
    #[serde(default)]
    response_format: F,
    #[serde(default, skip_serializing_if = "is_empty_context")]
    context: X,
    #[serde(default, skip_serializing_if = "is_none")]
    affinity: Option<S>,
}

fn is_none<S>(value: &Option<S>) -> bool {
    value.is_none()
}

fn is_empty<T: AsRef<[Tool]>>(tools: &T) -> bool {
    tools.as_ref().is_empty()
}

fn is_empty_context<X: std::borrow::Borrow<CallContext>>(context: &X) -> bool {
    context.borrow().is_empty()
}

impl Serialize for Request {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let body = &*self.body;
        RequestWire {
            system: body.system.as_deref(),
            messages: &body.messages,
            options: &body.options,
            tools: body.tools.as_slice(),
            tool_choice: &body.tool_choice,
            reasoning: self.reasoning,
            response_format: &body.response_format,
            context: &body.context,
            affinity: body.affinity.as_deref(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        type Owned = RequestWire<
            Arc<str>,
            Vec<Message>,
            Options,
            Vec<Tool>,
            ToolChoice,
            ResponseFormat,
            CallContext,
        >;
        let wire = Owned::deserialize(deserializer)?;
        let request = Request {
            body: Arc::new(Body {
                system: wire.system,
                messages: wire.messages,
                options: wire.options,
                tools: wire.tools,
                tool_choice: wire.tool_choice,
                response_format: wire.response_format,
                context: wire.context,
                affinity: wire.affinity,
            }),
            reasoning: wire.reasoning,
            scratch: CallScratch::default(),
            queue: Default::default(),
        };
        Ok(request.with_scratch_for_images())
    }
}

/// Whether any of `messages` holds an image.
pub(crate) fn has_images(messages: &[Message]) -> bool {
    messages
        .iter()
        .any(|m| m.parts.iter().any(|p| matches!(p, Part::Image(_))))
}

impl Request {
    /// An empty request.
    pub fn new() -> Self {
        Self::default()
    }

    // ----- building -----

    /// Appends a user message with one text part.
    pub fn user(self, text: impl Into<String>) -> Self {
        self.message(Message::user(text))
    }

    /// Appends a user message with text and an image.
    pub fn user_with_image(self, text: impl Into<String>, image: Image) -> Self {
        self.message(Message::new(
            Role::User,
            vec![Part::text(text), Part::Image(image)],
        ))
    }

    /// Appends an assistant message with one text part.
    pub fn assistant(self, text: impl Into<String>) -> Self {
        self.message(Message::assistant(text))
    }

    /// Appends tool results.
    pub fn tool_results(self, results: impl IntoIterator<Item = ToolResult>) -> Self {
        self.message(Message::tool_results(results))
    }

    /// Appends a message.
    pub fn message(self, message: Message) -> Self {
        self.messages_from([message])
    }

    /// Appends messages.
    pub fn messages_from(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        let list = &mut self.body_mut().messages;
        let before = list.len();
        list.extend(messages);
        if !self.scratch.is_shared() && has_images(&self.body.messages[before..]) {
            // Clones of a request with images share what is fetched for them.
            self.scratch = CallScratch::fresh();
        }
        self
    }

    /// The shared part, copied first if another request shares it.
    fn body_mut(&mut self) -> &mut Body {
        Arc::make_mut(&mut self.body)
    }

    /// This request with a call scratch when it holds an image.
    fn with_scratch_for_images(mut self) -> Self {
        if has_images(&self.body.messages) {
            self.scratch = CallScratch::fresh();
        }
        self
    }

    chained_setters! {
        via body_mut;
        /// Sets the system prompt.
        system(text: impl Into<String>) => system = Some(Arc::from(text.into()));
        /// Sets the temperature.
        temperature(temperature: f32) => options.temperature = Some(temperature);
        /// Sets top-p.
        top_p(top_p: f32) => options.top_p = Some(top_p);
        /// Caps output tokens.
        max_tokens(max_tokens: u32) => options.max_tokens = Some(max_tokens);
        /// Sets the sampling seed.
        seed(seed: u64) => options.seed = Some(seed);
        /// Replaces all options.
        options(options: Options) => options = options;
        /// Sets the tool choice.
        tool_choice(choice: ToolChoice) => tool_choice = choice;
        /// Sets the response format.
        response_format(format: ResponseFormat) => response_format = format;
        /// Sets the caller id of the call context.
        caller(caller_id: impl Into<Arc<str>>) => context.caller_id = Some(caller_id.into());
        /// Sets the run id of the call context.
        run_id(run_id: impl Into<Arc<str>>) => context.run_id = Some(run_id.into());
        /// Replaces the call context.
        context(context: CallContext) => context = context;
        /// Records this call's prompt and answer on its spans (off by default;
        /// see [`CallContext::capture_content`]).
        capture_content(on: bool) => context.capture_content = on;
    }

    chained_setters! {
        /// Sets the reasoning level.
        reasoning(level: ReasoningLevel) => reasoning = Some(level);
    }

    /// Adds a stop sequence.
    pub fn stop(mut self, stop: impl Into<String>) -> Self {
        self.body_mut().options.stop.push(stop.into());
        self
    }

    /// Offers a tool to the model.
    pub fn tool(self, tool: Tool) -> Self {
        self.tools([tool])
    }

    /// Offers tools to the model.
    pub fn tools(mut self, tools: impl IntoIterator<Item = Tool>) -> Self {
        self.body_mut().tools.extend(tools);
        self
    }

    /// Asks for output matching a JSON schema.
    pub fn json_schema(self, name: impl Into<String>, schema: serde_json::Value) -> Self {
        self.response_format(ResponseFormat::JsonSchema {
            name: name.into(),
            schema,
            strict: true,
        })
    }

    /// Adds a label to the call context.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.body_mut()
            .context
            .labels
            .insert(key.into(), value.into());
        self
    }

    /// Sets the affinity key (a user or conversation id): a group sends calls
    /// with the same key to the same healthy member (rendezvous hashing), so
    /// the provider's prompt cache stays warm. When that member is benched the
    /// key moves to another, and moves back when it returns.
    ///
    /// ```
    /// let req = majordomo::Request::new().user("hi").affinity("conversation-9");
    /// assert_eq!(req.affinity_key(), Some("conversation-9"));
    /// ```
    pub fn affinity(mut self, key: impl Into<String>) -> Self {
        self.body_mut().affinity = Some(Arc::from(key.into()));
        self
    }

    // ----- reading -----

    /// The affinity key, if set.
    pub fn affinity_key(&self) -> Option<&str> {
        self.body.affinity.as_deref()
    }

    /// The system prompt.
    pub fn system_prompt(&self) -> Option<&str> {
        self.body.system.as_deref()
    }

    /// The messages, in order.
    pub fn messages(&self) -> &[Message] {
        &self.body.messages
    }

    /// The sampling options.
    pub fn model_options(&self) -> &Options {
        &self.body.options
    }

    /// The tools offered.
    pub fn tool_list(&self) -> &[Tool] {
        &self.body.tools
    }

    /// The tool choice.
    pub fn tool_choice_mode(&self) -> &ToolChoice {
        &self.body.tool_choice
    }

    /// The reasoning level, if set.
    pub fn reasoning_level(&self) -> Option<ReasoningLevel> {
        self.reasoning
    }

    /// The response format.
    pub fn output_format(&self) -> &ResponseFormat {
        &self.body.response_format
    }

    /// The call context.
    pub fn call_context(&self) -> &CallContext {
        &self.body.context
    }

    /// Mutable access to the messages (copied on first write if shared).
    pub fn messages_mut(&mut self) -> &mut Vec<Message> {
        &mut self.body_mut().messages
    }

    /// The per-call scratch (the HTTP layer's media cache lives there),
    /// shared by clones of this request.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn scratch(&self) -> &CallScratch {
        &self.scratch
    }

    /// Starts a fresh scratch. A chain calls this once per call: its retries
    /// and failovers then share fetched images, while separate calls with
    /// clones of one request never see each other's fetches (or failures).
    pub(crate) fn renew_scratch(&mut self) {
        self.scratch = if has_images(&self.body.messages) {
            CallScratch::fresh()
        } else {
            CallScratch::default()
        };
    }

    /// The lane-queue watch a timeout decorator put on this request.
    pub(crate) fn queue_watch(&self) -> &super::queue_watch::QueueWatch {
        &self.queue
    }

    /// Puts a lane-queue watch on this request (see `lanes::QueueWatch`).
    pub(crate) fn set_queue_watch(&mut self, watch: super::queue_watch::QueueWatch) {
        self.queue = watch;
    }

    /// Sets the reasoning level in place (used by the chain for `#level` targets).
    pub fn set_reasoning(&mut self, level: Option<ReasoningLevel>) {
        self.reasoning = level;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_request_with_images_holds_a_shared_scratch() {
        let text = Request::new().user("hi").tool(Tool::new(
            "t",
            "a tool",
            serde_json::json!({"type": "object"}),
        ));
        assert!(!text.scratch().is_shared());
        let with_image = text
            .clone()
            .user_with_image("and this?", Image::url("https://example.com/a.png"));
        assert!(with_image.scratch().is_shared());

        // A chain's renewal follows the messages, images added any way.
        let mut renewed = text.clone();
        renewed.renew_scratch();
        assert!(!renewed.scratch().is_shared());
        renewed.messages_mut().push(Message::new(
            Role::User,
            vec![Part::Image(Image::url("https://example.com/b.png"))],
        ));
        renewed.renew_scratch();
        assert!(renewed.scratch().is_shared());
    }

    #[test]
    fn clones_share_the_body_until_one_changes_and_the_level_never_copies_it() {
        let original = Request::new().system("be brief").user("hi").label("k", "v");
        let mut leveled = original.clone();
        leveled.set_reasoning(Some(ReasoningLevel::High));
        assert!(Arc::ptr_eq(&original.body, &leveled.body));
        assert_eq!(leveled.reasoning_level(), Some(ReasoningLevel::High));
        assert_eq!(original.reasoning_level(), None);

        // A change to a clone copies the body first: the original is untouched.
        let changed = original
            .clone()
            .user("more")
            .temperature(0.5)
            .label("k", "w");
        assert!(!Arc::ptr_eq(&original.body, &changed.body));
        assert_eq!(original.messages().len(), 1);
        assert_eq!(original.model_options().temperature, None);
        assert_eq!(original.call_context().labels["k"], "v");
        assert_eq!(changed.messages().len(), 2);
        assert_eq!(changed.call_context().labels["k"], "w");
        assert_eq!(changed.system_prompt(), Some("be brief"));
    }

    #[test]
    fn no_tools_and_empty_tools_read_and_compare_alike() {
        let none = Request::new().user("hi");
        let empty = none.clone().tools([]);
        assert_eq!(none, empty);
        assert!(empty.tool_list().is_empty());
        let json = serde_json::to_value(&none).unwrap();
        assert!(json.get("tools").is_none());
        let with = none.tool(Tool::new(
            "t",
            "a tool",
            serde_json::json!({"type": "object"}),
        ));
        let back: Request = serde_json::from_value(serde_json::to_value(&with).unwrap()).unwrap();
        assert_eq!(back.tool_list().len(), 1);
        assert_eq!(back, with);
        let listed: Request =
            serde_json::from_value(serde_json::json!({"messages": [], "tools": []})).unwrap();
        assert_eq!(listed, Request::new());
    }
}
