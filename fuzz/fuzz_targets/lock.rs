#![no_main]
//! `devenv::fuzzing::lock` on whatever libFuzzer generates.

libfuzzer_sys::fuzz_target!(|data: &[u8]| devenv::fuzzing::lock(data));
