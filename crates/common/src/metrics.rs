//! Prometheus metrics: the text exposition format (version 0.0.4) and the
//! `GET /metrics` endpoint every daemon serves with `--metrics-listen`.
//!
//! A daemon never keeps a second set of books for this: it publishes one
//! render function ([`publish`]) that reads the same counters its `stats` or
//! admin commands print, and [`crate::Launch`] serves it on the metrics
//! listener. The `process_*` metrics (RSS, open fds, CPU seconds, start
//! time) are added to every scrape from `/proc/self`.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};

use crate::listen::Listener;
use crate::shutdown::Shutdown;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets at restart).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted into buckets (`_bucket{le}`, `_sum`, `_count`).
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A text-format document being written. Samples of one family must be
/// added together; the `# HELP`/`# TYPE` lines are written before the
/// family's first sample.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
    families: HashSet<String>,
}

impl Exposition {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one sample of `name` (announced as `kind` with `help` the first
    /// time) with `labels`.
    pub fn sample(
        &mut self,
        name: &str,
        kind: Kind,
        help: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) -> &mut Self {
        self.announce(name, kind, help);
        self.write_sample(name, labels, value);
        self
    }

    /// Writes the `# HELP`/`# TYPE` lines of family `name`, once.
    fn announce(&mut self, name: &str, kind: Kind, help: &str) {
        if self.families.insert(name.to_owned()) {
            let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
            let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
        }
    }

    /// Writes one sample line.
    fn write_sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", format_value(value));
    }

    /// A sample without labels.
    pub fn one(&mut self, name: &str, kind: Kind, help: &str, value: f64) -> &mut Self {
        self.sample(name, kind, help, &[], value)
    }

    /// The document so far.
    pub fn as_str(&self) -> &str {
        &self.out
    }

    /// The finished document.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Latency buckets (seconds) for request durations: 1 ms to 10 s, as
/// Prometheus client libraries default to, plus a 30 s one.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

/// A latency histogram shared by the tasks that observe into it: fixed
/// buckets of [`LATENCY_BUCKETS`], lock-free counters.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations at or under each bucket's bound (not cumulative).
    buckets: [std::sync::atomic::AtomicU64; LATENCY_BUCKETS.len()],
    /// Observations over the last bound.
    over: std::sync::atomic::AtomicU64,
    /// Sum of the observations, in microseconds.
    sum_us: std::sync::atomic::AtomicU64,
}

impl Histogram {
    /// Counts one observation.
    pub fn observe(&self, d: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let secs = d.as_secs_f64();
        match LATENCY_BUCKETS.iter().position(|b| secs <= *b) {
            Some(i) => self.buckets[i].fetch_add(1, Relaxed),
            None => self.over.fetch_add(1, Relaxed),
        };
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.fetch_add(us, Relaxed);
    }

    /// How many observations so far.
    pub fn count(&self) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        self.buckets.iter().map(|b| b.load(Relaxed)).sum::<u64>() + self.over.load(Relaxed)
    }

    /// Writes the histogram as `name_bucket{labels,le}`, `name_sum` and
    /// `name_count`.
    pub fn render(&self, e: &mut Exposition, name: &str, help: &str, labels: &[(&str, &str)]) {
        use std::sync::atomic::Ordering::Relaxed;
        e.announce(name, Kind::Histogram, help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        for (bound, n) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += n.load(Relaxed);
            let le = format_value(*bound);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            e.write_sample(&bucket, &with_le, cumulative as f64);
        }
        cumulative += self.over.load(Relaxed);
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        e.write_sample(&bucket, &with_le, cumulative as f64);
        e.write_sample(
            &format!("{name}_sum"),
            labels,
            self.sum_us.load(Relaxed) as f64 / 1e6,
        );
        e.write_sample(&format!("{name}_count"), labels, cumulative as f64);
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

/// Parses `STAT name value` lines (memcached's and mogstored's stats
/// replies) into pairs, in order; other lines are skipped.
pub fn stat_lines(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.trim_end_matches('\r').splitn(3, ' ');
            match (it.next(), it.next(), it.next()) {
                (Some("STAT"), Some(k), Some(v)) => Some((k, v)),
                _ => None,
            }
        })
        .collect()
}

type RenderFuture = Pin<Box<dyn Future<Output = String> + Send>>;
type Render = Arc<dyn Fn() -> RenderFuture + Send + Sync>;

static SOURCE: OnceLock<Render> = OnceLock::new();

/// Sets this process's metrics: `render` returns the daemon's part of the
/// exposition (the `process_*` metrics are added to it). Call once, from
/// the daemon's `serve` closure; later calls are ignored.
pub fn publish<F, Fut>(render: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = String> + Send + 'static,
{
    let render: Render = Arc::new(move || Box::pin(render()) as RenderFuture);
    let _ = SOURCE.set(render);
}

/// The `process_*` metrics of this process, read from `/proc/self`.
pub fn process_metrics(e: &mut Exposition) {
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        };
        if let Some(rss) = kb("VmRSS:") {
            e.one(
                "process_resident_memory_bytes",
                Kind::Gauge,
                "Resident memory size in bytes.",
                rss * 1024.0,
            );
        }
        if let Some(vsz) = kb("VmSize:") {
            e.one(
                "process_virtual_memory_bytes",
                Kind::Gauge,
                "Virtual memory size in bytes.",
                vsz * 1024.0,
            );
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        e.one(
            "process_open_fds",
            Kind::Gauge,
            "Number of open file descriptors.",
            fds.count() as f64,
        );
    }
    if let Ok(limits) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
        e.one(
            "process_max_fds",
            Kind::Gauge,
            "Maximum number of open file descriptors.",
            limits.0 as f64,
        );
    }
    if let Ok(u) = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF) {
        let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        e.one(
            "process_cpu_seconds_total",
            Kind::Counter,
            "Total user and system CPU time spent in seconds.",
            secs(u.user_time()) + secs(u.system_time()),
        );
    }
    e.one(
        "process_start_time_seconds",
        Kind::Gauge,
        "Start time of the process since unix epoch in seconds.",
        start_time() as f64,
    );
}

