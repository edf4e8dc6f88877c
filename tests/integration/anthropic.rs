//! Integration tests: anthropic.
