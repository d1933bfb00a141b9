//! `lru tune|mode|temp_ttl`: the segmented LRU's settings at run time,
//! with the original's checks and replies (`noreply` as last word
//! silences them).

use std::sync::atomic::Ordering::Relaxed;

use crate::proto::num::{safe_strtol, safe_strtoul};
use crate::store::LruTuning;

/// A float as the original's `safe_strtod` takes it (the whole word).
fn strtod(w: &[u8]) -> Option<f64> {
    std::str::from_utf8(w).ok()?.parse::<f64>().ok()
}

/// Runs `lru <args>`; `maintainer` is whether the LRU maintainer runs
/// (`mode` and `temp_ttl` need it). Appends the reply unless `noreply`.
pub(super) fn lru_command(tuning: &LruTuning, maintainer: bool, args: &[&[u8]], out: &mut Vec<u8>) {
    let (args, noreply) = match args.split_last() {
        Some((&b"noreply", rest)) => (rest, true),
        _ => (args, false),
    };
    let reply: &[u8] = match args {
        [b"tune", hot, warm, hot_f, warm_f, ..] => {
            match (
                safe_strtoul(hot),
                safe_strtoul(warm),
                strtod(hot_f),
                strtod(warm_f),
            ) {
                (Some(hot), Some(warm), Some(hf), Some(wf)) => {
                    if u64::from(hot) + u64::from(warm) > 80 {
                        b"ERROR hot and warm pcts must not exceed 80\r\n"
                    } else if hf <= 0.0 || wf <= 0.0 || hf.is_nan() || wf.is_nan() {
                        b"ERROR hot/warm age factors must be greater than 0\r\n"
                    } else {
                        tuning.tune(hot, warm, hf, wf);
                        b"OK\r\n"
                    }
                }
                _ => b"ERROR\r\n",
            }
        }
        [b"mode", mode, ..] if maintainer => match *mode {
            b"flat" => {
                tuning.segmented.store(false, Relaxed);
                b"OK\r\n"
            }
            b"segmented" => {
                tuning.segmented.store(true, Relaxed);
                b"OK\r\n"
            }
            _ => b"ERROR\r\n",
        },
        [b"temp_ttl", ttl, ..] if maintainer => match safe_strtol(ttl) {
            Some(t) if t < 0 => {
                tuning.temp_lru.store(false, Relaxed);
                b"OK\r\n"
            }
            Some(t) => {
                tuning.temporary_ttl.store(t.unsigned_abs(), Relaxed);
                tuning.temp_lru.store(true, Relaxed);
                b"OK\r\n"
            }
            None => b"ERROR\r\n",
        },
        _ => b"ERROR\r\n",
    };
    if !noreply {
        out.extend_from_slice(reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LruConfig;

    fn run(t: &LruTuning, maintainer: bool, line: &str) -> String {
        let words: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        let mut out = Vec::new();
        lru_command(t, maintainer, &words, &mut out);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn tune_mode_temp_ttl() {
        let t = LruTuning::new(&LruConfig::default());
        assert_eq!(run(&t, true, "tune 10 30 0.1 3"), "OK\r\n");
        let now = t.snapshot();
        assert_eq!((now.hot_pct, now.warm_pct), (10, 30));
        assert_eq!((now.hot_max_factor, now.warm_max_factor), (0.1, 3.0));
        assert_eq!(
            run(&t, true, "tune 50 31 0.1 3"),
            "ERROR hot and warm pcts must not exceed 80\r\n"
        );
        assert_eq!(
            run(&t, true, "tune 10 10 0 3"),
            "ERROR hot/warm age factors must be greater than 0\r\n"
        );
        assert_eq!(run(&t, true, "tune 10 x 1 3"), "ERROR\r\n");
        assert_eq!(run(&t, true, "tune 10 10"), "ERROR\r\n");
        assert_eq!(t.snapshot().hot_pct, 10, "refusals change nothing");
        assert_eq!(run(&t, true, "mode flat"), "OK\r\n");
        assert!(!t.snapshot().segmented);
        assert_eq!(run(&t, true, "mode segmented noreply"), "");
        assert!(t.snapshot().segmented);
        assert_eq!(run(&t, true, "mode round"), "ERROR\r\n");
        assert_eq!(run(&t, false, "mode flat"), "ERROR\r\n");
        assert_eq!(run(&t, true, "temp_ttl 30"), "OK\r\n");
        assert_eq!(
            (t.snapshot().temp_lru, t.snapshot().temporary_ttl),
            (true, 30)
        );
        assert_eq!(run(&t, true, "temp_ttl -1"), "OK\r\n");
        assert!(!t.snapshot().temp_lru);
        assert_eq!(run(&t, true, "temp_ttl x"), "ERROR\r\n");
        assert_eq!(run(&t, true, "bogus"), "ERROR\r\n");
    }
}
