#![no_main]
//! `devenv::fuzzing::narinfo` on whatever libFuzzer generates.

libfuzzer_sys::fuzz_target!(|data: &[u8]| devenv::fuzzing::narinfo(data));
