//! Integration tests: dsn.
