//! mogrename: renames a key.
//!
//! `mogrename --trackers=host --domain=foo --old_key=/hello.jpg
//! --new_key=/bye.jpg` (`--old-key`/`--new-key` work too).

use std::process::ExitCode;

use clap::Parser;
use mogilefs_utils::{run, Common};

/// Rename file (key) from one key to another
#[derive(Parser, Debug)]
#[command(name = "mogrename", version = mogilefs_utils::VERSION)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// Accepted for compatibility (a rename keeps the class)
    #[arg(long)]
    class: Option<String>,
    /// The key to rename
    #[arg(long = "old_key", alias = "old-key")]
    old_key: String,
    /// Its new name
    #[arg(long = "new_key", alias = "new-key")]
    new_key: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(async move {
        let setup = cli.common.setup()?;
        setup
            .client
            .rename(&cli.old_key, &cli.new_key)
            .await
            .map_err(|e| {
                format!(
                    "Error renaming file (key) from {} to {}: {e}",
                    cli.old_key, cli.new_key
                )
            })
    })
}
