#![no_main]
//! `devenv::fuzzing::nar_reader` on whatever libFuzzer generates.

libfuzzer_sys::fuzz_target!(|data: &[u8]| devenv::fuzzing::nar_reader(data));
