//! facegate host library.
