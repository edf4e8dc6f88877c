//! Integration tests: gemini.
