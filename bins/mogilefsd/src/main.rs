//! mogilefsd, the MogileFS tracker: parses the flags and `mogilefsd.conf`,
//! opens the metadata store (SQLite or MySQL) and serves the tracker
//! protocol (query commands and `!` admin lines) on the shared daemon
//! machinery, with the delete queue's worker alongside.

mod config;
mod metrics;

use std::io;
use std::process::ExitCode;

use anyhow::Context;
use danga_common::{Acceptor, AtLimit, ConnStats, Launch, Listener, Registry, Shutdown};
use danga_mogilefs::meta::{Dsn, MetaError, MetaStore, MysqlSettings, MysqlStore, SqliteStore};
use danga_mogilefs::tracker::{jobs, server, spawn_workers, Settings, Tracker};

fn main() -> ExitCode {
    // A background job's companion process (see `tracker::jobs`).
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == jobs::JOB_PROCESS_ARG) {
        return match jobs::job_process_main() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let cli: config::Cli = danga_common::cli::parse_args();
    if cli.version {
        println!("{}", danga_common::cli::version_line("mogilefsd", "2.73"));
        return ExitCode::SUCCESS;
    }
    let cfg = match config::Config::load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mogilefsd: {e:#}");
            return ExitCode::from(64);
        }
    };
    match run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mogilefsd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: config::Config) -> anyhow::Result<()> {
    let mut launch = Launch::new("mogilefsd", cfg.listen.clone());
    launch.daemonize = cfg.daemonize;
    launch.pidfile = cfg.pidfile.clone();
    launch.user = cfg.user.clone();
    launch.common(&cfg.common);
    launch.verbosity = cfg.debug;
    let (max, mut settings, dsn) = (cfg.max_handles, cfg.settings.clone(), cfg.dsn.clone());
    // Each background job gets a process of its own, as the original's
    // forked workers (`!jobs` shows their pids).
    settings.job_process = std::env::current_exe().ok();
    let (db_user, db_pass) = (
        cfg.extra.get("db_user").cloned(),
        cfg.extra.get("db_pass").cloned(),
    );
    launch
        .run(|listeners, shutdown| async move {
            let opened = |e: MetaError| io::Error::other(format!("opening the database: {e}"));
            match dsn {
                Dsn::Sqlite(path) => {
                    let meta = SqliteStore::open(&path).await.map_err(opened)?;
                    serve(meta, settings, max, listeners, shutdown);
                }
                Dsn::Mysql {
                    database,
                    host,
                    port,
                    user,
                    password,
                } => {
                    let s = MysqlSettings {
                        host,
                        port,
                        database,
                        user: user.or(db_user).unwrap_or_else(|| "mogile".into()),
                        password: password.or(db_pass).unwrap_or_default(),
                    };
                    let meta = MysqlStore::open(&s).await.map_err(opened)?;
                    serve(meta, settings, max, listeners, shutdown);
                }
            }
            Ok(())
        })
        .context("running mogilefsd")
}

/// Starts the background jobs and the accept loops over `meta`.
fn serve<M: MetaStore>(
    meta: M,
    settings: Settings,
    max: usize,
    listeners: Vec<Listener>,
    shutdown: Shutdown,
) {
    let tracker = Tracker::with_shutdown(meta, settings, shutdown.clone());
    spawn_workers(&tracker, &shutdown);
    let scraped = tracker.clone();
    danga_common::metrics::publish(move || {
        let t = scraped.clone();
        async move { metrics::render(&t).await }
    });
    let acceptor = Acceptor::new(
        max,
        AtLimit::Wait,
        ConnStats::register(Registry::global()),
        shutdown,
    );
    for listener in listeners {
        let tracker = tracker.clone();
        acceptor.spawn(listener, move |conn| server::serve(tracker.clone(), conn));
    }
}
