//! memcached: parses memcached's flags and runs the cache on the shared
//! daemon machinery. This build answers the connection-level commands
//! (`version`, `verbosity`, `stats`, `quit`, `shutdown` with `-A`); the
//! storage engine arrives with danga-memcached.

mod cli;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;
use danga_common::{
    Acceptor, AtLimit, ConnStats, Launch, LineConfig, LineReply, ListenSpec, Registry,
};

const VERSION: &str = "1.6.18";

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if cli.version {
        println!("memcached {VERSION}");
        return ExitCode::SUCCESS;
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("failed to start memcached: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn listen_specs(cli: &cli::Cli) -> anyhow::Result<Vec<ListenSpec>> {
    if let Some(path) = &cli.unix_socket {
        let mode = u32::from_str_radix(&cli.unix_mask, 8).context("invalid -a unix mask")?;
        return Ok(vec![ListenSpec::unix("memcached", path, mode)]);
    }
    let port = match cli.port {
        0 => return Ok(Vec::new()),
        -1 => 0,
        p => u16::try_from(p).context("invalid -p port")?,
    };
    let hosts = if cli.listen.is_empty() {
        vec!["0.0.0.0".to_owned()]
    } else {
        cli.listen.clone()
    };
    hosts
        .iter()
        .map(|h| {
            let ip: IpAddr = h
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .with_context(|| format!("invalid -l address {h}"))?;
            Ok(ListenSpec::tcp("memcached", SocketAddr::new(ip, port)))
        })
        .collect()
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let listen = listen_specs(&cli)?;
    anyhow::ensure!(!listen.is_empty(), "nothing to listen on (-p 0 and no -s)");
    let registry = Registry::new();
    let conns = ConnStats::register(&registry);
    let started = now();
    let mut launch = Launch::new("memcached", listen);
    launch.backlog = cli.backlog;
    launch.daemonize = cli.daemon;
    launch.pidfile = cli.pidfile.clone();
    launch.user = cli.user.clone();
    launch.ready_file = cli.common.ready_file.clone();
    launch.threads = Some(cli.threads);
    launch.verbosity = cli.verbose;
    if let Ok(path) = std::env::var("MEMCACHED_PORT_FILENAME") {
        // The original's test contract: "TCP INET: <port>" per listener.
        launch.after_bind = Some(Box::new(move |bound| {
            let lines: String = bound
                .iter()
                .filter_map(|b| match b.local_addr() {
                    danga_common::LocalAddr::Tcp(a) if a.is_ipv4() => {
                        Some(format!("TCP INET: {}\n", a.port()))
                    }
                    danga_common::LocalAddr::Tcp(a) => Some(format!("TCP INET6: {}\n", a.port())),
                    danga_common::LocalAddr::Unix(_) => None,
                })
                .collect();
            danga_common::listen::write_atomically(path.as_ref(), lines.as_bytes())
        }));
    }
    let max_conns = cli.conn_limit;
    let enable_shutdown = cli.enable_shutdown;
    launch.run(|listeners, shutdown| async move {
        let reply = AtLimit::Reject {
            reply: b"ERROR Too many open connections\r\n",
        };
        let acceptor = Acceptor::new(max_conns, reply, conns, shutdown.clone());
        for listener in listeners {
            let (registry, shutdown) = (registry.clone(), shutdown.clone());
            let handler = move |conn| {
                let (registry, shutdown) = (registry.clone(), shutdown.clone());
                danga_common::serve_lines(conn, LineConfig::default(), move |line| {
                    let words: Vec<&str> = line.split_ascii_whitespace().collect();
                    match words.as_slice() {
                        ["version"] => LineReply::Send(format!("VERSION {VERSION}\r\n")),
                        ["verbosity", _, "noreply"] => LineReply::Nothing,
                        ["verbosity", _] => LineReply::Send("OK\r\n".into()),
                        ["stats"] => LineReply::Send(render_stats(&registry, started, max_conns)),
                        ["shutdown", ..] if enable_shutdown => {
                            shutdown.trigger();
                            LineReply::SendAndClose(String::new())
                        }
                        ["shutdown", ..] => {
                            LineReply::Send("ERROR: shutdown not enabled\r\n".into())
                        }
                        _ => LineReply::Send("ERROR\r\n".into()),
                    }
                })
            };
            acceptor.spawn(listener, handler);
        }
        Ok(())
    })?;
    Ok(())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn render_stats(registry: &Registry, started: u64, max_conns: usize) -> String {
    let t = now();
    let mut out = format!(
        "STAT pid {}\r\nSTAT uptime {}\r\nSTAT time {t}\r\nSTAT version {VERSION}\r\n",
        std::process::id(),
        t - started
    );
    out.push_str(&format!("STAT max_connections {max_conns}\r\n"));
    for s in registry.snapshot() {
        out.push_str(&format!("STAT {} {}\r\n", s.name, s.value));
    }
    out.push_str("END\r\n");
    out
}
