//! Error attribution: decorators stamp the request's [`CallContext`] on every
//! error they pass on, so a failover log can say whom a failure affected.
//!
//! Class and message are never changed here, and a context already attached
//! further in (by an inner decorator) is kept.

use futures::StreamExt as _;

use crate::{CallContext, Error, EventStream};

/// `error` carrying `context`, unless it already carries one or there is nothing to say.
pub(crate) fn attribute(error: Error, context: &CallContext) -> Error {
    if error.context().is_some() || context.is_empty() {
        error
    } else {
        error.with_context(context.clone())
    }
}

/// `stream` with `context` stamped on its mid-stream errors as well.
pub(crate) fn attribute_stream(stream: EventStream, context: CallContext) -> EventStream {
    if context.is_empty() {
        return stream;
    }
    stream.map_inner(move |events| {
        events.map(move |item| item.map_err(|error| attribute(error, &context)))
    })
}
