//! mogupload: stores a file (or standard input) in MogileFS.
//!
//! `mogupload --trackers=host --domain=foo --class=bar --key=/hello.jpg
//! --file=./hello.jpg`; `--file=-` reads standard input (spooled to a
//! temporary file first: an upload needs its length up front).

use std::process::ExitCode;

use clap::Parser;
use mogilefs_utils::{class_of, feed, progress_bar, run, Common};
use tokio::io::AsyncSeekExt;

/// Upload data to a MogileFS installation
#[derive(Parser, Debug)]
#[command(name = "mogupload", version = mogilefs_utils::VERSION)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// The class to store into (the domain's default if left out)
    #[arg(long)]
    class: Option<String>,
    /// The key to store the file under
    #[arg(long)]
    key: String,
    /// The local file to upload; '-' reads standard input
    #[arg(long)]
    file: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(async move {
        let setup = cli.common.setup()?;
        let class = class_of(cli.class.as_deref(), &setup.conf);
        let (file, len) = if cli.file == "-" {
            let spool =
                tempfile::tempfile().map_err(|e| format!("Could not create a spool file: {e}"))?;
            let mut spool = tokio::fs::File::from_std(spool);
            let len = tokio::io::copy(&mut tokio::io::stdin(), &mut spool)
                .await
                .map_err(|e| format!("error reading standard input: {e}"))?;
            spool
                .rewind()
                .await
                .map_err(|e| format!("spool file: {e}"))?;
            (spool, len)
        } else {
            let f = tokio::fs::File::open(&cli.file)
                .await
                .map_err(|e| format!("Could not open {}: {e}", cli.file))?;
            let len = f
                .metadata()
                .await
                .map_err(|e| format!("Could not stat {}: {e}", cli.file))?
                .len();
            (f, len)
        };
        let bar = progress_bar(len, &cli.key);
        let stored = setup
            .client
            .store(&cli.key, class.as_deref(), file, len, feed(&bar))
            .await;
        match stored {
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
                Err(format!("Error writing file: {e}"))
            }
        }
    })
}
