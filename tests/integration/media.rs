//! Integration tests: media.
