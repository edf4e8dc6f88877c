//! Integration tests: openai.
