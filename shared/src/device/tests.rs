//! Host tests of the device application on the in-memory NOR flash.

mod harness;
mod people_tests;
mod security_tests;
mod serve_tests;
mod update_tests;
