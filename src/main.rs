//! `danga`: the stack launcher. `danga up` starts every daemon binary built
//! beside it on loopback, with its data under `./danga-data/`, prints what
//! listens where, and stops them all on Ctrl-C or SIGTERM.

// The launcher is synchronous (no tokio): std time is the right clock here.
#![allow(clippy::disallowed_types)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "danga", version, about = "Run the Danga stack")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Start every daemon on loopback and wait for Ctrl-C.
    Up {
        /// Data folder
        #[arg(long, default_value = "danga-data")]
        data: PathBuf,
        /// Added to every default port (to run beside a real deployment)
        #[arg(long, default_value_t = 0)]
        base_port: u16,
    },
}

/// One daemon to start: the binary, what it serves, and its arguments.
struct Plan {
    bin: &'static str,
    what: String,
    args: Vec<String>,
}

fn plans(data: &Path, off: u16) -> anyhow::Result<Vec<Plan>> {
    let port = |p: u16| {
        p.checked_add(off)
            .context("--base-port pushes a port past 65535")
    };
    let mgmt_conf = data.join("perlbal.conf");
    let (mc, gm, tr, mh, mm, pb) = (
        port(11211)?,
        port(4730)?,
        port(7001)?,
        port(7500)?,
        port(7501)?,
        port(60000)?,
    );
    std::fs::create_dir_all(data.join("mogdata")).context("creating the data folder")?;
    let conf = format!("CREATE SERVICE mgmt\n  SET role = management\n  SET listen = 127.0.0.1:{pb}\nENABLE mgmt\n");
    std::fs::write(&mgmt_conf, conf).context("writing perlbal.conf")?;
    let s = |v: &[String]| v.to_vec();
    Ok(vec![
        Plan {
            bin: "memcached",
            what: format!("memcached 127.0.0.1:{mc}"),
            args: s(&["-l".into(), "127.0.0.1".into(), "-p".into(), mc.to_string()]),
        },
        Plan {
            bin: "gearmand",
            what: format!("gearmand 127.0.0.1:{gm}"),
            args: s(&["-L".into(), "127.0.0.1".into(), "-p".into(), gm.to_string()]),
        },
        Plan {
            bin: "mogilefsd",
            what: format!("mogilefsd 127.0.0.1:{tr}"),
            args: s(&[
                "-s".into(),
                "-l".into(),
                format!("127.0.0.1:{tr}"),
                format!(
                    "--dsn=DBI:SQLite:dbname={}",
                    data.join("mogilefs.sqlite3").display()
                ),
            ]),
        },
        Plan {
            bin: "mogstored",
            what: format!("mogstored http 127.0.0.1:{mh}, side channel 127.0.0.1:{mm}"),
            args: vec![
                "-s".into(),
                format!("--httplisten=127.0.0.1:{mh}"),
                format!("--mgmtlisten=127.0.0.1:{mm}"),
                format!("--docroot={}", data.join("mogdata").display()),
            ],
        },
        Plan {
            bin: "perlbal",
            what: format!("perlbal management 127.0.0.1:{pb}"),
            args: vec![format!("--config={}", mgmt_conf.display())],
        },
    ])
}

fn main() -> ExitCode {
    let Cmd::Up { data, base_port } = Cli::parse().cmd;
    match up(&data, base_port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("danga: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn up(data: &Path, base_port: u16) -> anyhow::Result<()> {
    let dir = std::env::current_exe()?
        .parent()
        .context("no bin dir")?
        .to_path_buf();
    let stop = stop_flag()?;
    let mut children: Vec<(String, Child)> = Vec::new();
    for plan in plans(data, base_port)? {
        let bin = dir.join(plan.bin);
        if !bin.is_file() {
            println!(
                "skipping {} (not built: cargo build --workspace --bins)",
                plan.bin
            );
            continue;
        }
        let child = Command::new(&bin)
            .args(&plan.args)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", plan.bin))?;
        println!("{:<10} pid {:<7} {}", plan.bin, child.id(), plan.what);
        children.push((plan.bin.to_owned(), child));
    }
    println!("Ctrl-C stops everything.");
    // Wait for a signal, or for any child to die (then stop the rest too).
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        if let Some((name, _)) = children
            .iter_mut()
            .find_map(|(n, c)| c.try_wait().ok().flatten().map(|s| (n.clone(), s)))
        {
            eprintln!("{name} exited; stopping the stack");
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop_all(children);
    Ok(())
}

/// SIGINT and SIGTERM set a flag instead of killing the launcher.
fn stop_flag() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let flag = std::sync::Arc::default();
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, std::sync::Arc::clone(&flag))
            .context("installing a signal handler")?;
    }
    Ok(flag)
}

/// SIGTERM to every child, then SIGKILL to any still there after 5 s.
fn stop_all(mut children: Vec<(String, Child)>) {
    for (_, c) in &children {
        if let Ok(pid) = i32::try_from(c.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for (name, c) in &mut children {
        while Instant::now() < deadline && c.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        if c.try_wait().ok().flatten().is_none() {
            eprintln!("{name} did not stop in time; killing it");
            let _ = c.kill();
        }
        let _ = c.wait();
    }
}
