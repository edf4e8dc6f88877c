//! Integration tests: errors.
