//! [`Capabilities`]: what a model declares it can do. Unknown is not "no".

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::setters::chained_setters;

/// A feature a request may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Capability {
    /// Streaming responses.
    Streaming,
    /// Tool (function) calling.
    Tools,
    /// Image input.
    Images,
    /// Output constrained to a JSON schema.
    JsonSchema,
    /// Reasoning / extended thinking controls.
    Reasoning,
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Capability::Streaming => "streaming",
            Capability::Tools => "tools",
            Capability::Images => "images",
            Capability::JsonSchema => "JSON schema output",
            Capability::Reasoning => "reasoning",
        })
    }
}

/// What a model supports. Each flag is `None` when the model has not declared
/// it: the chain only skips a target for a capability declared `Some(false)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// Streaming responses.
    pub streaming: Option<bool>,
    /// Tool calling.
    pub tools: Option<bool>,
    /// Image input.
    pub images: Option<bool>,
    /// JSON schema output.
    pub json_schema: Option<bool>,
    /// Reasoning controls.
    pub reasoning: Option<bool>,
    /// Context window in tokens.
    pub context_window: Option<u32>,
    /// Maximum output tokens.
    pub max_output_tokens: Option<u32>,
}

impl Capabilities {
    /// Nothing declared.
    pub fn unknown() -> Self {
        Self::default()
    }

    chained_setters! {
        /// Declares streaming support.
        streaming(yes: bool) => streaming = Some(yes);
        /// Declares tool support.
        tools(yes: bool) => tools = Some(yes);
        /// Declares image input support.
        images(yes: bool) => images = Some(yes);
        /// Declares JSON schema output support.
        json_schema(yes: bool) => json_schema = Some(yes);
        /// Declares reasoning support.
        reasoning(yes: bool) => reasoning = Some(yes);
        /// Declares the context window.
        context_window(tokens: u32) => context_window = Some(tokens);
        /// Declares the output cap.
        max_output_tokens(tokens: u32) => max_output_tokens = Some(tokens);
    }

    /// Whether `capability` is declared: `Some(true)`, `Some(false)`, or `None`
    /// for "not declared".
    pub fn supports(&self, capability: Capability) -> Option<bool> {
        match capability {
            Capability::Streaming => self.streaming,
            Capability::Tools => self.tools,
            Capability::Images => self.images,
            Capability::JsonSchema => self.json_schema,
            Capability::Reasoning => self.reasoning,
        }
    }
}
