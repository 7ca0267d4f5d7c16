//! Fuzz target: raw wire bytes through the frame splitter, COBS, CRC and the message decoders.
//! The body and its invariants: `facegate_shared::fuzzing::frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| facegate_shared::fuzzing::frame::frame(data));
