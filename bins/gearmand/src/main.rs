//! gearmand: parses gearmand 1.1's flags and runs the job server on the
//! shared daemon machinery. This build answers the text admin protocol's
//! process commands (`version`, `getpid`, `verbose`); the job queue and the
//! binary protocol arrive with danga-gearman.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use danga_common::logging::LogTarget;
use danga_common::{
    Acceptor, AtLimit, ConnStats, Launch, LineConfig, LineReply, ListenSpec, Registry,
};

const VERSION: &str = "1.1.20";

/// gearmand's flags (the letters and defaults of gearmand 1.1).
#[derive(Parser, Debug)]
#[command(name = "gearmand", disable_version_flag = true)]
struct Cli {
    /// Port to listen on
    #[arg(short = 'p', long = "port", default_value_t = 4730)]
    port: u16,
    /// Address to listen on (repeatable; default all interfaces)
    #[arg(short = 'L', long = "listen")]
    listen: Vec<IpAddr>,
    /// Listen backlog
    #[arg(short = 'b', long = "backlog", default_value_t = 32)]
    backlog: u32,
    /// Detach and run in the background
    #[arg(short = 'd', long = "daemon")]
    daemon: bool,
    /// File to write the process id to
    #[arg(short = 'P', long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Switch to this user after start-up
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Worker threads (0 = one per core)
    #[arg(short = 't', long = "threads", default_value_t = 4)]
    threads: usize,
    /// Log file: a path, `stderr` or `none`
    #[arg(short = 'l', long = "log-file", default_value = "stderr")]
    log_file: String,
    /// Log level: FATAL, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG
    #[arg(long = "verbose", default_value = "ERROR")]
    verbose: String,
    /// Job retries before a job is dropped (0 = unlimited)
    #[arg(short = 'j', long = "job-retries", default_value_t = 0)]
    job_retries: u32,
    /// Maximum connections (not a gearmand flag; the file-descriptor limit bounds the original)
    #[arg(long = "max-connections", default_value_t = 10_000)]
    max_connections: usize,
    /// Print the version and exit
    #[arg(short = 'V', long = "version")]
    version: bool,
    #[command(flatten)]
    common: danga_common::cli::CommonArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("gearmand {VERSION} (danga)");
        return ExitCode::SUCCESS;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gearmand: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// gearmand's level names, mapped onto `-v` counts.
fn verbosity(level: &str) -> anyhow::Result<u8> {
    Ok(match level.to_ascii_uppercase().as_str() {
        "FATAL" | "ALERT" | "CRITICAL" | "ERROR" | "WARNING" | "WARN" => 0,
        "NOTICE" | "INFO" => 1,
        "DEBUG" => 2,
        other => anyhow::bail!("unknown --verbose level {other}"),
    })
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let hosts = if cli.listen.is_empty() {
        vec![IpAddr::from([0, 0, 0, 0])]
    } else {
        cli.listen.clone()
    };
    let listen = hosts
        .iter()
        .map(|ip| ListenSpec::tcp("gearmand", SocketAddr::new(*ip, cli.port)))
        .collect();
    let level = cli.verbose.to_ascii_uppercase();
    let mut launch = Launch::new("gearmand", listen);
    launch.verbosity = verbosity(&level)?;
    launch.log = match cli.log_file.as_str() {
        "stderr" => LogTarget::Stderr,
        "none" => LogTarget::None,
        path => LogTarget::File(path.into()),
    };
    launch.backlog = cli.backlog;
    launch.daemonize = cli.daemon;
    launch.pidfile = cli.pid_file.clone();
    launch.user = cli.user.clone();
    launch.ready_file = cli.common.ready_file.clone();
    launch.threads = (cli.threads > 0).then_some(cli.threads);
    let max = cli.max_connections;
    launch
        .run(|listeners, shutdown| async move {
            let acceptor = Acceptor::new(
                max,
                AtLimit::Wait,
                ConnStats::register(&Registry::new()),
                shutdown,
            );
            for listener in listeners {
                let level = level.clone();
                let handler = move |conn| {
                    let level = level.clone();
                    let cfg = LineConfig {
                        max_line: 8192,
                        too_long: None,
                        quit: false,
                    };
                    danga_common::serve_lines(conn, cfg, move |line| {
                        let cmd = line.split_ascii_whitespace().next().unwrap_or("");
                        match cmd.to_ascii_lowercase().as_str() {
                            "" => LineReply::Nothing,
                            "version" => LineReply::Send(format!("OK {VERSION}\n")),
                            "getpid" => LineReply::Send(format!("OK {}\n", std::process::id())),
                            "verbose" => LineReply::Send(format!("OK {level}\n")),
                            _ => LineReply::Send(format!(
                                "ERR UNKNOWN_COMMAND Unknown+server+command{cmd}\r\n"
                            )),
                        }
                    })
                };
                acceptor.spawn(listener, handler);
            }
            Ok(())
        })
        .context("running gearmand")
}
