//! Integration tests: serde_roundtrip.
