//! perlbal: reads Perlbal's config language and runs its services on the
//! shared daemon machinery. This build runs `management` services (the
//! console: `VERSION`/`UPTIME`, `SHOW SERVICE`, `QUIT`); the proxy, web
//! server and selector roles arrive with danga-perlbal.

mod config;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use danga_common::{
    Acceptor, AtLimit, ConnStats, Launch, LineConfig, LineReply, ListenSpec, Registry,
};

/// perlbal's flags.
#[derive(Parser, Debug)]
#[command(name = "perlbal", disable_version_flag = true)]
struct Cli {
    /// Config file (default /etc/perlbal/perlbal.conf when it exists)
    #[arg(long = "config")]
    config: Option<PathBuf>,
    /// Run in the background
    #[arg(long = "daemon")]
    daemon: bool,
    /// Print the version and exit
    #[arg(long = "version")]
    version: bool,
    #[command(flatten)]
    common: danga_common::cli::CommonArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("Perlbal version 1.80");
        return ExitCode::SUCCESS;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| "/etc/perlbal/perlbal.conf".into());
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if cli.config.is_none() && e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let cfg = config::Config::parse(&text)
        .map_err(|e| anyhow::anyhow!("Error starting up: {}: {e}", path.display()))?;
    let services: Vec<config::Service> =
        cfg.services.iter().filter(|s| s.enabled).cloned().collect();
    let listen: Vec<ListenSpec> = services
        .iter()
        .filter_map(|s| s.listen.map(|a| ListenSpec::tcp(&s.name, a)))
        .collect();
    anyhow::ensure!(
        !listen.is_empty(),
        "No services or management port configured"
    );
    let mut launch = Launch::new("perlbal", listen);
    launch.daemonize = cli.daemon;
    launch.pidfile = cfg.pidfile.clone();
    launch.ready_file = cli.common.ready_file.clone();
    let max = cfg.max_connections.unwrap_or(10_000);
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let services = Arc::new(services);
    println!("Running.");
    launch
        .run(|listeners, shutdown| async move {
            let acceptor = Acceptor::new(
                max,
                AtLimit::Wait,
                ConnStats::register(&Registry::new()),
                shutdown,
            );
            for listener in listeners {
                let services = services.clone();
                let handler = move |conn| {
                    let services = services.clone();
                    danga_common::serve_lines(
                        conn,
                        LineConfig {
                            max_line: 8192,
                            too_long: None,
                            quit: true,
                        },
                        move |line| manage(line, &services, started),
                    )
                };
                acceptor.spawn(listener, handler);
            }
            Ok(())
        })
        .context("running perlbal")
}

/// One management-console command.
fn manage(line: &str, services: &[config::Service], started: u64) -> LineReply {
    let words: Vec<String> = line
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        [] => LineReply::Nothing,
        ["version" | "uptime"] => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            LineReply::Send(format!(
                "starttime {started}\r\nuptime {}\r\nversion 1.80\r\n.\r\n",
                now.saturating_sub(started)
            ))
        }
        ["show", "service"] => {
            let mut out = String::new();
            for s in services {
                let addr = s.listen.map_or_else(String::new, |a| a.to_string());
                out.push_str(&format!(
                    "{} {addr} {}\r\n",
                    s.name,
                    if s.enabled { "ENABLED" } else { "DISABLED" }
                ));
            }
            out.push_str(".\r\n");
            LineReply::Send(out)
        }
        ["exit"] => LineReply::SendAndClose(String::new()),
        _ => LineReply::Send(format!("ERROR: unknown command: {}\r\n", line.trim())),
    }
}
