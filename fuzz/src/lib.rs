//! danga-fuzz: the fuzz targets of every Danga parser and connection loop.
//!
//! Each target is a plain function from bytes to nothing that panics when a
//! property breaks ([`targets`]): libFuzzer drives them through the thin
//! entry points in `fuzz/fuzz_targets/` (built by `fuzz/run.sh` with
//! coverage instrumentation, on stable Rust), and `tests/corpus.rs` replays
//! every committed seed and regression input through the same functions in
//! an ordinary `cargo test`, so CI keeps every found defect found.
//!
//! * [`split`]: cutting one input into the pieces a socket would deliver,
//!   so each target checks that the result does not depend on the cuts;
//! * [`targets`]: one function per target, named after its daemon;
//! * [`budget`]: the heap accounting behind the connection-loop budgets
//!   (a counting global allocator with a limit);
//! * [`conn`]: the in-process transport and driver of the connection-loop
//!   targets;
//! * [`mutate`]: a coverage-free mutator, so `cargo test` also runs each
//!   target on a bounded number of inputs derived from its corpus.

pub mod budget;
pub mod conn;
pub mod mutate;
pub mod split;
pub mod targets;

/// A target: bytes in, a panic when a property breaks.
pub type Target = fn(&[u8]);

/// Every target by name (the names of `fuzz/fuzz_targets/*.rs` and of the
/// folders under `fuzz/corpus/` and `fuzz/regressions/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("memcached_text", targets::memcached_text),
    ("memcached_binary", targets::memcached_binary),
    ("gearman_packet", targets::gearman_packet),
    ("perlbal_command", targets::perlbal_command),
    ("perlbal_http_head", targets::perlbal_http_head),
    ("tracker_line", targets::tracker_line),
    ("mogstored_head", targets::mogstored_head),
    ("dbi_dsn", targets::dbi_dsn),
    ("memcached_conn", targets::memcached_conn),
    ("gearmand_conn", targets::gearmand_conn),
    ("mogstored_conn", targets::mogstored_conn),
    ("mogstored_side_conn", targets::mogstored_side_conn),
    ("perlbal_web_conn", targets::perlbal_web_conn),
];
