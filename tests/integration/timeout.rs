//! Integration tests: timeout.
