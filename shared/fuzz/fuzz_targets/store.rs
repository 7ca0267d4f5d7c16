//! Fuzz target: four parameter bytes and a corrupted two-page flash image through the template store.
//! The body and its invariants: `facegate_shared::fuzzing::store`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| facegate_shared::fuzzing::store::store(data));
