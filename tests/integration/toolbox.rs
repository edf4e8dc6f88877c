//! Integration tests: toolbox.
