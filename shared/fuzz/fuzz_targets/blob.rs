//! Fuzz target: model blobs through the parser and, when small enough, the engine.
//! The body and its invariants: `facegate_shared::fuzzing::blob`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| facegate_shared::fuzzing::blob::blob(data));
