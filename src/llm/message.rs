//! Conversation messages: [`Message`], [`Role`] and the [`Part`]s a message is made of.

use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Who a message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// Instructions to the model. Most providers take one system prompt; see
    /// [`crate::Request::system`].
    System,
    /// The human (or program) talking to the model.
    User,
    /// The model.
    Assistant,
    /// Results of tool calls, sent back to the model.
    Tool,
}

/// One piece of a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Part {
    /// Plain text.
    Text {
        /// The text.
        text: String,
    },
    /// An image, by URL or inline bytes.
    Image(Image),
    /// The model asks for a tool to be run.
    ToolCall(ToolCall),
    /// The result of running a tool, sent back to the model.
    ToolResult(ToolResult),
    /// The model's visible reasoning, or its redacted form, kept so that multi-turn
    /// reasoning can be sent back to the provider that produced it.
    Thinking(Thinking),
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Part::Text { text: text.into() }
    }

    /// The text of a text part.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Part::Text { text } => Some(text),
            _ => None,
        }
    }
}

/// An image part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Image {
    /// Where the image is.
    pub source: ImageSource,
}

impl Image {
    /// An image the provider (or our media pipeline) fetches from `url`.
    pub fn url(url: impl Into<String>) -> Self {
        Image {
            source: ImageSource::Url { url: url.into() },
        }
    }

    /// An image given as bytes with their media type (e.g. `image/png`).
    pub fn inline(media_type: impl Into<String>, data: impl Into<Bytes>) -> Self {
        Image {
            source: ImageSource::Inline {
                media_type: media_type.into(),
                data: data.into(),
            },
        }
    }
}

/// Where an image's bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ImageSource {
    /// A URL (http, https, or a `data:` URL).
    Url {
        /// The URL.
        url: String,
    },
    /// Bytes carried in the request. Serialized as base64.
    Inline {
        /// The media type, e.g. `image/jpeg`.
        media_type: String,
        /// The image bytes; cloning shares them.
        #[serde(serialize_with = "ser_base64", deserialize_with = "de_base64")]
        data: Bytes,
    },
}

fn ser_base64<S: Serializer>(data: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(data))
}

fn de_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    let text = String::deserialize(d)?;
    base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .map(Bytes::from)
        .map_err(serde::de::Error::custom)
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// The provider's id for the call; the result must carry the same id.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as JSON. If a provider sent arguments that are not valid
    /// JSON (a stream cut mid-call), they are kept as a JSON string, not dropped.
    pub arguments: serde_json::Value,
}

impl ToolCall {
    /// A tool call.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: serde_json::Value,
    ) -> Self {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments,
        }
    }
}

/// The result of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolResult {
    /// The id of the [`ToolCall`] this answers.
    pub call_id: String,
    /// The tool's name, where known (Gemini needs it; others ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the tool returned (or the error text, when `is_error`).
    pub content: String,
    /// True when the tool failed; the model reads `content` as the error.
    #[serde(default)]
    pub is_error: bool,
}

impl ToolResult {
    /// A successful result.
    pub fn ok(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ToolResult {
            call_id: call_id.into(),
            name: None,
            content: content.into(),
            is_error: false,
        }
    }

    /// A failed result; the model reads `message` as the error.
    pub fn error(call_id: impl Into<String>, message: impl Into<String>) -> Self {
        ToolResult {
            call_id: call_id.into(),
            name: None,
            content: message.into(),
            is_error: true,
        }
    }

    /// Sets the tool name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Reasoning the model showed (or hid), with what is needed to send it back.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Thinking {
    /// The reasoning text (empty when redacted).
    #[serde(default)]
    pub text: String,
    /// The provider's signature over the text (Anthropic), needed to send it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Opaque redacted reasoning (Anthropic `redacted_thinking`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
    /// The provider that produced it. Providers send back only their own thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl Thinking {
    /// Visible reasoning text.
    pub fn text(text: impl Into<String>) -> Self {
        Thinking {
            text: text.into(),
            ..Thinking::default()
        }
    }

    /// Sets the signature.
    pub fn with_signature(mut self, signature: impl Into<String>) -> Self {
        self.signature = Some(signature.into());
        self
    }

    /// Redacted reasoning data.
    pub fn redacted(data: impl Into<String>) -> Self {
        Thinking {
            redacted: Some(data.into()),
            ..Thinking::default()
        }
    }

    /// Sets the provider that produced it.
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }
}

/// A message: a role and its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// Who it is from.
    pub role: Role,
    /// What it says, in order.
    pub parts: Vec<Part>,
}

impl Message {
    /// A message with the given role and parts.
    pub fn new(role: Role, parts: Vec<Part>) -> Self {
        Message { role, parts }
    }

    /// A user message with one text part.
    pub fn user(text: impl Into<String>) -> Self {
        Message::new(Role::User, vec![Part::text(text)])
    }

    /// An assistant message with one text part.
    pub fn assistant(text: impl Into<String>) -> Self {
        Message::new(Role::Assistant, vec![Part::text(text)])
    }

    /// A system message with one text part.
    pub fn system(text: impl Into<String>) -> Self {
        Message::new(Role::System, vec![Part::text(text)])
    }

    /// A tool message carrying results.
    pub fn tool_results(results: impl IntoIterator<Item = ToolResult>) -> Self {
        Message::new(
            Role::Tool,
            results.into_iter().map(Part::ToolResult).collect(),
        )
    }

    /// Appends a part.
    pub fn with_part(mut self, part: Part) -> Self {
        self.parts.push(part);
        self
    }

    /// The concatenated text parts.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            if let Part::Text { text } = part {
                out.push_str(text);
            }
        }
        out
    }

    /// The tool calls in this message.
    pub fn tool_calls(&self) -> impl Iterator<Item = &ToolCall> {
        self.parts.iter().filter_map(|p| match p {
            Part::ToolCall(call) => Some(call),
            _ => None,
        })
    }

    /// The thinking parts in this message.
    pub fn thinking(&self) -> impl Iterator<Item = &Thinking> {
        self.parts.iter().filter_map(|p| match p {
            Part::Thinking(t) => Some(t),
            _ => None,
        })
    }
}
