//! Integration tests: http_plumbing.
