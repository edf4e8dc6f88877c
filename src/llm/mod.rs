//! The canonical LLM contract: messages, requests, responses, streams, tools,
//! capabilities, errors and the `Model`/`Provider` traits. No I/O lives here;
//! everything else in the crate depends on this module and it depends on nothing.

pub(crate) mod attempt;
pub(crate) mod capabilities;
pub(crate) mod check;
pub(crate) mod class;
pub(crate) mod context;
pub(crate) mod error;
pub(crate) mod message;
pub(crate) mod model;
pub(crate) mod observed;
mod parse;
pub(crate) mod queue_watch;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod scratch;
pub(crate) mod secret;
pub(crate) mod stream;
pub(crate) mod target;
pub(crate) mod text;
pub(crate) mod tool;
