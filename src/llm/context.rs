//! [`CallContext`]: who made a call, for attribution in lanes, errors, logs and usage records.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Who a call is for: read by lanes (fair share by caller), error attribution,
/// tracing and usage sinks. Never sent to a provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallContext {
    /// The caller (user, tenant, job) the call is made for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<Arc<str>>,
    /// The run (workflow, conversation, request) the call belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<Arc<str>>,
    /// Free-form labels for the host's own bookkeeping.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Record prompts and answers on the call's spans
    /// (`gen_ai.input.messages`, `gen_ai.output.messages`,
    /// `gen_ai.system_instructions`). Off by default: content is the user's
    /// data. A chain turns it on for its calls with
    /// [`crate::ChainConfig::capture_content`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub capture_content: bool,
}

impl CallContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the caller id.
    pub fn caller(mut self, caller_id: impl Into<Arc<str>>) -> Self {
        self.caller_id = Some(caller_id.into());
        self
    }

    /// Sets the run id.
    pub fn run(mut self, run_id: impl Into<Arc<str>>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }

    /// Adds (or replaces) a label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Turns content capture on or off (see [`CallContext::capture_content`]).
    pub fn capture_content(mut self, on: bool) -> Self {
        self.capture_content = on;
        self
    }

    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.caller_id.is_none()
            && self.run_id.is_none()
            && self.labels.is_empty()
            && !self.capture_content
    }
}
