//! gearmand: parses gearmand 1.1's flags and runs danga-gearman's job
//! server on the shared daemon machinery.

mod cli;
mod durable;
mod metrics;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;
use danga_common::logging::LogTarget;
use danga_common::{Acceptor, AtLimit, ConnStats, Launch, ListenSpec, Registry};
use danga_gearman::queue::Queue;
use danga_gearman::server::Server;

/// An allocator that returns freed memory to the system; glibc's keeps big
/// freed job payloads in its arenas, so RSS stayed high with no job queued.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// EX_USAGE: bad flags or configuration.
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli: cli::Cli = danga_common::cli::parse_args();
    if cli.version {
        println!(
            "{}",
            danga_common::cli::version_line("gearmand", danga_gearman::VERSION)
        );
        return ExitCode::SUCCESS;
    }
    let settings = cli.verbosity().and_then(|v| {
        let backend = durable::Backend::from_cli(&cli)?;
        Ok((v, backend, cli.configs()?))
    });
    let (verbosity, backend, cfgs) = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gearmand: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(cli, verbosity, backend, cfgs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gearmand: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runtime threads for `-t n`: at most one per two cores, at least one
/// (0 = that many). The engine runs under one lock, so a second runtime
/// thread mostly wakes the first: on the 2-vCPU bench machine, quiet, one
/// thread gave 72,307 bg jobs/s and 70,604 fg round trips/s against
/// 64,581 and 56,051 with two, at 2.92x and 2.86x the original's jobs per
/// server CPU-second against 2.12x and 2.25x (`benches/gearmand.sh`,
/// 2026-12-08, issue 19).
fn runtime_threads(requested: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let cap = (cores / 2).max(1);
    match requested {
        0 => cap,
        n => n.min(cap),
    }
}

type Configs = (danga_gearman::queue::Config, danga_gearman::server::Config);

fn run(
    cli: cli::Cli,
    verbosity: u8,
    backend: durable::Backend,
    cfgs: Configs,
) -> anyhow::Result<()> {
    let (mut qcfg, scfg) = cfgs;
    let hosts = if cli.listen.is_empty() {
        vec![IpAddr::from([0, 0, 0, 0])]
    } else {
        cli.listen.clone()
    };
    let listen = hosts
        .iter()
        .map(|ip| ListenSpec::tcp("gearmand", SocketAddr::new(*ip, cli.port)))
        .collect();
    let mut launch = Launch::new("gearmand", listen);
    launch.verbosity = verbosity;
    launch.log = match cli.log_file.as_str() {
        "stderr" => LogTarget::Stderr,
        "none" => LogTarget::None,
        path => LogTarget::File(path.into()),
    };
    launch.backlog = cli.backlog;
    launch.daemonize = cli.daemon;
    launch.pidfile = cli.pid_file.clone();
    launch.user = cli.user.clone();
    launch.common(&cli.common);
    launch.threads = Some(runtime_threads(cli.threads));
    let ignored = cli.ignored.given();
    let max = cli.max_connections;
    launch
        .run(move |listeners, shutdown| async move {
            for flag in ignored {
                tracing::warn!(flag, "accepted but ignored by this build");
            }
            // After a -d fork: the pid `getpid` reports is the server's.
            qcfg.pid = std::process::id();
            let queue = Queue::new(qcfg);
            let server = match backend.open().await? {
                None => Server::new(queue, scfg, shutdown.clone()),
                Some((p, jobs)) => Server::with_persist(queue, scfg, shutdown.clone(), p, jobs),
            };
            server.spawn_timer();
            let scraped = server.clone();
            danga_common::metrics::publish(move || {
                let text = metrics::render(&scraped);
                async move { text }
            });
            let stats = ConnStats::register(Registry::global());
            let acceptor = Acceptor::new(max, AtLimit::Wait, stats, shutdown);
            for listener in listeners {
                let server = server.clone();
                acceptor.spawn(listener, move |conn| server.clone().serve(conn));
            }
            Ok(())
        })
        .context("running gearmand")
}
