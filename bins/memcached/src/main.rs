//! memcached: parses memcached 1.6's flags and runs danga-memcached's
//! server on the shared daemon machinery.

mod cli;
mod listen;
mod metrics;
mod options;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use danga_common::{Acceptor, AtLimit, ConnStats, Launch, LocalAddr, Registry, Shutdown};
use danga_memcached::exec::{Detail, Engine, VERSION};
use danga_memcached::restart::RestartFile;
use danga_memcached::server::{addr_text, hold_sigusr1, unix_now, ConnTable, Server, Tls};

fn main() -> ExitCode {
    let cli: cli::Cli = danga_common::cli::parse_args();
    if cli.version {
        println!("{}", danga_common::cli::version_line("memcached", VERSION));
        return ExitCode::SUCCESS;
    }
    let opts = match options::Options::from_cli(&cli) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(danga_common::cli::EXIT_USAGE);
        }
    };
    // Certificates are read before start-up goes on: a bad file is a
    // usage error, as the original's exit(EX_USAGE).
    let tls = match opts
        .tls
        .clone()
        .map(|t| Tls::new(t, unix_now()))
        .transpose()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(danga_common::cli::EXIT_USAGE);
        }
    };
    for warning in opts.tls.iter().flat_map(|t| t.ignored()) {
        eprintln!("memcached: {warning}");
    }
    match run(cli, opts, tls) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("failed to start memcached: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Serves until stopped; a failed save at a graceful stop (logged) exits 1.
fn run(cli: cli::Cli, opts: options::Options, tls: Option<Tls>) -> anyhow::Result<ExitCode> {
    let listen = listen::listen_specs(&cli)?;
    let udp = listen::udp_sockets(&cli)?;
    anyhow::ensure!(!listen.is_empty(), "nothing to listen on (-p 0 and no -s)");
    let mut launch = Launch::new("memcached", listen);
    launch.backlog = cli.backlog;
    launch.daemonize = cli.daemon;
    launch.pidfile = cli.pidfile.clone();
    launch.user = cli.user.clone();
    launch.common(&cli.common);
    launch.threads = Some(cli.threads.max(1));
    launch.verbosity = cli.verbose;
    if let Ok(path) = std::env::var("MEMCACHED_PORT_FILENAME") {
        // The original's test contract: "TCP INET: <port>" per listener.
        launch.after_bind = Some(Box::new(move |bound| {
            let lines: String = bound
                .iter()
                .filter_map(|b| match b.local_addr() {
                    LocalAddr::Tcp(a) if a.is_ipv4() => Some(format!("TCP INET: {}\n", a.port())),
                    LocalAddr::Tcp(a) => Some(format!("TCP INET6: {}\n", a.port())),
                    LocalAddr::Unix(_) => None,
                })
                .collect();
            danga_common::listen::write_atomically(path.as_ref(), lines.as_bytes())
        }));
    }
    let max_conns = cli.conn_limit;
    // -e: loaded before the first connection, saved after the last.
    // Absolute: `-d` changes to / before the file is read or written.
    let restart = match &cli.memory_file {
        Some(p) => Some(RestartFile::new(
            std::path::absolute(p).context("-e: the memory file's path")?,
        )),
        None => None,
    };
    let restart_in = restart.clone();
    let ran: Arc<OnceLock<Arc<Server>>> = Arc::default();
    let ran_in = Arc::clone(&ran);
    hold_sigusr1()?;
    launch.run(move |listeners, shutdown: Shutdown| async move {
        let registry = Registry::new();
        let conns = ConnStats::register(&registry);
        let mut engine = Engine::new(opts.store, opts.exec, unix_now());
        if let Some(d) = opts.delimiter {
            engine.detail = Detail::new(d, true);
        }
        engine.store.reserve_index(opts.hash_power);
        if opts.initial_malloc > 0 {
            engine.store.set_initial_malloc(opts.initial_malloc);
        }
        if let Some(rf) = &restart_in {
            rf.load_logged(&engine, unix_now())
                .map_err(std::io::Error::other)?;
        }
        let server = Arc::new(Server {
            engine,
            limits: opts.limits,
            conn: opts.conn,
            registry,
            settings: opts.stats,
            started: unix_now(),
            shutdown: shutdown.clone(),
            access: opts.access,
            conns: ConnTable::default(),
            tls,
        });
        server.stop_on_sigusr1()?;
        let _ = ran_in.set(Arc::clone(&server));
        server.spawn_crawler();
        let scraped = Arc::clone(&server);
        danga_common::metrics::publish(move || {
            let text = metrics::render(&scraped);
            async move { text }
        });
        for socket in udp {
            server.spawn_udp(socket)?;
        }
        let reply = AtLimit::Reject {
            reply: b"ERROR Too many open connections\r\n",
        };
        let acceptor = Acceptor::new(max_conns, reply, conns, shutdown);
        for listener in listeners {
            use std::os::fd::AsRawFd;
            let addr = match listener.local_addr() {
                LocalAddr::Tcp(a) => addr_text("tcp", *a),
                LocalAddr::Unix(p) => format!("unix:{}", p.display()),
            };
            let now = server.engine.rel_time(unix_now());
            server.conns.add_listener(listener.as_raw_fd(), addr, now);
            let tls = server.tls.is_some() && listener.name() != listen::NOTLS_NAME;
            let server = Arc::clone(&server);
            acceptor.spawn(listener, move |conn| Arc::clone(&server).serve(conn, tls));
        }
        Ok(())
    })?;
    // The runtime is gone: no connection can change the store any more.
    if let (Some(rf), Some(server)) = (restart, ran.get()) {
        if server.engine.graceful_stop.load(Ordering::Acquire)
            && rf.save_logged(&server.engine, unix_now()).is_err()
        {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}
