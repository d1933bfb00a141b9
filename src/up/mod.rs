//! `danga up`: the whole stack on loopback, from the binaries built beside
//! this one.
//!
//! Start order, each step waiting until the daemon accepts connections
//! (connect-retry, bounded) before the next: memcached, gearmand,
//! mogilefsd (SQLite in DATA), two mogstored nodes; then the MogileFS
//! set-up over the tracker protocol ([`register`]) and a wait for the
//! tracker's monitor to see both devices writeable; then the demo app and
//! perlbal. A table of what listens where goes to stdout; the daemons'
//! output goes to DATA/log/NAME.log.
//!
//! Ctrl-C, SIGTERM or SIGHUP (or any daemon dying) stops every daemon, the last
//! started first, and reaps each one; the exit code is 0 only when every
//! daemon exited cleanly after a signal.

mod children;
mod dashboard;
mod files;
mod ports;
mod register;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};

use children::Children;
use files::Layout;
use ports::Ports;

/// The MogileFS domain the demo stores into.
pub const DOMAIN: &str = "danga";
/// The class of the demo's files.
pub const CLASS: &str = "files";
/// Copies wanted of each file (one per storage node).
pub const MINDEVCOUNT: u32 = 2;

/// How long one daemon may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(30);

/// Runs `danga up` to the end; the process's exit code.
pub fn run(data: &Path, base_port: u16) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("danga: building the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(up(data, base_port)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("danga: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The binaries, found beside `danga` itself.
struct Bins {
    dir: PathBuf,
    danga: PathBuf,
}

impl Bins {
    fn find() -> anyhow::Result<Bins> {
        let danga = std::env::current_exe().context("finding the danga binary")?;
        let dir = danga.parent().context("no bin dir")?.to_path_buf();
        let bins = Bins { dir, danga };
        for name in ["memcached", "gearmand", "mogilefsd", "mogstored", "perlbal"] {
            let p = bins.get(name);
            anyhow::ensure!(
                p.is_file(),
                "{} is missing (build every daemon: cargo build --workspace --bins)",
                p.display()
            );
        }
        Ok(bins)
    }

    fn get(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// A line of the table: who, which pid, and what listens where.
struct Row {
    name: String,
    pid: u32,
    addrs: Vec<(SocketAddr, String)>,
}

/// `Ok(clean)`: the stack ran and stopped, cleanly or not.
async fn up(data: &Path, base_port: u16) -> anyhow::Result<bool> {
    let ports = Ports::new(base_port)?;
    let bins = Bins::find()?;
    ports.check_free()?;
    let layout = Layout::create(data, &ports)?;
    layout.write_configs(&ports)?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    // A closed terminal: the daemons would take their SIGHUP as "reopen
    // your log" and outlive us, so it stops the stack too.
    let mut sighup = signal(SignalKind::hangup()).context("installing a SIGHUP handler")?;

    let mut st = Started::default();
    let started = tokio::select! {
        r = start(&mut st, &bins, &ports, &layout) => r,
        _ = sigint.recv() => Err(anyhow::anyhow!("interrupted during start-up")),
        _ = sigterm.recv() => Err(anyhow::anyhow!("terminated during start-up")),
        _ = sighup.recv() => Err(anyhow::anyhow!("hung up during start-up")),
    };
    if let Err(e) = started {
        eprintln!("danga: {e:#}");
        eprintln!("danga: stopping what was started");
        report(st.kids.stop_all().await);
        return Ok(false);
    }
    let Started { mut kids, rows } = st;
    let targets = ports
        .metrics
        .iter()
        .map(|(n, a)| ((*n).to_owned(), *a))
        .collect();
    let dashboard_stop = danga_common::Shutdown::new();
    if let Err(e) = dashboard::spawn(ports.dashboard, targets, dashboard_stop.clone()).await {
        eprintln!(
            "danga: the dashboard on {} did not start: {e}",
            ports.dashboard
        );
    }
    print_table(&rows, &ports, &layout);

    let died = loop {
        tokio::select! {
            biased;
            _ = sigint.recv() => break None,
            _ = sigterm.recv() => break None,
            _ = sighup.recv() => break None,
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if let Some(gone) = kids.exited() {
                    break Some(gone);
                }
            }
        }
    };
    if let Some((name, status, log)) = &died {
        eprintln!(
            "danga: {name} exited ({status}); stopping the stack. The end of its log:\n{log}"
        );
    }
    println!("Stopping.");
    dashboard_stop.trigger();
    let clean = report(kids.stop_all().await);
    Ok(clean && died.is_none())
}

/// The daemons started so far and their rows of the table.
#[derive(Default)]
struct Started {
    kids: Children,
    rows: Vec<Row>,
}

impl Started {
    /// Starts one daemon (logging to DATA/log/NAME.log, in DATA).
    fn launch(
        &mut self,
        l: &Layout,
        name: &str,
        bin: &Path,
        args: Vec<String>,
        addrs: Vec<(SocketAddr, String)>,
    ) -> anyhow::Result<()> {
        let pid = self.kids.spawn(name, bin, &args, &l.root, l.log_of(name))?;
        self.rows.push(Row {
            name: name.to_owned(),
            pid,
            addrs,
        });
        Ok(())
    }

    /// Waits until `name` accepts connections on all its addresses.
    async fn wait(&mut self, name: &str) -> anyhow::Result<()> {
        let addrs: Vec<SocketAddr> = self
            .rows
            .iter()
            .filter(|r| r.name == name)
            .flat_map(|r| r.addrs.iter().map(|(a, _)| *a))
            .collect();
        self.kids.wait_listening(name, &addrs, START_LIMIT).await
    }
}

/// Starts every daemon in order, filling the table.
async fn start(st: &mut Started, bins: &Bins, p: &Ports, l: &Layout) -> anyhow::Result<()> {
    let mc = p.memcached;
    st.launch(
        l,
        "memcached",
        &bins.get("memcached"),
        vec![
            "-l".into(),
            "127.0.0.1".into(),
            "-p".into(),
            mc.port().to_string(),
            "-U".into(),
            "0".into(),
            metrics_flag(p, "memcached"),
        ],
        vec![
            (mc, "cache".into()),
            (p.metrics_of("memcached"), "its metrics".into()),
        ],
    )?;
    st.launch(
        l,
        "gearmand",
        &bins.get("gearmand"),
        vec![
            "-L".into(),
            "127.0.0.1".into(),
            "-p".into(),
            p.gearmand.port().to_string(),
            metrics_flag(p, "gearmand"),
        ],
        vec![
            (p.gearmand, "job server".into()),
            (p.metrics_of("gearmand"), "its metrics".into()),
        ],
    )?;
    st.launch(
        l,
        "mogilefsd",
        &bins.get("mogilefsd"),
        vec![
            "-s".into(),
            format!("--listen={}", p.tracker),
            format!("--dsn=DBI:SQLite:dbname={}", l.sqlite.display()),
            format!("--mogstored_stream_port={}", p.stores[0].side.port()),
            metrics_flag(p, "mogilefsd"),
        ],
        vec![
            (
                p.tracker,
                format!(
                "MogileFS tracker: domain {DOMAIN}, class {CLASS} (mindevcount {MINDEVCOUNT}), \
                 metadata in {}",
                l.sqlite.display()
            ),
            ),
            (p.metrics_of("mogilefsd"), "its metrics".into()),
        ],
    )?;
    for node in &p.stores {
        let docroot = l.docroot(node.name);
        st.launch(
            l,
            node.name,
            &bins.get("mogstored"),
            vec![
                "-s".into(),
                format!("--httplisten={}", node.http),
                format!("--mgmtlisten={}", node.side),
                format!("--docroot={}", docroot.display()),
                metrics_flag(p, node.name),
            ],
            vec![
                (
                    node.http,
                    format!(
                        "storage node, device dev{} in {}",
                        node.devid,
                        docroot.display()
                    ),
                ),
                (node.side, "its side channel".into()),
                (p.metrics_of(node.name), "its metrics".into()),
            ],
        )?;
    }
    for name in ["memcached", "gearmand", "mogilefsd"] {
        st.wait(name).await?;
    }
    for node in &p.stores {
        st.wait(node.name).await?;
    }

    let admin = register::admin(p)?;
    register::register(&admin, p).await?;
    if !register::wait_writeable(&admin, p, START_LIMIT).await {
        eprintln!(
            "danga: warning: the tracker has not seen both devices writeable after \
             {START_LIMIT:?}; uploads may fail until it does (see {})",
            l.log_of("mogilefsd").display()
        );
    }

    st.launch(
        l,
        "demo-app",
        &bins.danga,
        vec![
            "demo-app".into(),
            format!("--listen={}", p.demo),
            format!("--trackers={}", p.tracker),
            format!("--domain={DOMAIN}"),
            format!("--class={CLASS}"),
            format!("--memcached={}", p.memcached),
            format!("--gearman={}", p.gearmand),
        ],
        vec![(
            p.demo,
            "demo app: stores in MogileFS, answers downloads with X-REPROXY-URL".into(),
        )],
    )?;
    st.wait("demo-app").await?;
    st.launch(
        l,
        "perlbal",
        &bins.get("perlbal"),
        vec![
            format!("--config={}", l.perlbal_conf.display()),
            metrics_flag(p, "perlbal"),
        ],
        vec![
            (
                p.site,
                "site: reverse proxy to the demo app, enable_reproxy".into(),
            ),
            (
                p.web,
                format!("static: web_server, docroot {}", l.www.display()),
            ),
            (p.mgmt, "management console".into()),
            (p.metrics_of("perlbal"), "its metrics".into()),
        ],
    )?;
    st.wait("perlbal").await
}

/// The `--metrics-listen` flag of `name`.
fn metrics_flag(p: &Ports, name: &str) -> String {
    format!("--metrics-listen={}", p.metrics_of(name))
}

fn print_table(rows: &[Row], p: &Ports, l: &Layout) {
    println!(
        "The Danga stack is up (data in {}, logs in {}):",
        l.root.display(),
        l.log.display()
    );
    for r in rows {
        for (i, (addr, what)) in r.addrs.iter().enumerate() {
            if i == 0 {
                let pid = format!("pid {}", r.pid);
                println!(
                    "  {:<11} {:<11} {:<16} {what}",
                    r.name,
                    pid,
                    addr.to_string()
                );
            } else {
                println!("  {:<11} {:<11} {:<16} {what}", "", "", addr.to_string());
            }
        }
    }
    let site = p.site;
    println!("Try:");
    println!(
        "  curl http://{}/                   (the static page)",
        p.web
    );
    println!("  curl -T FILE http://{site}/files/NAME   (store through perlbal into MogileFS)");
    println!("  curl http://{site}/files/NAME           (perlbal serves it from mogstored)");
    println!("  curl http://{site}/md5/NAME             (a Gearman job)");
    println!(
        "Dashboard: http://{}/ (live plots of the last 15 minutes)",
        p.dashboard
    );
    println!("Ctrl-C stops everything.");
}

/// Prints how each daemon ended; `true` if all exited cleanly.
fn report(ended: Vec<children::Ended>) -> bool {
    let mut clean = true;
    for e in &ended {
        match e.status {
            Some(s) => println!("  {:<11} pid {:<7} exited: {s}", e.name, e.pid),
            None => println!(
                "  {:<11} pid {:<7} killed after the grace period",
                e.name, e.pid
            ),
        }
        clean &= e.clean();
    }
    clean
}
