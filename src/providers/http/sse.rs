//! A Server-Sent Events decoder, written to the WHATWG HTML specification's
//! "event stream interpretation" and linear in its input (ADR 0010).
//!
//! Bytes arrive in chunks of any size, split anywhere (inside a line, inside a
//! `\r\n`, inside a UTF-8 sequence). The decoder reads complete lines in place
//! from each chunk and copies only an unfinished last line, so each byte is
//! scanned once and the cost per event does not grow with the chunk size.

use std::collections::VecDeque;

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
#[derive(Debug, Default)]
pub struct SseDecoder {
    /// The unfinished last line of the bytes fed so far (only that is copied:
    /// complete lines are read in place from the chunk).
    partial: Vec<u8>,
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
    ready: VecDeque<SseEvent>,
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
        if self.at_start {
            // The BOM may itself arrive split: hold bytes until it is decided.
            self.partial.extend_from_slice(chunk);
            if self.partial.len() < BOM.len() && BOM.starts_with(&self.partial) {
                return;
            }
            self.at_start = false;
            let mut head = std::mem::take(&mut self.partial);
            let skip = if head.starts_with(BOM) { BOM.len() } else { 0 };
            self.scan(&head[skip..]);
            head.clear();
            if self.partial.is_empty() {
                self.partial = head; // keep the allocation
            }
            return;
        }
        self.scan(chunk);
    }

    fn scan(&mut self, mut rest: &[u8]) {
        if rest.is_empty() {
            return;
        }
        if std::mem::take(&mut self.after_cr) && rest[0] == b'\n' {
            rest = &rest[1..];
        }
        while let Some(at) = memchr::memchr2(b'\n', b'\r', rest) {
            if self.partial.is_empty() {
                self.fields.line(&rest[..at]);
            } else {
                self.partial.extend_from_slice(&rest[..at]);
                self.fields.line(&self.partial);
                self.partial.clear();
            }
            let cr = rest[at] == b'\r';
            rest = &rest[at + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.partial.extend_from_slice(rest);
    }

    /// The next complete event, in order.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        self.fields.ready.pop_front()
    }

    /// True when no partial line or event is pending: the bytes so far ended
    /// on an event boundary.
    pub fn is_idle(&self) -> bool {
        self.partial.is_empty() && !self.fields.has_data && self.fields.event.is_empty()
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
        self.ready.push_back(SseEvent {
            event: std::mem::take(&mut self.event),
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c);
            while let Some(e) = d.next_event() {
                out.push(e);
            }
        }
        out
    }

    #[test]
    fn joins_data_lines_and_names_events() {
        let events = decode_all(&[b"event: ping\ndata: a\ndata:b\n\n: comment\ndata: c\r\n\r\n"]);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].event, "ping");
        assert_eq!(events[0].data, "a\nb");
        assert_eq!(events[1].event, "");
        assert_eq!(events[1].data, "c");
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

    fn chunk_by(bytes: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let (mut at, mut i) = (0, 0);
        while at < bytes.len() {
            let n = sizes[i % sizes.len()].max(1);
            let end = (at + n).min(bytes.len());
            out.push(bytes[at..end].to_vec());
            at = end;
            i += 1;
        }
        out
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

    /// Only the unfinished last line is ever copied: complete lines are read
    /// in place, which is what keeps decoding linear and cheap.
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
                peak = peak.max(d.partial.len());
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
