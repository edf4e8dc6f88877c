//! Integration tests: lanes.
