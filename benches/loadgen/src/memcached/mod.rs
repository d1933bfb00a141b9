//! `danga-loadgen memcached`: pipelined get/set load over the text
//! protocol, and the fill-until-evict capacity test.

mod conn;
mod fill;
mod load;
mod proto;

pub use proto::Counts;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Result};
use clap::Args;

use crate::net::Target;
use crate::Report;

/// Options of the `memcached` subcommand.
#[derive(Args, Debug)]
pub struct McArgs {
    /// Server to load, HOST:PORT (loopback only)
    #[arg(long, default_value = "127.0.0.1:11211", conflicts_with = "unix")]
    pub server: String,
    /// Unix socket path instead of --server
    #[arg(long)]
    pub unix: Option<PathBuf>,
    /// Connections
    #[arg(long, default_value_t = 50)]
    pub conns: usize,
    /// Requests in flight per connection (pipelined)
    #[arg(long, default_value_t = 16)]
    pub depth: usize,
    /// Seconds to send for [default: 10; 120 with --fill-until-evict; a
    /// 300 s cap with --requests]
    #[arg(long)]
    pub duration: Option<f64>,
    /// Stop after this many requests in all (a set count with
    /// --fill-until-evict, default 2,000,000 there)
    #[arg(long)]
    pub requests: Option<u64>,
    /// Fraction of requests that are gets (the rest are sets)
    #[arg(long, default_value_t = 0.9)]
    pub get_ratio: f64,
    /// Value size in bytes
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Key space: keys key:0000000000 .. key:<keys-1>, 14 bytes each
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// Tokio worker threads of the generator
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Set every key once before measuring (not counted)
    #[arg(long)]
    pub prefill: bool,
    /// Set new keys in order, reading `stats` every 10,000 sets, until
    /// `evictions` > 0; report `curr_items` then as items_held
    #[arg(long, conflicts_with = "prefill")]
    pub fill_until_evict: bool,
    /// Seed for the key and get/set choices
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Seconds to wait for replies after sending stops before giving up.
const GRACE: Duration = Duration::from_secs(5);

impl McArgs {
    fn check(&self) -> Result<()> {
        ensure!((1..=4096).contains(&self.conns), "--conns must be 1..=4096");
        ensure!((1..=4096).contains(&self.depth), "--depth must be 1..=4096");
        ensure!(
            (0.0..=1.0).contains(&self.get_ratio),
            "--get-ratio must be 0..=1"
        );
        ensure!(
            self.value_size <= 1024 * 1024,
            "--value-size must be at most 1 MiB"
        );
        ensure!(
            (1..=proto::MAX_KEY).contains(&self.keys),
            "--keys must be 1..={}",
            proto::MAX_KEY
        );
        ensure!((1..=64).contains(&self.threads), "--threads must be 1..=64");
        if let Some(d) = self.duration {
            ensure!(
                d > 0.0 && d <= 3600.0,
                "--duration must be in (0, 3600] seconds"
            );
        }
        if let Some(n) = self.requests {
            ensure!(n > 0, "--requests must be positive");
        }
        Ok(())
    }

    /// How long to keep sending: bounded in every mode.
    fn send_time(&self) -> Duration {
        let default = match (self.fill_until_evict, self.requests) {
            (true, _) => 120.0,
            (false, Some(_)) => 300.0,
            (false, None) => 10.0,
        };
        Duration::from_secs_f64(self.duration.unwrap_or(default))
    }
}

/// Check the options and whom to load; runs inside the runtime.
pub async fn run(a: McArgs) -> Result<Report> {
    a.check()?;
    let target = Target::resolve(Some(&a.server), a.unix.clone()).await?;
    if a.fill_until_evict {
        fill::run(&target, &a).await
    } else {
        load::run(&target, &a).await
    }
}
