//! Logging through `tracing`: to stderr by default, to a file when the
//! daemon's original flag names one (reopened on SIGHUP, for logrotate), or
//! nowhere. `-v`/`-vv`/`-vvv` pick info/debug/trace; `RUST_LOG` wins.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Where log lines go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogTarget {
    /// Standard error (the default; stdout stays free).
    #[default]
    Stderr,
    /// Appended to a file, reopened on SIGHUP.
    File(PathBuf),
    /// Discarded.
    None,
}

/// The filter for a `-v` count: warnings only by default.
pub fn filter_for(verbosity: u8) -> &'static str {
    match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    }
}

/// A log file that can be reopened in place.
#[derive(Clone, Debug)]
pub struct LogFile {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl LogFile {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(LogFile {
            path: path.to_owned(),
            file: Arc::new(Mutex::new(open_append(path)?)),
        })
    }

    /// Opens the path again: after logrotate moved the old file away, new
    /// lines go to a new file under the configured name.
    pub fn reopen(&self) -> io::Result<()> {
        let fresh = open_append(&self.path)?;
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }
}

/// One write of a log event, under the file's lock.
#[derive(Debug)]
pub struct LogFileWriter(Arc<Mutex<File>>);

impl Write for LogFileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogFileWriter(self.file.clone())
    }
}

/// Installs the global subscriber. Returns the log file, if any, so the
/// caller can reopen it on SIGHUP. A second call (tests) is a no-op.
pub fn init(verbosity: u8, target: &LogTarget) -> io::Result<Option<LogFile>> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter_for(verbosity)));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match target {
        LogTarget::Stderr => {
            let _ = builder.with_writer(io::stderr).try_init();
            Ok(None)
        }
        LogTarget::File(path) => {
            let file = LogFile::open(path).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("opening log file {}: {e}", path.display()),
                )
            })?;
            let _ = builder
                .with_ansi(false)
                .with_writer(file.clone())
                .try_init();
            Ok(Some(file))
        }
        LogTarget::None => {
            let _ = builder.with_writer(io::sink).try_init();
            Ok(None)
        }
    }
}

/// Handles SIGHUP: reopens the log file, if there is one (without one, the
/// signal is only logged: it must not kill the daemon). Call inside the
/// runtime.
pub fn on_sighup(file: Option<LogFile>) -> io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match file.as_ref().map(LogFile::reopen) {
                Some(Ok(())) => tracing::info!("log file reopened"),
                Some(Err(e)) => tracing::error!(error = %e, "reopening log file failed"),
                None => tracing::info!("SIGHUP: no log file to reopen"),
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_maps_to_levels() {
        assert_eq!(filter_for(0), "warn");
        assert_eq!(filter_for(1), "info");
        assert_eq!(filter_for(2), "debug");
        assert_eq!(filter_for(9), "trace");
    }

    #[test]
    fn reopen_follows_a_rotated_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let file = LogFile::open(&path).expect("open");
        file.make_writer().write_all(b"one\n").expect("write");
        std::fs::rename(&path, dir.path().join("log.1")).expect("rotate");
        file.reopen().expect("reopen");
        file.make_writer().write_all(b"two\n").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "two\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("log.1")).expect("read"),
            "one\n"
        );
    }
}
