//! Integration tests: ollama.
