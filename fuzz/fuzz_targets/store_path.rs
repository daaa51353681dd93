#![no_main]
//! `devenv::fuzzing::store_path` on whatever libFuzzer generates.

libfuzzer_sys::fuzz_target!(|data: &[u8]| devenv::fuzzing::store_path(data));
