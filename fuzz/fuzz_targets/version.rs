#![no_main]
//! `devenv::fuzzing::version` on whatever libFuzzer generates.

libfuzzer_sys::fuzz_target!(|data: &[u8]| devenv::fuzzing::version(data));
