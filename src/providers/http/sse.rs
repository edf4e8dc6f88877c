//! A Server-Sent Events decoder, written to the WHATWG HTML specification's
//! "event stream interpretation" and linear in its input (ADR 0010).
//!
//! Bytes arrive in chunks of any size, split anywhere (inside a line, inside a
//! `\r\n`, inside a UTF-8 sequence). The decoder appends each chunk to one
//! buffer, scans each byte once (an unfinished line is not rescanned) and drops
//! consumed bytes in bulk, so the cost per event does not grow with the chunk
//! size; events are decoded one at a time as they are taken.

/// One dispatched event: its `event:` name (empty when none was given), its
/// data (multiple `data:` lines joined with `\n`) and its last `id:`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, or empty.
    pub event: String,
    /// The joined `data:` fields.
    pub data: String,
    /// The last `id:` field seen, or empty.
    pub id: String,
}

/// Incremental SSE decoder: [`SseDecoder::feed`] bytes, then take events with
/// [`SseDecoder::next_event`].
///
/// Decoding is lazy: `next_event` reads just far enough for one event, so a
/// large chunk holding hundreds of events never has them all alive at once.
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes fed and not consumed yet; `pending[pos..]` is unread.
    pending: Vec<u8>,
    pos: usize,
    /// `pending[pos..pos + scanned]` is known to hold no line end.
    scanned: usize,
    /// The previous line ended in `\r`: a `\n` right after it belongs to it.
    after_cr: bool,
    /// Still at the start of the stream (a UTF-8 BOM is skipped there).
    at_start: bool,
    fields: Fields,
}

/// The event being assembled and the events ready to be taken.
#[derive(Debug, Default)]
struct Fields {
    event: String,
    data: String,
    has_data: bool,
    last_id: String,
    ready: Option<SseEvent>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        SseDecoder {
            at_start: true,
            ..SseDecoder::default()
        }
    }

    /// Adds bytes; complete events become available from [`Self::next_event`].
    pub fn feed(&mut self, chunk: &[u8]) {
        // Drop consumed bytes once they are at least half the buffer, so each
        // byte is moved a bounded number of times (amortized linear).
        if self.pos == self.pending.len() {
            self.pending.clear();
            self.pos = 0;
        } else if self.pos > 0 && self.pos >= self.pending.len() / 2 {
            self.pending.drain(..self.pos);
            self.pos = 0;
        }
        self.pending.extend_from_slice(chunk);
    }

    /// The next complete event, in order.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        if self.at_start {
            let head = &self.pending[self.pos..];
            if head.len() < BOM.len() && BOM.starts_with(head) {
                return None; // maybe a BOM, not complete yet
            }
            if head.starts_with(BOM) {
                self.pos += BOM.len();
            }
            self.at_start = false;
        }
        loop {
            if let Some(event) = self.fields.ready.take() {
                return Some(event);
            }
            let rest = &self.pending[self.pos..];
            if rest.is_empty() {
                return None;
            }
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    self.pos += 1;
                    continue;
                }
            }
            let Some(at) = memchr::memchr2(b'\n', b'\r', &rest[self.scanned..]) else {
                self.scanned = rest.len();
                return None;
            };
            let end = self.scanned + at;
            self.after_cr = rest[end] == b'\r';
            self.fields.line(&rest[..end]);
            self.pos += end + 1;
            self.scanned = 0;
        }
    }

    /// Bytes held for the event not complete yet: its unfinished line and
    /// the data lines gathered so far. A stream driver compares this with
    /// its cap on one event, so a line or event that never ends cannot grow
    /// memory without bound.
    pub fn buffered(&self) -> usize {
        (self.pending.len() - self.pos)
            + self.fields.data.len()
            + self.fields.event.len()
            + self.fields.ready.as_ref().map_or(0, |e| e.data.len())
    }

    /// True when no partial line or event is pending: the bytes so far ended
    /// on an event boundary.
    pub fn is_idle(&self) -> bool {
        self.pos == self.pending.len()
            && self.fields.ready.is_none()
            && !self.fields.has_data
            && self.fields.event.is_empty()
    }
}

impl Fields {
    fn line(&mut self, line: &[u8]) {
        let Some(&first) = line.first() else {
            self.dispatch();
            return;
        };
        if first == b':' {
            return; // comment / keep-alive
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        // Valid UTF-8 (the norm) is borrowed; only broken input pays for repair.
        let value = match std::str::from_utf8(value) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(value),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => {
                self.event.clear();
                self.event.push_str(&value);
            }
            b"id" if !value.contains('\0') => {
                self.last_id.clear();
                self.last_id.push_str(&value);
            }
            _ => {} // `retry` and unknown fields mean nothing to us
        }
    }

