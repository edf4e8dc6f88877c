//! Integration tests: chat_example.
