//! [`Secret`]: a credential that never prints.

use std::fmt;
use std::sync::Arc;

/// A credential (API key, bearer token). `Debug` and `Display` print `***`;
/// the value is reachable only through [`Secret::expose`], so it cannot leak
/// into an error, a log line or a panic message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a credential.
    pub fn new(value: impl Into<Arc<str>>) -> Self {
        Secret(value.into())
    }

    /// The credential itself, for building a request header. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the credential is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns `text` with every occurrence of this credential replaced by `***`.
    ///
    /// Providers echo keys back in some error bodies; everything we put in an
    /// [`crate::Error`] goes through this first.
    pub fn redact(&self, text: &str) -> String {
        // Very short values would redact ordinary words; real credentials are long.
        if self.0.len() < 4 || !text.contains(&*self.0) {
            return text.to_owned();
        }
        text.replace(&*self.0, "***")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("sk-live-abcdef123456");
        assert!(!format!("{s} {s:?} {s:#?}").contains("abcdef"));
        assert_eq!(s.expose(), "sk-live-abcdef123456");
        assert_eq!(
            s.redact("Incorrect API key provided: sk-live-abcdef123456."),
            "Incorrect API key provided: ***."
        );
    }
}
