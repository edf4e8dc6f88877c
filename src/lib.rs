// The README is the crate documentation, so docs.rs readers see what GitHub
// readers see, and its examples run as doc tests (the Redis one needs the `redis`
// feature and is compiled by `scripts/readme-snippets.sh` instead).
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod attribution;
mod chain;
mod dsn;
mod layer;
mod llm;
mod opaque;
mod registry;
mod scheme;
mod setters;
mod structured;
mod sync;
mod telemetry;
mod timeout;
mod tool_loop;
mod usage;

pub mod health;
pub mod lanes;
pub mod providers;
pub mod spec;

pub use chain::{
    AllBenched, Balancer, Chain, ChainConfig, ChainTarget, FailoverAction, FailoverEvent,
    FailoverObserver, Hedge, HedgeDelay, InFlight, RetryBudget, RoutingStrategy,
};
pub use layer::{Layers, ProviderLayer};
pub use llm::attempt::{Attempt, AttemptOutcome};
pub use llm::capabilities::{Capabilities, Capability};
pub use llm::check::{IMAGE_TOKEN_ESTIMATE, estimate_input_tokens, required_capabilities};
pub use llm::class::ErrorClass;
pub use llm::context::CallContext;
pub use llm::error::{
    Classifier, DefaultClassifier, Error, ErrorKind, Result, class_of_code, class_of_status,
};
pub use llm::message::{Image, ImageSource, Message, Part, Role, Thinking, ToolCall, ToolResult};
pub use llm::model::{Model, Provider};
pub use llm::request::{Options, ReasoningLevel, Request, ResponseFormat, ToolChoice};
pub use llm::response::{FinishReason, Response, Usage};
pub use llm::secret::Secret;
pub use llm::stream::{
    BoxedEventStream, EventStream, StreamAccumulator, StreamEvent, response_to_events,
};
pub use llm::target::Target;
pub use llm::tool::{Tool, Toolbox};
pub use timeout::{Deadlines, TimeoutLayer, TimeoutProvider};
pub use usage::{ModelPrice, PriceTable, UsageOutcome, UsageRecord, UsageSink};

/// The `schemars` version majordomo derives schemas with, for
/// `#[derive(JsonSchema)]` without a direct dependency
/// (`#[schemars(crate = "majordomo::schemars")]`).
#[cfg(feature = "schema")]
pub use schemars;
#[cfg(feature = "schema")]
pub use structured::schema_for;
pub use structured::{InvalidOutput, JsonOptions, ModelExt, SchemaMode, Structured};
pub use tool_loop::{DEFAULT_MAX_STEPS, StepLimit, ToolLoop, ToolLoopOutput, ToolStep};

pub use dsn::{Dsn, DsnError, DsnErrorKind};
pub use registry::{Registry, RegistryBuilder};
pub use scheme::{BuildContext, SchemeFactory};
pub use spec::{SpecError, SpecErrorKind, SpecTarget};

// Promises the API makes, checked at compile time.
#[allow(dead_code)]
fn _assert_api() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Error>();
    send_sync::<std::sync::Arc<dyn Model>>();
    send_sync::<std::sync::Arc<dyn Provider>>();
    send_sync::<health::HealthTracker>();
    send_sync::<Registry>();
    send_sync::<lanes::LaneRegistry>();
    send_sync::<lanes::LanePermit>();
    send_sync::<Layers>();
    send_sync::<Request>();
    send_sync::<ToolLoop>();
    send_sync::<JsonOptions>();
    send_sync::<Toolbox>();
    send::<EventStream>();
}
