//! Tools: the [`Tool`] declaration a model sees, and the [`Toolbox`] that runs calls.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures::FutureExt as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::message::{ToolCall, ToolResult};

/// A tool the model may call: a name, a description and a JSON schema for its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Tool {
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON schema of the arguments object.
    pub parameters: serde_json::Value,
}

impl Tool {
    /// A tool declaration.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: serde_json::Value,
    ) -> Self {
        Tool {
            name: name.into(),
            description: description.into(),
            parameters,
        }
    }
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<String, String>> + Send>>;
type Handler = Arc<dyn Fn(serde_json::Value) -> HandlerFuture + Send + Sync>;

/// A set of tools with async handlers.
///
/// [`Toolbox::execute`] never panics and never fails: an unknown tool, arguments
/// that do not fit, a handler error and a panicking handler all become a
/// [`ToolResult`] with `is_error` set, which the model can read and react to.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use majordomo::{Tool, Toolbox, ToolCall};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Add { a: i64, b: i64 }
///
/// let tools = Toolbox::new().typed(
///     Tool::new("add", "Adds two integers", serde_json::json!({
///         "type": "object",
///         "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
///         "required": ["a", "b"]
///     })),
///     |args: Add| async move { Ok::<_, String>((args.a + args.b).to_string()) },
/// );
/// let result = tools.execute(&ToolCall::new("c1", "add", serde_json::json!({"a": 2, "b": 3}))).await;
/// assert_eq!(result.content, "5");
/// assert!(!result.is_error);
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Toolbox {
    tools: Vec<Tool>,
    handlers: HashMap<String, Handler>,
}

impl Toolbox {
    /// An empty toolbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tool whose handler takes the raw JSON arguments and returns the
    /// result text, or an error text for the model.
    pub fn raw<F, Fut>(mut self, tool: Tool, handler: F) -> Self
    where
        F: Fn(serde_json::Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, String>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |args| Box::pin(handler(args)));
        self.insert(tool, handler);
        self
    }

    /// Adds a tool whose arguments are deserialized into `A` first; arguments that
    /// do not deserialize become an error result naming what was wrong.
    pub fn typed<A, F, Fut, E>(mut self, tool: Tool, handler: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, E>> + Send + 'static,
        E: fmt::Display,
    {
        let name = tool.name.clone();
        let handler = Arc::new(handler);
        let erased: Handler = Arc::new(move |args: serde_json::Value| {
            let handler = Arc::clone(&handler);
            let name = name.clone();
            Box::pin(async move {
                let parsed: A = serde_json::from_value(args)
                    .map_err(|e| format!("invalid arguments for tool {name:?}: {e}"))?;
                handler(parsed).await.map_err(|e| e.to_string())
            })
        });
        self.insert(tool, erased);
        self
    }

    fn insert(&mut self, tool: Tool, handler: Handler) {
        self.tools.retain(|t| t.name != tool.name);
        self.handlers.insert(tool.name.clone(), handler);
        self.tools.push(tool);
    }

    /// The declarations, for [`crate::Request::tools`].
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// True when no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Runs one call. Never panics; failures become error results.
    pub async fn execute(&self, call: &ToolCall) -> ToolResult {
        let result = self.run(call).await;
        let result = match result {
            Ok(content) => ToolResult::ok(&call.id, content),
            Err(message) => ToolResult::error(&call.id, message),
        };
        result.with_name(&call.name)
    }

    /// Runs calls concurrently, returning results in the order of `calls`.
    pub async fn execute_all<'a>(
        &self,
        calls: impl IntoIterator<Item = &'a ToolCall>,
    ) -> Vec<ToolResult> {
        futures::future::join_all(calls.into_iter().map(|c| self.execute(c))).await
    }

    async fn run(&self, call: &ToolCall) -> Result<String, String> {
        let Some(handler) = self.handlers.get(&call.name) else {
            let known: Vec<&str> = self.tools.iter().map(|t| t.name.as_str()).collect();
            return Err(format!(
                "unknown tool {:?}; available tools: {}",
                call.name,
                known.join(", ")
            ));
        };
        if !call.arguments.is_object() {
            return Err(format!(
                "invalid arguments for tool {:?}: expected a JSON object, got {}",
                call.name, call.arguments
            ));
        }
        // The handler is user code: contain a panic both while building the future
        // and while polling it, so the caller's loop survives.
        let handler = Arc::clone(handler);
        let args = call.arguments.clone();
        let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| handler(args))) {
            Ok(fut) => fut,
            Err(panic) => return Err(panic_message(&call.name, panic.as_ref())),
        };
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(result) => result,
            Err(panic) => Err(panic_message(&call.name, panic.as_ref())),
        }
    }
}

fn panic_message(tool: &str, panic: &(dyn std::any::Any + Send)) -> String {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("tool {tool:?} failed: handler panicked: {detail}")
}

impl fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Toolbox")
            .field(
                "tools",
                &self.tools.iter().map(|t| &t.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}
