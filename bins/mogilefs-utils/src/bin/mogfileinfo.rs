//! mogfileinfo: what the tracker knows of a key, and where its copies are.
//!
//! `mogfileinfo --trackers=host --domain=foo --key=/hello.jpg` prints
//! `- file: KEY`, each field of file_info right-aligned, then ` - URL` per
//! copy, as MogileFS-Utils does.

use std::process::ExitCode;

use clap::Parser;
use mogilefs_utils::{run, Common};

/// Show a file's information and paths
#[derive(Parser, Debug)]
#[command(name = "mogfileinfo", version = mogilefs_utils::VERSION)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// The key to describe
    #[arg(long)]
    key: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(async move {
        let setup = cli.common.setup()?;
        let client = &setup.client;
        let info = client
            .file_info(&cli.key, false)
            .await
            .map_err(|e| format!("Error fetching file info: {e}"))?;
        let paths = client
            .get_paths(&cli.key, Some(99))
            .await
            .map_err(|e| format!("Error fetching paths: {e}"))?;
        if paths.is_empty() {
            return Err("No paths found or key does not exist".into());
        }
        let mut out = format!("- file: {}\n", cli.key);
        for (k, v) in &info.fields {
            out.push_str(&format!("  {k:>8}: {v:>20}\n"));
        }
        for p in &paths {
            out.push_str(&format!(" - {p}\n"));
        }
        print!("{out}");
        Ok(())
    })
}
