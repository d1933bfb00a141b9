//! `danga`: the one-command stack. `danga up` starts every daemon of the
//! Danga stack on loopback (memcached, gearmand, mogilefsd with SQLite, two
//! mogstored nodes, perlbal) plus a small demo application behind perlbal,
//! prints what listens where, and stops them all on Ctrl-C or SIGTERM.
//!
//! * [`up`]: the launcher (ports, generated configs, MogileFS set-up over
//!   the tracker protocol, the children and their shutdown);
//! * [`demo`]: the demo application (`danga demo-app`, hidden), which
//!   stores uploads in MogileFS and lets perlbal serve them by
//!   `X-REPROXY-URL`, caching paths in memcached and hashing files in a
//!   Gearman worker.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod up;

#[derive(Parser, Debug)]
#[command(name = "danga", version, about = "Run the Danga stack")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Start the whole stack on loopback and wait for Ctrl-C.
    Up {
        /// Data folder (MogileFS metadata and files, perlbal's docroot and
        /// config, the daemons' logs)
        #[arg(long, default_value = "danga-data")]
        data: PathBuf,
        /// Added to every default port (to run beside a real deployment,
        /// or several stacks at once)
        #[arg(long, default_value_t = 0)]
        base_port: u16,
    },
    /// The demo application that `danga up` runs behind perlbal.
    #[command(hide = true)]
    DemoApp(Box<demo::Args>),
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Up { data, base_port } => up::run(&data, base_port),
        Cmd::DemoApp(args) => demo::run(*args),
    }
}
