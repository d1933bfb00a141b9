//! `danga-loadgen`: pipelined load generators for the side-by-side
//! benchmarks in `benches/` (see `benches/README.md`). Loopback targets
//! only; every run is bounded in time and count. Prints one line of
//! `key=value` pairs on stdout.

mod gearman;
mod memcached;
mod mogilefs;
mod net;

use std::fmt::Display;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};

use gearman::GmArgs;
use memcached::McArgs;
use mogilefs::MogArgs;

#[derive(Parser, Debug)]
#[command(
    name = "danga-loadgen",
    version,
    about = "Pipelined load generator for the Danga daemons"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// memcached text protocol: get/set mix, or --fill-until-evict
    Memcached(McArgs),
    /// Gearman binary protocol: background-job throughput or foreground
    /// round trips, drained by the generator's own echo workers
    Gearman(GmArgs),
    /// MogileFS: stores, fetches or get_paths through a tracker and its
    /// storage nodes; `--mode setup` registers the nodes first
    Mogilefs(MogArgs),
}

/// A run's result: `key=value` fields, and the failure (if any) that cut
/// it short. The fields are printed either way.
pub struct Report {
    fields: Vec<(&'static str, String)>,
    failure: Option<anyhow::Error>,
}

impl Report {
    fn new(failure: Option<anyhow::Error>) -> Report {
        Report {
            fields: Vec::new(),
            failure,
        }
    }

    fn failed(&self) -> bool {
        self.failure.is_some()
    }

    fn from_counts(c: &memcached::Counts, secs: f64, failure: Option<anyhow::Error>) -> Report {
        let ops = c.ops();
        let rate = if secs > 0.0 { ops as f64 / secs } else { 0.0 };
        let mut r = Report::new(failure);
        r.push("ops", ops);
        r.push("secs", format!("{secs:.3}"));
        r.push("ops_per_sec", format!("{rate:.0}"));
        r.push("gets", c.gets);
        r.push("sets", c.sets);
        r.push("hits", c.hits);
        r.push("misses", c.misses);
        r.push("errors", c.errors);
        r
    }

    fn push(&mut self, key: &'static str, value: impl Display) {
        self.fields.push((key, value.to_string()));
    }

    fn line(&self) -> String {
        let parts: Vec<String> = self
            .fields
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        parts.join(" ")
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("danga-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the report line even when the run was cut short, then fails.
fn run(cli: Cli) -> Result<()> {
    let threads = match &cli.cmd {
        Cmd::Memcached(a) => a.threads,
        Cmd::Gearman(a) => a.threads,
        Cmd::Mogilefs(a) => a.threads,
    };
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .context("starting the runtime")?;
    let report = rt.block_on(async {
        match cli.cmd {
            Cmd::Memcached(a) => memcached::run(a).await,
            Cmd::Gearman(a) => gearman::run(a).await,
            Cmd::Mogilefs(a) => mogilefs::run(a).await,
        }
    })?;
    println!("{}", report.line());
    match report.failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
