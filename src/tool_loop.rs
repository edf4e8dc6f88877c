//! The tool loop: generate → run every tool call → generate again with the
//! results, until the model answers without calling a tool (design §9, ADR 0016).

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use futures::StreamExt as _;

use crate::opaque::Opaque;
use crate::setters::chained_setters;
use crate::{
    Error, ErrorKind, Message, Model, Request, Response, Result, StreamAccumulator, StreamEvent,
    ToolResult, Toolbox, Usage,
};

type StepObserver = Arc<dyn Fn(&ToolStep<'_>) + Send + Sync>;
type EventObserver = Arc<dyn Fn(&StreamEvent) + Send + Sync>;

/// The default step limit: model calls per run.
pub const DEFAULT_MAX_STEPS: usize = 8;

/// Runs a conversation with tools to its end.
///
/// Each step is one model call. When the answer calls tools, every call is run
/// with the [`Toolbox`] — concurrently, results kept in call order, a panicking
/// or failing handler turned into an error result the model reads — and the
/// answer and the results are appended to the conversation for the next step.
/// The loop ends with the first answer that calls no tool, or with an
/// [`ErrorKind::StepLimit`] error once `max_steps` calls all asked for tools.
///
/// Each step is a separate call, so through a [`crate::Chain`] a failover
/// between steps is fine: the next target receives the whole conversation so
/// far (turns from another provider are sent safely, see the providers).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> majordomo::Result<()> {
/// use majordomo::providers::fake::{FakeProvider, Outcome};
/// use majordomo::{Provider, Request, Tool, ToolLoop, Toolbox};
/// use serde_json::json;
///
/// let fake = FakeProvider::new("fake");
/// fake.push("m", Outcome::tool_call("c1", "add", json!({"a": 2, "b": 3})))
///     .push("m", Outcome::text("2 + 3 = 5"));
/// let tools = Toolbox::new().raw(
///     Tool::new("add", "Adds", json!({"type": "object"})),
///     |args| async move { Ok((args["a"].as_i64().unwrap_or(0) + args["b"].as_i64().unwrap_or(0)).to_string()) },
/// );
/// let out = ToolLoop::new(tools)
///     .max_steps(4)
///     .observer(|step| assert!(step.step <= 2))
///     .run(&fake.model("m")?, Request::new().user("2 + 3?"))
///     .await?;
/// assert_eq!(out.response.text(), "2 + 3 = 5");
/// assert_eq!(out.steps, 2);
/// // user, assistant (tool call), tool (result "5"), assistant (answer)
/// assert_eq!(out.transcript.len(), 4);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ToolLoop {
    toolbox: Toolbox,
    max_steps: usize,
    stream: bool,
    observer: Option<Opaque<StepObserver>>,
    on_event: Option<Opaque<EventObserver>>,
}

/// One finished step, as the observer sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct ToolStep<'a> {
    /// 1 for the first model call.
    pub step: usize,
    /// The model's answer at this step.
    pub response: &'a Response,
    /// The results of the answer's tool calls, in call order; empty for the
    /// final answer.
    pub results: &'a [ToolResult],
}

/// What a finished loop returns.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ToolLoopOutput {
    /// The final answer (the one that called no tool), with its own usage.
    pub response: Response,
    /// The whole conversation: the request's messages, then every answer and
    /// every tool-results message, ending with the final answer. Send it back
    /// (`Request::messages_from`) to continue the conversation.
    pub transcript: Vec<Message>,
    /// Usage summed over every step.
    pub usage: Usage,
    /// Model calls made.
    pub steps: usize,
}

/// What an [`ErrorKind::StepLimit`] error carries; read it with
/// [`Error::step_limit`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StepLimit {
    /// The conversation so far, ending with the results of the last step's
    /// tool calls: ready to be sent again to go on.
    pub transcript: Vec<Message>,
    /// Usage summed over every step.
    pub usage: Usage,
    /// Model calls made (the limit).
    pub steps: usize,
}

impl fmt::Display for StepLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the model still called tools after {} step{}",
            self.steps,
            if self.steps == 1 { "" } else { "s" }
        )
    }
}

impl StdError for StepLimit {}

