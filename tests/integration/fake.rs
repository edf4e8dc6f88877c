//! Integration tests: fake.
