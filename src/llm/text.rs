//! Text for people: one-line messages and short durations.

use std::fmt;
use std::time::Duration;

/// Writes `text` with every run of line breaks and tabs as one space, so a
/// server's multi-line message stays on one log line.
pub(crate) fn write_one_line(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let mut pieces = text
        .split(['\n', '\r', '\t'])
        .map(str::trim)
        .filter(|p| !p.is_empty());
    if let Some(first) = pieces.next() {
        f.write_str(first)?;
    }
    for piece in pieces {
        f.write_str(" ")?;
        f.write_str(piece)?;
    }
    Ok(())
}

/// A duration as a person writes it: `250ms`, `30s`, `2m30s`, `1h5m`.
pub(crate) struct HumanDuration(pub(crate) Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let secs = d.as_secs();
        if secs == 0 {
            return write!(f, "{}ms", d.subsec_millis());
        }
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        match (h, m, s) {
            (0, 0, s) => write!(f, "{s}s"),
            (0, m, 0) => write!(f, "{m}m"),
            (0, m, s) => write!(f, "{m}m{s}s"),
            (h, 0, _) => write!(f, "{h}h"),
            (h, m, _) => write!(f, "{h}h{m}m"),
        }
    }
}
