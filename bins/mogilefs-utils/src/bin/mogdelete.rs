//! mogdelete: deletes a key.
//!
//! `mogdelete --trackers=host --domain=foo --key=/hello.jpg`

use std::process::ExitCode;

use clap::Parser;
use mogilefs_utils::{run, Common};

/// Delete keys from a MogileFS installation
#[derive(Parser, Debug)]
#[command(name = "mogdelete", version = mogilefs_utils::VERSION)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// The key to delete
    #[arg(long)]
    key: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(async move {
        let setup = cli.common.setup()?;
        setup
            .client
            .delete(&cli.key)
            .await
            .map_err(|e| format!("Error deleting file: {e}"))
    })
}