impl Error {
    /// The transcript and usage of an [`ErrorKind::StepLimit`] error.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> majordomo::Result<()> {
    /// use majordomo::providers::fake::{FakeProvider, Outcome};
    /// use majordomo::{ErrorKind, Provider, Request, Tool, ToolLoop, Toolbox};
    /// use serde_json::json;
    ///
    /// let fake = FakeProvider::new("fake");
    /// fake.set_default_all(Outcome::tool_call("c", "again", json!({})));
    /// let tools = Toolbox::new().raw(Tool::new("again", "Loops", json!({"type": "object"})), |_| async {
    ///     Ok("once more".to_owned())
    /// });
    /// let error = ToolLoop::new(tools)
    ///     .max_steps(3)
    ///     .run(&fake.model("m")?, Request::new().user("go"))
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::StepLimit);
    /// let limit = error.step_limit().unwrap();
    /// assert_eq!((limit.steps, limit.transcript.len()), (3, 7));
    /// // Resume: send the transcript again with a higher limit, or answer yourself.
    /// # Ok(()) }
    /// ```
    pub fn step_limit(&self) -> Option<&StepLimit> {
        self.source_as::<StepLimit>()
    }
}

impl ToolLoop {
    /// A loop over `toolbox`: at most [`DEFAULT_MAX_STEPS`] calls, with
    /// `generate`.
    pub fn new(toolbox: Toolbox) -> Self {
        ToolLoop {
            toolbox,
            max_steps: DEFAULT_MAX_STEPS,
            stream: false,
            observer: None,
            on_event: None,
        }
    }

    chained_setters! {
        /// The most model calls one run makes (at least 1).
        max_steps(steps: usize) => max_steps = steps.max(1);
        /// Calls `stream` instead of `generate` at each step; tool-call fragments
        /// are assembled into whole calls before they run.
        stream(yes: bool) => stream = yes;
    }

    /// Called after each step, with its answer and tool results.
    pub fn observer(mut self, observer: impl Fn(&ToolStep<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Opaque(Arc::new(observer)));
        self
    }

    /// Called with every stream event as it arrives (text deltas to print, for
    /// instance). Turns streaming on.
    pub fn on_event(mut self, observer: impl Fn(&StreamEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Opaque(Arc::new(observer)));
        self.stream = true;
        self
    }

    /// The toolbox.
    pub fn toolbox(&self) -> &Toolbox {
        &self.toolbox
    }

    /// Runs the loop on `model`, starting from `request`. The toolbox's tools
    /// are offered in addition to any the request already has (same-named
    /// ones are not added twice).
    ///
    /// # Errors
    /// The model's error at any step (the conversation so far is lost with it;
    /// retries and failover belong to the model, e.g. a chain), or
    /// [`ErrorKind::StepLimit`] with the transcript.
    pub async fn run<M: Model + ?Sized>(
        &self,
        model: &M,
        request: Request,
    ) -> Result<ToolLoopOutput> {
        let mut request = request;
        let missing: Vec<_> = self
            .toolbox
            .tools()
            .iter()
            .filter(|t| !request.tool_list().iter().any(|have| have.name == t.name))
            .cloned()
            .collect();
        request = request.tools(missing);
        let mut transcript: Vec<Message> = request.messages().to_vec();
        let mut usage = Usage::default();
        for step in 1..=self.max_steps {
            let response = self.call(model, request.clone()).await?;
            usage.add(&response.usage);
            let message = response.to_message();
            transcript.push(message.clone());
            let calls: Vec<_> = response.tool_calls().cloned().collect();
            if calls.is_empty() {
                self.notify(step, &response, &[]);
                return Ok(ToolLoopOutput {
                    response,
                    transcript,
                    usage,
                    steps: step,
                });
            }
            tracing::debug!(step, calls = calls.len(), "tool loop: running tool calls");
            let results = self.toolbox.execute_all(&calls).await;
            self.notify(step, &response, &results);
            let results_message = Message::tool_results(results);
            transcript.push(results_message.clone());
            request = request.message(message).message(results_message);
        }
        let payload = StepLimit {
            transcript,
            usage,
            steps: self.max_steps,
        };
        Err(Error::new(ErrorKind::StepLimit, payload.to_string())
            .with_context(request.call_context().clone())
            .with_source(payload))
    }

    async fn call<M: Model + ?Sized>(&self, model: &M, request: Request) -> Result<Response> {
        if !self.stream {
            return model.generate(request).await;
        }
        let mut stream = model.stream(request).await?;
        let (provider, name) = (stream.provider().to_owned(), stream.model().to_owned());
        let attempts = stream.attempts().to_vec();
        let mut acc = StreamAccumulator::new();
        while let Some(event) = stream.next().await {
            let event = event?;
            if let Some(on_event) = &self.on_event {
                on_event(&event);
            }
            acc.push(event);
        }
        let mut response = acc.finish(provider, name);
        response.attempts = attempts;
        Ok(response)
    }

    fn notify(&self, step: usize, response: &Response, results: &[ToolResult]) {
        if let Some(observer) = &self.observer {
            observer(&ToolStep {
                step,
                response,
                results,
            });
        }
    }
}
