//! Host tests of the device application on the in-memory NOR flash.

mod attempt_tests;
mod harness;
mod people_tests;
mod serve_tests;
mod session_tests;
mod signature_tests;
mod store_cut_tests;
mod update_tests;