/// When this process started (the first call, which [`serve`] makes at
/// start-up), in seconds since the epoch.
fn start_time() -> u64 {
    static START: OnceLock<u64> = OnceLock::new();
    *START.get_or_init(crate::clock::unix_now)
}

static NAMESPACE: OnceLock<&'static str> = OnceLock::new();

/// Names the process's metrics: [`crate::stats::Registry::global`]'s
/// samples are exported as `NAMESPACE_name` (counters with `_total`).
/// [`crate::Launch`] sets it to the daemon's name.
pub fn set_namespace(name: &'static str) {
    let _ = NAMESPACE.set(name);
}

/// The samples of `registry` as `ns_name` metrics.
pub fn registry_metrics(e: &mut Exposition, ns: &str, registry: &crate::stats::Registry) {
    use crate::stats::Value;
    for s in registry.snapshot() {
        match s.value {
            Value::Counter(v) => {
                let name = format!("{ns}_{}", s.name.trim_end_matches("_total"));
                e.one(
                    &format!("{name}_total"),
                    Kind::Counter,
                    s.description,
                    v as f64,
                )
            }
            Value::Gauge(v) => e.one(
                &format!("{ns}_{}", s.name),
                Kind::Gauge,
                s.description,
                v as f64,
            ),
        };
    }
}

/// The whole `/metrics` body: the published metrics, the global
/// registry's, then `process_*`.
pub async fn render() -> String {
    let mut body = match SOURCE.get() {
        Some(r) => r().await,
        None => String::new(),
    };
    let mut e = Exposition::new();
    if let Some(ns) = NAMESPACE.get() {
        registry_metrics(&mut e, ns, crate::stats::Registry::global());
    }
    process_metrics(&mut e);
    body.push_str(e.as_str());
    body
}

fn reply(status: StatusCode, ctype: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn answer(req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/metrics") => {
            reply(StatusCode::OK, CONTENT_TYPE, render().await)
        }
        (&Method::GET | &Method::HEAD, "/") => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<html><head><title>metrics</title></head><body>\
             <a href=\"/metrics\">/metrics</a></body></html>\n"
                .into(),
        ),
        (&Method::GET | &Method::HEAD, _) => {
            reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into())
        }
        _ => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        ),
    }
}

/// Serves `GET /metrics` on `listener` until shutdown, within the shared
/// endpoint limits ([`crate::http::Limits::default`]: 16 connections, a
/// head within 10 s, 30 s per connection).
pub fn serve(listener: Listener, shutdown: Shutdown) {
    start_time();
    crate::http::serve(listener, shutdown, crate::http::Limits::default(), answer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_get_one_header_and_escaped_labels() {
        let mut e = Exposition::new();
        e.sample(
            "x_total",
            Kind::Counter,
            "Things.\nMore",
            &[("f", "a\"b\\c\nd")],
            3.0,
        );
        e.sample("x_total", Kind::Counter, "Things.", &[("f", "z")], 0.5);
        e.one("y", Kind::Gauge, "Y.", f64::NAN);
        assert_eq!(
            e.finish(),
            "# HELP x_total Things.\\nMore\n# TYPE x_total counter\n\
             x_total{f=\"a\\\"b\\\\c\\nd\"} 3\nx_total{f=\"z\"} 0.5\n\
             # HELP y Y.\n# TYPE y gauge\ny NaN\n"
        );
    }

    #[test]
    fn stat_lines_split_name_and_value() {
        assert_eq!(
            stat_lines("STAT pid 12\r\nSTAT version 1.6.18\r\nEND\r\n"),
            [("pid", "12"), ("version", "1.6.18")]
        );
    }

    #[test]
    fn process_metrics_are_there() {
        let mut e = Exposition::new();
        process_metrics(&mut e);
        let text = e.finish();
        for name in [
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_cpu_seconds_total",
            "process_start_time_seconds",
        ] {
            assert!(text.contains(&format!("\n{name} ")), "{name} in {text}");
        }
    }

    #[test]
    fn histograms_are_cumulative_with_sum_and_count() {
        let h = Histogram::default();
        h.observe(std::time::Duration::from_micros(500));
        h.observe(std::time::Duration::from_millis(30));
        h.observe(std::time::Duration::from_secs(60));
        assert_eq!(h.count(), 3);
        let mut e = Exposition::new();
        h.render(&mut e, "req_seconds", "Latency.", &[("service", "web")]);
        let text = e.finish();
        assert!(text.starts_with("# HELP req_seconds Latency.\n# TYPE req_seconds histogram\n"));
        assert!(
            text.contains("req_seconds_bucket{service=\"web\",le=\"0.001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("req_seconds_bucket{service=\"web\",le=\"0.025\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("req_seconds_bucket{service=\"web\",le=\"0.05\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("req_seconds_bucket{service=\"web\",le=\"30\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("req_seconds_bucket{service=\"web\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("req_seconds_sum{service=\"web\"} 60.0305\n"),
            "{text}"
        );
        assert!(
            text.contains("req_seconds_count{service=\"web\"} 3\n"),
            "{text}"
        );
    }
}
