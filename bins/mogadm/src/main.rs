//! mogadm: the MogileFS administration tool. This build knows its version
//! and talks to no tracker yet; the subcommands arrive with MogileFS part 3.

use std::process::ExitCode;

use clap::Parser;

/// mogadm's global options (as MogileFS-Utils 2.30 takes them).
#[derive(Parser, Debug)]
#[command(name = "mogadm", disable_version_flag = true)]
struct Cli {
    /// Trackers to talk to: host:port,...
    #[arg(long = "trackers", alias = "tracker")]
    trackers: Option<String>,
    /// Print the version and exit
    #[arg(long = "version")]
    version: bool,
    /// Subcommand and its arguments
    #[arg(trailing_var_arg = true)]
    rest: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!(
            "mogadm (danga) {} — MogileFS-Utils 2.30 compatible",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "mogadm: no subcommands in this build yet (asked for {:?}, trackers {:?})",
        cli.rest, cli.trackers
    );
    ExitCode::from(64)
}
