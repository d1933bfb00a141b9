//! Logging through `tracing`: to stderr by default, to a file when the
//! daemon's original flag names one (reopened on SIGHUP, for logrotate), or
//! nowhere. `-v`/`-vv`/`-vvv` pick info/debug/trace; `RUST_LOG` wins.
//! `--log-format json` writes one JSON object per line (timestamp, level,
//! daemon, target, message, fields) for log shippers.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// tracing's human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The JSON-lines event format: `{"timestamp":…,"level":…,"daemon":…,
/// "target":…,"message":…,"fields":{…}}`, with the fields of the enclosing
/// spans merged under `fields` too.
#[derive(Debug, Clone)]
pub struct JsonLines {
    daemon: &'static str,
}

impl JsonLines {
    /// A formatter that stamps every line with `daemon`.
    pub fn new(daemon: &'static str) -> Self {
        JsonLines { daemon }
    }
}

/// Collects an event's fields as JSON values.
struct JsonVisitor<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), value.to_string().into());
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        use serde_json::{Map, Value};
        let mut fields = Map::new();
        event.record(&mut JsonVisitor(&mut fields));
        let message = fields
            .remove("message")
            .unwrap_or(Value::String(String::new()));
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            humantime::format_rfc3339_micros(std::time::SystemTime::now())
                .to_string()
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("daemon".into(), self.daemon.into());
        line.insert("target".into(), meta.target().into());
        line.insert("message".into(), message);
        line.insert("fields".into(), Value::Object(fields));
        writeln!(writer, "{}", Value::Object(line))
    }
}

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
    init_with(verbosity, target, LogFormat::Text, "danga")
}

/// [`init`] with a line format; `daemon` names the process in JSON lines.
pub fn init_with(
    verbosity: u8,
    target: &LogTarget,
    format: LogFormat,
    daemon: &'static str,
) -> io::Result<Option<LogFile>> {
    match format {
        LogFormat::Text => init_builder(
            verbosity,
            target,
            // Colour codes only where a person may be reading.
            tracing_subscriber::fmt().with_ansi(!matches!(target, LogTarget::File(_))),
        ),
        LogFormat::Json => init_builder(
            verbosity,
            target,
            tracing_subscriber::fmt().event_format(JsonLines::new(daemon)),
        ),
    }
}

fn init_builder<N, E>(
    verbosity: u8,
    target: &LogTarget,
    builder: tracing_subscriber::fmt::SubscriberBuilder<N, E>,
) -> io::Result<Option<LogFile>>
where
    N: for<'w> FormatFields<'w> + Send + Sync + 'static,
    E: FormatEvent<tracing_subscriber::Registry, N> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter_for(verbosity)));
    let builder = builder.with_env_filter(filter);
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
            let _ = builder.with_writer(file.clone()).try_init();
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
    fn json_lines_carry_every_part() {
        use tracing_subscriber::layer::SubscriberExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let file = LogFile::open(&path).expect("open");
        let layer = tracing_subscriber::fmt::layer()
            .event_format(JsonLines::new("memcached"))
            .with_writer(file);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(conns = 3_u64, peer = "1.2.3.4", "too \"many\"");
        });
        let text = std::fs::read_to_string(&path).expect("read");
        let v: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["daemon"], "memcached");
        assert_eq!(v["message"], "too \"many\"");
        assert_eq!(v["fields"]["conns"], 3);
        assert_eq!(v["fields"]["peer"], "1.2.3.4");
        assert!(v["target"].as_str().expect("target").contains("logging"));
        assert!(v["timestamp"].as_str().expect("ts").ends_with('Z'));
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
