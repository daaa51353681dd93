#![no_main]
//! `devenv::fuzzing::manifest` on whatever libFuzzer generates.

libfuzzer_sys::fuzz_target!(|data: &[u8]| devenv::fuzzing::manifest(data));
