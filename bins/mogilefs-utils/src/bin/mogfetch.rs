//! mogfetch: writes a key's content to a file or standard output, trying
//! each copy in turn.
//!
//! `mogfetch --trackers=host --domain=foo --key=/hello.jpg --file=./output`;
//! `--file=-` writes to standard output.

use std::process::ExitCode;

use clap::Parser;
use mogilefs_utils::{feed, progress_bar, run, wants_bar, Common, BAR_MIN_BYTES};

/// Fetch a file from a MogileFS installation
#[derive(Parser, Debug)]
#[command(name = "mogfetch", version = mogilefs_utils::VERSION)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// The key to fetch
    #[arg(long)]
    key: String,
    /// Where to write it; '-' is standard output
    #[arg(long)]
    file: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(async move {
        let setup = cli.common.setup()?;
        let client = &setup.client;
        // The size only matters for the bar: ask only when one may show.
        let len = if wants_bar(BAR_MIN_BYTES) {
            client
                .file_info(&cli.key, false)
                .await
                .map(|i| i.length)
                .unwrap_or(0)
        } else {
            0
        };
        let bar = progress_bar(len, &cli.key);
        let fetched = if cli.file == "-" {
            let mut out = tokio::io::stdout();
            client.fetch(&cli.key, &mut out, feed(&bar)).await
        } else {
            client.fetch_file(&cli.key, &cli.file, feed(&bar)).await
        };
        match fetched {
            Ok(_) => {
                if let Some(b) = bar {
                    b.finish();
                }
                Ok(())
            }
            Err(e) => {
                if let Some(b) = bar {
                    b.abandon();
                }
                Err(format!("Error fetching file: {e}"))
            }
        }
    })
}
