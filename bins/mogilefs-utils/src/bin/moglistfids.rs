//! moglistfids: every file the tracker knows, by fid, from a starting fid —
//! the base of backup and sync scripts (MogileFS-Utils 2.30's output:
//! `fid N`, then `class`, `devcount`, `domain`, `key`, `length` lines in
//! that order — the key as stored, as 2.30 prints it — then a blank line).
//!
//! `moglistfids --trackers=host --fromfid=123 --count=5000`

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Parser;
use danga_mogilefs::client::Admin;
use mogilefs_utils::{run, Common};

/// Iterate fid/key data from a MogileFS installation
#[derive(Parser, Debug)]
#[command(name = "moglistfids", version = mogilefs_utils::VERSION)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// Start after this fid (the highest one seen by the last run)
    #[arg(long, default_value_t = 0)]
    fromfid: u64,
    /// How many fids to list
    #[arg(long, default_value_t = 100)]
    count: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(async move {
        let admin = Admin::new(cli.common.trackers()?);
        let mut from = cli.fromfid;
        let mut left = cli.count;
        let mut out = String::new();
        while left > 0 {
            let reply = admin
                .raw(
                    "list_fids",
                    &[("from", &from.to_string()), ("to", &left.to_string())],
                )
                .await
                .map_err(|e| format!("Error listing fids: {e}"))?;
            let args: BTreeMap<String, String> = reply.into_iter().collect();
            let n: usize = args
                .get("fid_count")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut fids: Vec<(u64, BTreeMap<&str, &str>)> = Vec::new();
            for i in 1..=n {
                let get = |f: &str| args.get(&format!("fid_{i}_{f}")).map(String::as_str);
                let Some(fid) = get("fid").and_then(|v| v.parse().ok()) else {
                    continue;
                };
                let mut row = BTreeMap::new();
                for f in ["key", "length", "class", "domain", "devcount"] {
                    row.insert(f, get(f).unwrap_or(""));
                }
                fids.push((fid, row));
            }
            fids.sort_by_key(|f| f.0);
            let Some(last) = fids.last().map(|f| f.0) else {
                break;
            };
            from = last;
            left = left.saturating_sub(fids.len() as u64);
            for (fid, row) in &fids {
                out.push_str(&format!("fid {fid}\n"));
                for (k, v) in row {
                    out.push_str(&format!("{k} {v}\n"));
                }
                out.push('\n');
            }
        }
        print!("{out}");
        Ok(())
    })
}
