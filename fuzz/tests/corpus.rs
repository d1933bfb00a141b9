//! Every committed input of every target, replayed: the seed corpus
//! (`fuzz/corpus/<target>/`) and the inputs of fixed defects
//! (`fuzz/regressions/<target>/`, named after the defect), then a bounded
//! run of mutants derived from them (danga_fuzz::mutate). This is how CI,
//! on stable and without the instrumented build, keeps each defect a fuzzer
//! found found.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use danga_fuzz::mutate::mutate;
use danga_fuzz::split::Rng;
use danga_fuzz::{Target, TARGETS};

/// Mutants tried per parser target in one test run.
const MUTANTS: usize = 3000;
/// Mutants tried per connection-loop target (each starts a daemon).
const CONN_MUTANTS: usize = 200;
/// Longest mutant (libFuzzer's default `-max_len` is 4096).
const MAX_LEN: usize = 4096;

fn dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target)
}

/// The files of `fuzz/<kind>/<target>/`, sorted (none if it does not exist).
fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir(kind, target)) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (p.display().to_string(), data)
        })
        .collect()
}

fn target(name: &str) -> Target {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no target {name}"))
}

/// Runs `f` on `data`; a failure names the input.
fn run(name: &str, what: &str, f: Target, data: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| f(data))).is_err() {
        panic!("{name}: {what} failed (input {data:?})");
    }
}

fn replay(name: &str) {
    let f = target(name);
    let seeds = inputs("corpus", name);
    assert!(seeds.len() >= 5, "{name}: only {} seeds", seeds.len());
    let regressions = inputs("regressions", name);
    for (path, data) in seeds.iter().chain(&regressions) {
        run(name, path, f, data);
    }
    let all: Vec<&[u8]> = seeds
        .iter()
        .chain(&regressions)
        .map(|(_, d)| d.as_slice())
        .collect();
    let mut rng = Rng::from_input(name.as_bytes());
    let n = if name.ends_with("_conn") {
        CONN_MUTANTS
    } else {
        MUTANTS
    };
    for i in 0..n {
        let base = all[i % all.len()];
        let other = all[rng.below(all.len())];
        let m = mutate(base, other, &mut rng, MAX_LEN);
        run(name, &format!("mutant {i}"), f, &m);
    }
}

#[test]
fn every_target_has_a_corpus_and_an_entry_point() {
    for (name, _) in TARGETS {
        assert!(dir("corpus", name).is_dir(), "{name}: no corpus");
        let entry = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz_targets")
            .join(format!("{name}.rs"));
        assert!(entry.is_file(), "{name}: no {}", entry.display());
    }
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*
        #[test]
        fn every_target_is_replayed() {
            let tested = [$(stringify!($name)),*];
            for (name, _) in TARGETS {
                assert!(tested.contains(name), "{name} is not replayed");
            }
        }
    };
}

replay_tests!(
    memcached_text,
    memcached_binary,
    gearman_packet,
    perlbal_command,
    perlbal_http_head,
    tracker_line,
    mogstored_head,
    dbi_dsn,
    memcached_conn,
    gearmand_conn,
    mogstored_conn,
    mogstored_side_conn,
    perlbal_web_conn,
);
