//! Turning a streamed HTTP body into [`StreamEvent`]s: a [`Framing`] cuts
//! bytes into frames (SSE events, NDJSON lines) and a provider's
//! [`FrameHandler`] turns frames into events. The driver enforces the rule
//! every provider shares: a body that ends before the handler has seen its
//! terminal marker is [`Error::stream_ended_early`], never a short answer.

use std::collections::VecDeque;

use bytes::Bytes;
use futures::{Stream, StreamExt as _};

use super::client::{HttpResponse, StreamLimits};
use super::errors;
use super::ndjson::LineDecoder;
use super::sse::{SseDecoder, SseEvent};
use crate::timeout::DeadlineStream;
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
    /// Bytes held for frames not complete yet (an unfinished line or event),
    /// checked against the cap on one event once every complete frame has
    /// been taken.
    fn buffered(&self) -> usize;
    /// The size of a complete frame, checked against the same cap (a whole
    /// oversized event can arrive in one chunk).
    fn frame_size(frame: &Self::Frame) -> usize;
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
    fn buffered(&self) -> usize {
        SseDecoder::buffered(self)
    }
    fn frame_size(frame: &SseEvent) -> usize {
        frame.data.len() + frame.event.len()
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
    fn buffered(&self) -> usize {
        LineDecoder::buffered(self)
    }
    fn frame_size(frame: &String) -> usize {
        frame.len()
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

    /// The server answered a stream request with one whole JSON document
    /// (`content-type: application/json`, body starting with `{` or `[`), as
    /// some proxies do. A handler that can read the provider's non-streamed
    /// answer turns it into events here. The default reports an error body
    /// as the error it is, and anything else as a request-specific error:
    /// this server will not stream this request, another target may.
    ///
    /// # Errors
    /// As described.
    fn on_whole_body(&mut self, body: &[u8], out: &mut VecDeque<StreamEvent>) -> Result<()> {
        let _ = out;
        whole_body_error(body)
    }
}

/// The error for a whole JSON body where a stream was expected.
pub fn whole_body_error(body: &[u8]) -> Result<()> {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        if json.get("error").is_some_and(|e| !e.is_null()) {
            return Err(errors::from_stream_event(&json, None));
        }
    }
    Err(Error::other(
        crate::ErrorClass::RequestSpecific,
        "asked for a stream, the server answered with one whole JSON body (content-type application/json)",
    ))
}

/// Largest whole JSON body read where a stream was expected.
const MAX_WHOLE_BODY: usize = super::client::MAX_BODY;

/// How the body is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A stream, as asked.
    Stream,
    /// The content type says JSON: the first bytes decide.
    MaybeWhole,
    /// One whole JSON document, collected until the end.
    Whole,
}

type ByteStream = std::pin::Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

struct Driver<Fr, H> {
    body: Option<ByteStream>,
    mode: Mode,
    whole: Vec<u8>,
    framing: Fr,
    handler: H,
    pending: VecDeque<StreamEvent>,
    failed: Option<Error>,
    finished: bool,
    target: Target,
    secret: Option<Secret>,
    /// Largest single frame, in bytes.
    max_event_size: usize,
}

/// The events of a streamed `response`, framed by `framing` and interpreted by
/// `handler`. Every error carries `target` (where it does not name one already).
///
/// The stream is bounded (ADR 0015): the first event must arrive within the
/// request timeout of the request being sent, each later one within the idle
/// timeout of the one before (comments, keep-alives and frames that carry no
/// event do not count), and one frame may not grow past the event size cap.
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
    let json = response
        .inner
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    let body: ByteStream = Box::pin(response.inner.bytes_stream());
    let mode = if json { Mode::MaybeWhole } else { Mode::Stream };
    let StreamLimits {
        started,
        first_event,
        idle,
        max_event_size,
    } = response.limits;
    let events = drive(
        body,
        mode,
        framing,
        handler,
        target.clone(),
        secret,
        max_event_size,
    );
    let first = (
        crate::timeout::instant_after(started, first_event),
        first_event,
    );
    DeadlineStream::new(Box::pin(events), target, Some(first), Some(idle))
}

/// The frames `framing` cuts `chunks` into, fed one after another (unit tests).
#[cfg(all(test, feature = "openai"))]
pub(crate) fn frames_of<F: Framing>(mut framing: F, chunks: &[&[u8]]) -> Vec<F::Frame> {
    let mut out = Vec::new();
    for c in chunks {
        framing.feed(c);
        while let Some(e) = framing.next_frame() {
            out.push(e);
        }
    }
    out
}

