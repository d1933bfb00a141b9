//! `gearman_packet`: see danga_fuzz::targets (fuzz/README.md says how to run it).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| danga_fuzz::targets::gearman_packet(data));
