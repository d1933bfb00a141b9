//! `perlbal_web_conn`: see danga_fuzz::targets (fuzz/README.md says how to run it).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| danga_fuzz::targets::perlbal_web_conn(data));
