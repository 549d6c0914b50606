//! Integration tests of the `sim` crate.
