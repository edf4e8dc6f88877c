//! Turning a streamed HTTP body into [`StreamEvent`]s: a [`Framing`] cuts
//! bytes into frames (SSE events, NDJSON lines) and a provider's
//! [`FrameHandler`] turns frames into events. The driver enforces the rule
//! every provider shares: a body that ends before the handler has seen its
//! terminal marker is [`Error::stream_ended_early`], never a short answer.

use std::collections::VecDeque;

use bytes::Bytes;
use futures::{Stream, StreamExt as _};

use super::client::HttpResponse;
use super::errors;
use super::ndjson::LineDecoder;
use super::sse::{SseDecoder, SseEvent};
use crate::{Error, Result, Secret, StreamEvent, Target};

/// Cuts a byte stream into frames.
pub trait Framing: Send + 'static {
    /// One frame.
    type Frame: Send;
    /// Adds bytes.
    fn feed(&mut self, chunk: &[u8]);
    /// The next complete frame.
    fn next_frame(&mut self) -> Option<Self::Frame>;
    /// At the end of the body: a last frame without its delimiter, if the
    /// framing accepts one.
    fn finish(&mut self) -> Option<Self::Frame>;
}

impl Framing for SseDecoder {
    type Frame = SseEvent;
    fn feed(&mut self, chunk: &[u8]) {
        SseDecoder::feed(self, chunk);
    }
    fn next_frame(&mut self) -> Option<SseEvent> {
        self.next_event()
    }
    fn finish(&mut self) -> Option<SseEvent> {
        // The SSE specification discards an event cut off by the end of the stream.
        None
    }
}

impl Framing for LineDecoder {
    type Frame = String;
    fn feed(&mut self, chunk: &[u8]) {
        LineDecoder::feed(self, chunk);
    }
    fn next_frame(&mut self) -> Option<String> {
        self.next_line()
    }
    fn finish(&mut self) -> Option<String> {
        LineDecoder::finish(self)
    }
}

/// A provider's stream state machine.
pub trait FrameHandler<F>: Send + 'static {
    /// Handles one frame, appending the events it means to `out`. An error
    /// (a mid-stream error event, undecodable JSON) ends the stream.
    ///
    /// # Errors
    /// Whatever the frame reports.
    fn on_frame(&mut self, frame: F, out: &mut VecDeque<StreamEvent>) -> Result<()>;

    /// True once the terminal marker (`[DONE]`, `message_stop`, `done:true`,
    /// a final finish reason) has been seen. The body is not read further.
    fn is_done(&self) -> bool;

    /// The body ended. The default: fine when done, else the stream was cut.
    ///
    /// # Errors
    /// [`Error::stream_ended_early`] unless done.
    fn on_end(&mut self, out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let _ = out;
        if self.is_done() {
            Ok(())
        } else {
            Err(Error::stream_ended_early())
        }
    }
}

type ByteStream = std::pin::Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

struct Driver<Fr, H> {
    body: Option<ByteStream>,
    framing: Fr,
    handler: H,
    pending: VecDeque<StreamEvent>,
    failed: Option<Error>,
    finished: bool,
    target: Target,
    secret: Option<Secret>,
}

/// The events of a streamed `response`, framed by `framing` and interpreted by
/// `handler`. Every error carries `target` (where it does not name one already).
pub fn event_stream<Fr, H>(
    response: HttpResponse,
    framing: Fr,
    handler: H,
    target: Target,
) -> impl Stream<Item = Result<StreamEvent>> + Send + 'static
where
    Fr: Framing,
    H: FrameHandler<Fr::Frame>,
{
    let secret = response.secret.clone();
    let body: ByteStream = Box::pin(response.inner.bytes_stream());
    event_stream_from_bytes(body, framing, handler, target, secret)
}

/// [`event_stream`] over any byte stream (tests and benchmarks feed recorded bytes).
pub(crate) fn event_stream_from_bytes<Fr, H>(
    body: ByteStream,
    framing: Fr,
    handler: H,
    target: Target,
    secret: Option<Secret>,
) -> impl Stream<Item = Result<StreamEvent>> + Send + 'static
where
    Fr: Framing,
    H: FrameHandler<Fr::Frame>,
{
    let driver = Driver {
        body: Some(body),
        framing,
        handler,
        pending: VecDeque::new(),
        failed: None,
        finished: false,
        target,
        secret,
    };
    futures::stream::unfold(driver, |mut d| async move {
        loop {
            if let Some(event) = d.pending.pop_front() {
                return Some((Ok(event), d));
            }
            if let Some(error) = d.failed.take() {
                d.finished = true;
                return Some((Err(error.or_target(&d.target)), d));
            }
            if d.finished {
                return None;
            }
            if d.handler.is_done() {
                // Stop reading: anything after the terminator is not ours.
                d.body = None;
                d.finished = true;
                continue;
            }
            let Some(body) = d.body.as_mut() else {
                d.finished = true;
                continue;
            };
            match body.next().await {
                Some(Ok(chunk)) => {
                    d.framing.feed(&chunk);
                    d.drain_frames();
                }
                Some(Err(e)) => {
                    d.body = None;
                    d.failed = Some(errors::from_transport(&e, d.secret.as_ref()));
                }
                None => {
                    d.body = None;
                    if let Some(frame) = d.framing.finish() {
                        if let Err(e) = d.handler.on_frame(frame, &mut d.pending) {
                            d.failed = Some(e);
                            continue;
                        }
                    }
                    match d.handler.on_end(&mut d.pending) {
                        Ok(()) => d.finished = true,
                        Err(e) => d.failed = Some(e),
                    }
                }
            }
        }
    })
}

impl<Fr: Framing, H: FrameHandler<Fr::Frame>> Driver<Fr, H> {
    fn drain_frames(&mut self) {
        while !self.handler.is_done() {
            let Some(frame) = self.framing.next_frame() else {
                return;
            };
            if let Err(e) = self.handler.on_frame(frame, &mut self.pending) {
                self.failed = Some(e);
                self.body = None;
                return;
            }
        }
    }
}