    fn dispatch(&mut self) {
        if !self.has_data {
            self.event.clear();
            return;
        }
        self.has_data = false;
        self.ready = Some(SseEvent {
            event: std::mem::take(&mut self.event),
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::http::chunk_by;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut decoder = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            decoder.feed(c);
            while let Some(e) = decoder.next_event() {
                out.push(e);
            }
        }
        out
    }

    #[test]
    fn joins_data_lines_and_names_events() {
        let events = decode_all(&[b"event: ping\ndata: a\ndata:b\n\n: comment\ndata: c\r\n\r\n"]);
        let pairs: Vec<(&str, &str)> = events
            .iter()
            .map(|e| (e.event.as_str(), e.data.as_str()))
            .collect();
        assert_eq!(pairs, [("ping", "a\nb"), ("", "c")]);
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        let events = decode_all(&[b"data: x\r", b"\n\r", b"\ndata: y\r\r"]);
        assert_eq!(
            events.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(),
            ["x", "y"]
        );
    }

    #[test]
    fn bom_and_event_without_data() {
        let events = decode_all(&[b"\xEF\xBB", b"\xBFevent: x\n\ndata: 1\n\n"]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "");
        assert_eq!(events[0].data, "1");
    }

    #[test]
    fn utf8_split_inside_a_character() {
        let bytes = "data: é€😀\n\n".as_bytes();
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        let events = decode_all(&chunks);
        assert_eq!(events[0].data, "é€😀");
    }

    /// Encodes events with the given line ending, one `data:` line per data line.
    fn encode(events: &[(String, Vec<String>)], eol: &str) -> Vec<u8> {
        let mut out = String::new();
        for (name, lines) in events {
            if !name.is_empty() {
                out.push_str(&format!("event: {name}{eol}"));
            }
            for line in lines {
                out.push_str(&format!("data: {line}{eol}"));
            }
            out.push_str(eol);
        }
        out.into_bytes()
    }

    fn decode_chunks(chunks: &[Vec<u8>]) -> Vec<SseEvent> {
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        decode_all(&refs)
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(512))]

        /// Fuzz-style: arbitrary bytes never panic, and any chunking of them
        /// gives exactly the events of the unchunked input.
        #[test]
        fn any_bytes_any_chunking_same_events(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            sizes in proptest::collection::vec(1usize..64, 1..16),
        ) {
            let whole = decode_all(&[&bytes]);
            let pieces = decode_chunks(&chunk_by(&bytes, &sizes));
            proptest::prop_assert_eq!(whole, pieces);
        }

        /// Well-formed streams decode to what was encoded, with any of the three
        /// line endings and any chunking, one byte at a time included.
        #[test]
        fn encoded_events_round_trip(
            events in proptest::collection::vec(
                ("[a-z_]{0,8}", proptest::collection::vec("[^\\r\\n]{0,40}", 1..4)),
                0..12,
            ),
            eol in proptest::sample::select(vec!["\n", "\r\n", "\r"]),
            sizes in proptest::collection::vec(1usize..32, 1..8),
        ) {
            let bytes = encode(&events, eol);
            let expected: Vec<(String, String)> = events
                .iter()
                .map(|(name, lines)| (name.clone(), lines.join("\n")))
                .collect();
            for chunks in [chunk_by(&bytes, &sizes), chunk_by(&bytes, &[1])] {
                let got: Vec<(String, String)> = decode_chunks(&chunks)
                    .into_iter()
                    .map(|e| (e.event, e.data))
                    .collect();
                proptest::prop_assert_eq!(&got, &expected);
            }
        }
    }

    /// The unread buffer holds at most one chunk plus an unfinished event:
    /// consumed bytes are dropped, which is what keeps decoding linear.
    #[test]
    fn buffer_stays_bounded_by_line_and_chunk() {
        let event = format!("data: {}\n\n", "x".repeat(100));
        let stream = event.repeat(20_000).into_bytes(); // ~2 MB
        for chunk in [256usize, 65_536] {
            let mut d = SseDecoder::new();
            let mut count = 0;
            let mut peak = 0;
            for piece in stream.chunks(chunk) {
                d.feed(piece);
                peak = peak.max(d.pending.len() - d.pos);
                while d.next_event().is_some() {
                    count += 1;
                }
            }
            assert_eq!(count, 20_000);
            assert!(
                peak <= chunk + event.len(),
                "chunk {chunk}: buffer peaked at {peak}"
            );
        }
    }

    #[test]
    fn incomplete_event_is_not_dispatched() {
        let mut d = SseDecoder::new();
        d.feed(b"data: partial");
        assert!(d.next_event().is_none());
        assert!(!d.is_idle());
        d.feed(b"\n\n");
        assert_eq!(d.next_event().map(|e| e.data), Some("partial".into()));
        assert!(d.is_idle());
    }
}
