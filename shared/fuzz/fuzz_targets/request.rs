//! Fuzz target: postcard payloads through the request and response decoders (the body adds CRC and COBS).
//! The body and its invariants: `facegate_shared::fuzzing::request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| facegate_shared::fuzzing::request::request(data));