/// [`event_stream`] over any byte stream (unit tests feed recorded bytes).
#[cfg(test)]
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
    drive(
        body,
        Mode::Stream,
        framing,
        handler,
        target,
        secret,
        super::client::DEFAULT_MAX_EVENT_SIZE,
    )
}

fn drive<Fr, H>(
    body: ByteStream,
    mode: Mode,
    framing: Fr,
    handler: H,
    target: Target,
    secret: Option<Secret>,
    max_event_size: usize,
) -> impl Stream<Item = Result<StreamEvent>> + Send + 'static
where
    Fr: Framing,
    H: FrameHandler<Fr::Frame>,
{
    let driver = Driver {
        body: Some(body),
        mode,
        whole: Vec::new(),
        framing,
        handler,
        pending: VecDeque::new(),
        failed: None,
        finished: false,
        target,
        secret,
        max_event_size,
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
                Some(Ok(chunk)) => d.on_chunk(&chunk),
                Some(Err(e)) => {
                    d.body = None;
                    d.failed = Some(errors::from_transport(&e, d.secret.as_ref()));
                }
                None if d.mode == Mode::Whole => {
                    d.body = None;
                    let whole = std::mem::take(&mut d.whole);
                    match d.handler.on_whole_body(&whole, &mut d.pending) {
                        Ok(()) => d.finished = true,
                        Err(e) => d.failed = Some(e),
                    }
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
    fn on_chunk(&mut self, chunk: &[u8]) {
        if self.mode == Mode::MaybeWhole {
            match chunk.iter().find(|b| !b.is_ascii_whitespace()) {
                // Leading whitespace decides nothing and means nothing to
                // either reading: keep none of it, so endless whitespace
                // cannot grow memory.
                None => return,
                Some(b'{' | b'[') => self.mode = Mode::Whole,
                Some(_) => {
                    // Mislabelled, but a stream after all.
                    self.mode = Mode::Stream;
                    let head = std::mem::take(&mut self.whole);
                    self.framing.feed(&head);
                }
            }
        }
        if self.mode == Mode::Whole {
            if self.whole.len() + chunk.len() > MAX_WHOLE_BODY {
                self.body = None;
                self.failed = Some(Error::decode(format!(
                    "whole JSON body where a stream was expected is over {MAX_WHOLE_BODY} bytes"
                )));
                return;
            }
            self.whole.extend_from_slice(chunk);
            return;
        }
        self.framing.feed(chunk);
        self.drain_frames();
        if self.failed.is_none()
            && !self.handler.is_done()
            && self.framing.buffered() > self.max_event_size
        {
            self.too_large();
        }
    }

    /// Ends the stream: one event (finished or not) is over the cap.
    fn too_large(&mut self) {
        self.body = None;
        self.failed = Some(
            Error::decode(format!(
                "a single stream event is over {} bytes (the max_event_size limit)",
                self.max_event_size
            ))
            .with_code("stream_event_too_large"),
        );
    }

    fn drain_frames(&mut self) {
        while !self.handler.is_done() {
            let Some(frame) = self.framing.next_frame() else {
                return;
            };
            if Fr::frame_size(&frame) > self.max_event_size {
                self.too_large();
                return;
            }
            if let Err(e) = self.handler.on_frame(frame, &mut self.pending) {
                self.failed = Some(e);
                self.body = None;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts frames; done after a frame `end`.
    #[derive(Default)]
    struct Lines {
        done: bool,
    }

    impl FrameHandler<String> for Lines {
        fn on_frame(&mut self, frame: String, out: &mut VecDeque<StreamEvent>) -> Result<()> {
            if frame == "end" {
                self.done = true;
            } else {
                out.push_back(StreamEvent::text(frame));
            }
            Ok(())
        }
        fn is_done(&self) -> bool {
            self.done
        }
    }

    fn body(chunks: &[&'static [u8]]) -> ByteStream {
        let items: Vec<reqwest::Result<Bytes>> =
            chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Box::pin(futures::stream::iter(items))
    }

    async fn run(mode: Mode, chunks: &[&'static [u8]]) -> Vec<Result<StreamEvent>> {
        let target = Target::new("p", "m").unwrap();
        drive(
            body(chunks),
            mode,
            LineDecoder::new(),
            Lines::default(),
            target,
            None,
            16,
        )
        .collect()
        .await
    }

    #[tokio::test]
    async fn one_frame_over_the_cap_ends_the_stream() {
        // Unfinished: a line that never ends.
        let events = run(
            Mode::Stream,
            &[
                b"a
0123456789",
                b"0123456789",
            ],
        )
        .await;
        assert_eq!(events.len(), 2);
        let err = events[1].as_ref().unwrap_err();
        assert_eq!(err.code(), Some("stream_event_too_large"), "{err}");
        // Finished, but arrived whole in one chunk.
        let events = run(
            Mode::Stream,
            &[b"a
01234567890123456789
end
"],
        )
        .await;
        let err = events.last().unwrap().as_ref().unwrap_err();
        assert_eq!(err.code(), Some("stream_event_too_large"), "{err}");
        // Endless leading whitespace of a maybe-whole body is not kept.
        let blanks: &'static [u8] = b"                                        ";
        let events = run(
            Mode::MaybeWhole,
            &[
                blanks, blanks, blanks, b"a
end
",
            ],
        )
        .await;
        assert_eq!(events.len(), 1);
        assert!(events[0].is_ok());
    }

    #[tokio::test]
    async fn a_stream_ends_at_its_terminator_or_is_cut() {
        let events = run(Mode::Stream, &[b"a\nb", b"\nend\nignored\n"]).await;
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(Result::is_ok));
        let cut = run(Mode::Stream, &[b"a\n"]).await;
        let err = cut.last().unwrap().as_ref().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::StreamEndedEarly);
        assert_eq!(err.provider(), Some("p"));
    }

    #[tokio::test]
    async fn a_whole_json_body_is_not_mistaken_for_a_cut_stream() {
        let events = run(Mode::MaybeWhole, &[b"  ", b"{\"id\":1}"]).await;
        let err = events.last().unwrap().as_ref().unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::RequestSpecific, "{err}");
        assert!(err.to_string().contains("whole JSON body"), "{err}");

        let error_body = run(
            Mode::MaybeWhole,
            &[b"{\"error\":{\"message\":\"overloaded\",\"type\":\"overloaded_error\"}}"],
        )
        .await;
        let err = error_body.last().unwrap().as_ref().unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::Transient, "{err}");
        assert!(err.to_string().contains("overloaded"));

        // Labelled JSON but really a stream: read as a stream.
        let mislabelled = run(Mode::MaybeWhole, &[b"a\n", b"end\n"]).await;
        assert_eq!(mislabelled.len(), 1);
        assert!(mislabelled[0].is_ok());
    }

    /// Counts SSE events; never done (the body's end decides).
    #[derive(Default)]
    struct Events;

    impl FrameHandler<SseEvent> for Events {
        fn on_frame(&mut self, frame: SseEvent, out: &mut VecDeque<StreamEvent>) -> Result<()> {
            out.push_back(StreamEvent::text(frame.data));
            Ok(())
        }
        fn is_done(&self) -> bool {
            false
        }
        fn on_end(&mut self, _: &mut VecDeque<StreamEvent>) -> Result<()> {
            Ok(())
        }
    }

    fn owned_body(chunks: Vec<Vec<u8>>) -> ByteStream {
        let items: Vec<reqwest::Result<Bytes>> =
            chunks.into_iter().map(|c| Ok(Bytes::from(c))).collect();
        Box::pin(futures::stream::iter(items))
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        /// Whatever the bytes and their chunking, no frame larger than the cap
        /// gets through, and a stream that had one ends with the typed error.
        #[test]
        fn no_frame_over_the_cap_gets_through(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b'\n'),
                    proptest::strategy::Just(b'x'),
                    proptest::prelude::any::<u8>(),
                ],
                0..512,
            ),
            sizes in proptest::collection::vec(1usize..48, 1..8),
            sse in proptest::prelude::any::<bool>(),
        ) {
            const CAP: usize = 24;
            let chunks = crate::providers::http::chunk_by(&bytes, &sizes);
            let target = Target::new("p", "m").unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let items: Vec<Result<StreamEvent>> = runtime.block_on(async {
                if sse {
                    let s = drive(owned_body(chunks), Mode::Stream, SseDecoder::new(), Events, target, None, CAP);
                    s.collect().await
                } else {
                    let s = drive(owned_body(chunks), Mode::Stream, LineDecoder::new(), Lines::default(), target, None, CAP);
                    s.collect().await
                }
            });
            for (i, item) in items.iter().enumerate() {
                match item {
                    // A frame's bytes are capped; invalid UTF-8 read lossily
                    // turns one byte into a 3-byte U+FFFD, so count characters.
                    Ok(StreamEvent::TextDelta { text }) => {
                        proptest::prop_assert!(text.chars().count() <= CAP)
                    }
                    Ok(_) => {}
                    Err(e) => {
                        proptest::prop_assert_eq!(i, items.len() - 1, "an error ends the stream");
                        proptest::prop_assert!(
                            e.code() == Some("stream_event_too_large")
                                || e.kind() == crate::ErrorKind::StreamEndedEarly,
                            "{}", e
                        );
                    }
                }
            }
        }
    }
}
