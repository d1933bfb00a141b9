//! Command-line pieces shared by every daemon's `Cli` (each bin keeps its
//! original's flag letters; only test plumbing lives here).

use std::path::PathBuf;

use crate::logging::LogFormat;

/// Flags every daemon accepts but does not advertise.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Write one `NAME address` line per bound listener to this file, once
    /// all are bound (how tests learn the ports that port 0 chose).
    #[arg(long = "ready-file", hide = true, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,

    /// Log line format: `text` (default) or `json` (one object per line:
    /// timestamp, level, daemon, target, message, fields).
    #[arg(long = "log-format", value_enum, default_value_t = LogFormat::Text, value_name = "FORMAT")]
    pub log_format: LogFormat,

    /// Serve Prometheus metrics (`GET /metrics`, text format 0.0.4) on this
    /// address, e.g. 127.0.0.1:9150.
    #[arg(long = "metrics-listen", value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// On SIGTERM/SIGINT, how long requests in flight (and background
    /// work the daemon tracks) may take to finish before the rest is closed.
    #[arg(long = "shutdown-drain", value_name = "SECONDS", default_value_t = 2.0)]
    pub shutdown_drain: f64,

    /// Thread layout: `shared` (one work-stealing runtime) or
    /// `per-thread` (one single-threaded runtime per core, each accepting
    /// on its own SO_REUSEPORT socket of the client ports; daemons that
    /// name no such ports run everything on one thread).
    #[arg(long = "runtime-layout", value_enum, default_value_t = crate::launch::Layout::Shared, value_name = "LAYOUT")]
    pub runtime_layout: crate::launch::Layout,
}

impl CommonArgs {
    /// The drain period, bounded to [0, 1 hour].
    pub fn drain(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.shutdown_drain.clamp(0.0, 3600.0))
    }
}

/// This project's version (the workspace's).
pub const DANGA_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `-V`/`--version` line of a daemon: its name, the version of the
/// original whose protocol it speaks, and this project's version, e.g.
/// `memcached 1.6.18 (danga 0.1.0)`.
pub fn version_line(name: &str, speaks: &str) -> String {
    format!("{name} {speaks} (danga {DANGA_VERSION})")
}

/// EX_USAGE (sysexits.h): the exit status for a bad command line or config.
pub const EXIT_USAGE: u8 = 64;

/// Parses the command line as `C`: `--help` (and a clap version flag)
/// print and exit 0; any other error prints clap's message and exits with
/// [`EXIT_USAGE`], as the originals and init scripts expect (clap alone
/// would exit 2).
pub fn parse_args<C: clap::Parser>() -> C {
    match C::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            std::process::exit(if usage { i32::from(EXIT_USAGE) } else { 0 });
        }
    }
}

/// A `key = value` config file (mogilefsd.conf, mogstored.conf): `#` starts
/// a comment, blank lines are skipped. The error names the line.
pub fn parse_key_values(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!(
                "line {}: expected `key = value`, got {line:?}",
                n + 1
            ));
        };
        out.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    Ok(out)
}

/// Reads a `key = value` file. `must_exist` false: a missing file is empty
/// (the originals' default config paths are optional).
pub fn read_key_values(
    path: &std::path::Path,
    must_exist: bool,
) -> Result<Vec<(String, String)>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_key_values(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_files() {
        let kv =
            parse_key_values("# c\n\ndb_dsn = DBI:SQLite:/x # trailing\nlisten=1.2.3.4:7001\n")
                .expect("parse");
        assert_eq!(
            kv,
            [
                ("db_dsn".to_owned(), "DBI:SQLite:/x".to_owned()),
                ("listen".to_owned(), "1.2.3.4:7001".to_owned())
            ]
        );
        assert!(parse_key_values("a = 1\nbad line")
            .expect_err("bad")
            .starts_with("line 2"));
        assert_eq!(
            read_key_values(std::path::Path::new("/nonexistent/x.conf"), false),
            Ok(vec![])
        );
        assert!(read_key_values(std::path::Path::new("/nonexistent/x.conf"), true).is_err());
    }
}
