//! Every target in one binary, the one named by `DANGA_FUZZ_TARGET`
//! (`fuzz/run.sh ci` links this once instead of thirteen binaries).
#![no_main]

use std::sync::OnceLock;

static TARGET: OnceLock<danga_fuzz::Target> = OnceLock::new();

libfuzzer_sys::fuzz_target!(
    init: {
        let name = std::env::var("DANGA_FUZZ_TARGET").unwrap_or_default();
        let Some((_, f)) = danga_fuzz::TARGETS.iter().find(|(n, _)| *n == name) else {
            panic!("DANGA_FUZZ_TARGET={name:?} names no target");
        };
        let _ = TARGET.set(*f);
    },
    |data: &[u8]| {
        if let Some(f) = TARGET.get() {
            f(data);
        }
    }
);
