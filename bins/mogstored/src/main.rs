//! mogstored: parses the storage node's flags and `mogstored.conf` and runs
//! its two ports on the shared daemon machinery: HTTP (`--httplisten`) and
//! the side channel (`--mgmtlisten`), plus the `/devN/usage` writer; the
//! work itself lives in `danga_mogilefs::storage`.

mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use danga_common::cli::read_key_values;
use danga_common::{Acceptor, AtLimit, ConnStats, Launch, ListenSpec, Registry};
use danga_mogilefs::storage::{http, side, usage, Storage};

/// mogstored's flags (each also a key of mogstored.conf).
#[derive(Parser, Debug)]
#[command(name = "mogstored", disable_version_flag = true)]
struct Cli {
    /// Print the version (the MogileFS-Server release it speaks, and this
    /// project's) and exit
    #[arg(short = 'V', long = "version")]
    version: bool,
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
    /// Seconds an idle keep-alive HTTP connection is kept (30)
    #[arg(long = "persist_client_idle_timeout")]
    persist_client_idle_timeout: Option<u64>,
    /// Verbose logging (repeat for more)
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(flatten)]
    common: danga_common::cli::CommonArgs,
}

fn main() -> ExitCode {
    let mut cli: Cli = danga_common::cli::parse_args();
    if cli.version {
        println!("{}", danga_common::cli::version_line("mogstored", "2.73"));
        return ExitCode::SUCCESS;
    }
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
            "persist_client_idle_timeout" if cli.persist_client_idle_timeout.is_none() => {
                cli.persist_client_idle_timeout = Some(v.parse().with_context(bad)?)
            }
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
    let docroot = cli
        .docroot
        .clone()
        .unwrap_or_else(|| PathBuf::from("/var/mogdata"));
    let mut store =
        Storage::open(&docroot).with_context(|| format!("docroot {}", docroot.display()))?;
    if let Some(secs) = cli.persist_client_idle_timeout {
        store = store.with_keepalive_idle(std::time::Duration::from_secs(secs));
    }
    let store = Arc::new(store);
    let mut launch = Launch::new(
        "mogstored",
        vec![ListenSpec::tcp("http", http), ListenSpec::tcp("mgmt", mgmt)],
    );
    launch.daemonize = cli.daemonize;
    launch.pidfile = cli.pidfile.clone();
    launch.common(&cli.common);
    launch.verbosity = cli.verbose;
    let max = cli.maxconns.unwrap_or(10_000);
    launch
        .run(|listeners, shutdown| async move {
            usage::spawn(store.root().to_path_buf(), shutdown.clone());
            let root = store.root().to_path_buf();
            danga_common::metrics::publish(move || {
                let root = root.clone();
                async move {
                    tokio::task::spawn_blocking(move || metrics::render(&root))
                        .await
                        .unwrap_or_default()
                }
            });
            // The side channel has its own budget: HTTP clients filling
            // `maxconns` must not lock the trackers out of it.
            let web = Acceptor::new(
                max,
                AtLimit::Wait,
                ConnStats::register(Registry::global()),
                shutdown.clone(),
            );
            let mgmt = Acceptor::new(
                max,
                AtLimit::Wait,
                ConnStats::register(Registry::global()),
                shutdown,
            );
            for listener in listeners {
                let store = store.clone();
                if listener.name() == "http" {
                    web.spawn(listener, move |conn| http::serve(conn, store.clone()));
                } else {
                    mgmt.spawn(listener, move |conn| side::serve(conn, store.clone()));
                }
            }
            Ok(())
        })
        .context("running mogstored")
}
