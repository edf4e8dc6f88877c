//! Newline-delimited JSON framing (Ollama's streams): complete lines out of
//! chunks split anywhere, scanning each byte once.

use std::collections::VecDeque;

/// Incremental NDJSON line splitter. Blank lines are skipped; a trailing `\r`
/// is dropped.
#[derive(Debug, Default)]
pub struct LineDecoder {
    buf: Vec<u8>,
    line_start: usize,
    scanned: usize,
    ready: VecDeque<String>,
}

impl LineDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes; complete lines become available from [`Self::next_line`].
    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        while let Some(offset) = memchr::memchr(b'\n', &self.buf[self.scanned..]) {
            let end = self.scanned + offset;
            self.push_line(self.line_start, end);
            self.scanned = end + 1;
            self.line_start = self.scanned;
        }
        self.scanned = self.buf.len();
        if self.line_start == self.buf.len() {
            self.buf.clear();
            self.line_start = 0;
            self.scanned = 0;
        } else if self.line_start > 0 && self.line_start >= self.buf.len() / 2 {
            self.buf.drain(..self.line_start);
            self.scanned -= self.line_start;
            self.line_start = 0;
        }
    }

    /// Bytes held: the unfinished line and complete lines not taken yet. A
    /// stream driver compares this with its cap on one line.
    pub fn buffered(&self) -> usize {
        (self.buf.len() - self.line_start) + self.ready.iter().map(String::len).sum::<usize>()
    }

    /// The next complete line.
    pub fn next_line(&mut self) -> Option<String> {
        self.ready.pop_front()
    }

    /// At the end of the stream: the last line if it had no `\n`.
    pub fn finish(&mut self) -> Option<String> {
        let (start, end) = (self.line_start, self.buf.len());
        self.push_line(start, end);
        self.buf.clear();
        self.line_start = 0;
        self.scanned = 0;
        self.ready.pop_front()
    }

    fn push_line(&mut self, start: usize, end: usize) {
        let mut line = &self.buf[start..end];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        self.ready
            .push_back(String::from_utf8_lossy(line).into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_chunks() {
        let mut d = LineDecoder::new();
        let mut lines = Vec::new();
        for chunk in [&b"{\"a\""[..], b":1}\n\n{\"b\":2}\r", b"\n{\"c\""] {
            d.feed(chunk);
            while let Some(l) = d.next_line() {
                lines.push(l);
            }
        }
        assert_eq!(lines, ["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(d.finish().as_deref(), Some("{\"c\""));
        assert_eq!(d.finish(), None);
    }
}
