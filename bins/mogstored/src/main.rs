//! mogstored: parses the storage node's flags and `mogstored.conf` and runs
//! its two ports on the shared daemon machinery: HTTP (`--httplisten`) and
//! the side channel (`--mgmtlisten`). This build answers the side channel's
//! `version` (as the original's embedded Perlbal console does) and answers
//! every HTTP request 404 with no files served; the file store arrives with
//! danga-mogilefs.

mod http;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use danga_common::cli::read_key_values;
use danga_common::{
    Acceptor, AtLimit, ConnStats, Launch, LineConfig, LineReply, ListenSpec, Registry,
};

/// mogstored's flags (each also a key of mogstored.conf).
#[derive(Parser, Debug)]
#[command(name = "mogstored", disable_version_flag = true)]
struct Cli {
    /// HTTP address
    #[arg(long = "httplisten")]
    httplisten: Option<SocketAddr>,
    /// Side-channel address
    #[arg(long = "mgmtlisten")]
    mgmtlisten: Option<SocketAddr>,
    /// Directory holding the devN folders
    #[arg(long = "docroot")]
    docroot: Option<PathBuf>,
    /// Maximum connections
    #[arg(long = "maxconns")]
    maxconns: Option<usize>,
    /// Pid file
    #[arg(long = "pidfile")]
    pidfile: Option<PathBuf>,
    /// Run in the background
    #[arg(long = "daemonize", alias = "daemon")]
    daemonize: bool,
    /// Config file
    #[arg(long = "config", default_value = "/etc/mogilefs/mogstored.conf")]
    config: PathBuf,
    /// Do not read the config file
    #[arg(short = 's', long = "skipconfig")]
    skipconfig: bool,
    /// Verbose logging (repeat for more)
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(flatten)]
    common: danga_common::cli::CommonArgs,
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Err(e) = apply_config_file(&mut cli) {
        eprintln!("mogstored: {e:#}");
        return ExitCode::from(64);
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mogstored: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Fills what the flags left unset from the config file (flags win).
fn apply_config_file(cli: &mut Cli) -> anyhow::Result<()> {
    if cli.skipconfig {
        return Ok(());
    }
    let explicit = std::env::args().any(|a| a.starts_with("--config"));
    for (k, v) in read_key_values(&cli.config, explicit).map_err(anyhow::Error::msg)? {
        let bad = || format!("mogstored.conf: invalid {k} = {v}");
        match k.as_str() {
            "httplisten" if cli.httplisten.is_none() => {
                cli.httplisten = Some(v.parse().with_context(bad)?)
            }
            "mgmtlisten" if cli.mgmtlisten.is_none() => {
                cli.mgmtlisten = Some(v.parse().with_context(bad)?)
            }
            "docroot" if cli.docroot.is_none() => cli.docroot = Some(v.into()),
            "maxconns" if cli.maxconns.is_none() => {
                cli.maxconns = Some(v.parse().with_context(bad)?)
            }
            "pidfile" if cli.pidfile.is_none() => cli.pidfile = Some(v.into()),
            "daemonize" => cli.daemonize |= v == "1",
            _ => {}
        }
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let http = cli
        .httplisten
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 7500)));
    let mgmt = cli
        .mgmtlisten
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 7501)));
    let mut launch = Launch::new(
        "mogstored",
        vec![ListenSpec::tcp("http", http), ListenSpec::tcp("mgmt", mgmt)],
    );
    launch.daemonize = cli.daemonize;
    launch.pidfile = cli.pidfile.clone();
    launch.ready_file = cli.common.ready_file.clone();
    launch.verbosity = cli.verbose;
    let max = cli.maxconns.unwrap_or(10_000);
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    launch
        .run(|listeners, shutdown| async move {
            let acceptor = Acceptor::new(
                max,
                AtLimit::Wait,
                ConnStats::register(&Registry::new()),
                shutdown,
            );
            for listener in listeners {
                if listener.name() == "http" {
                    acceptor.spawn(listener, http::serve);
                } else {
                    let cfg = LineConfig {
                        max_line: 8192,
                        too_long: None,
                        quit: true,
                    };
                    let handler = move |conn| {
                        danga_common::serve_lines(conn, cfg, move |line| {
                            side_channel(line, started)
                        })
                    };
                    acceptor.spawn(listener, handler);
                }
            }
            Ok(())
        })
        .context("running mogstored")
}

/// The side channel; lines it does not know go to the embedded console.
fn side_channel(line: &str, started: u64) -> LineReply {
    let cmd = line.trim().to_ascii_lowercase();
    match cmd.as_str() {
        "" => LineReply::Nothing,
        "version" | "uptime" => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            LineReply::Send(format!(
                "starttime {started}\r\nuptime {}\r\nversion 1.80\r\n.\r\n",
                now.saturating_sub(started)
            ))
        }
        _ => LineReply::Send(format!("ERROR: unknown command: {}\r\n", line.trim())),
    }
}
