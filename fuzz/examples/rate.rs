//! How many inputs a second a target runs without libFuzzer or coverage
//! instrumentation: its committed seeds and mutants of them, in a loop.
//! A quick way to see what a harness change costs before the instrumented
//! build (`fuzz/run.sh run` gives libFuzzer's own figure).
//!
//! ```sh
//! cargo run --release -p danga-fuzz --example rate -- memcached_conn 10
//! ```

use std::path::Path;

use danga_fuzz::mutate::mutate;
use danga_fuzz::split::Rng;
use danga_fuzz::TARGETS;
use tokio::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(name), secs) = (args.next(), args.next()) else {
        eprintln!("usage: rate TARGET [SECS]");
        std::process::exit(64);
    };
    let secs: f64 = secs.and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let Some((_, target)) = TARGETS.iter().find(|(n, _)| *n == name) else {
        eprintln!("no target {name}");
        std::process::exit(64);
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(&name);
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    if seeds.is_empty() {
        seeds.push(Vec::new());
    }
    let mut rng = Rng::from_input(name.as_bytes());
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        let base = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        // Every other input a seed as it is, the rest mutants.
        if runs.is_multiple_of(2) {
            target(base);
        } else {
            target(&mutate(base, other, &mut rng, 4096));
        }
        runs += 1;
    }
    let took = start.elapsed().as_secs_f64();
    println!(
        "{name}: {runs} inputs in {took:.1} s, {:.0}/s",
        runs as f64 / took
    );
}
