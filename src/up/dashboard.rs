//! `danga up`'s dashboard: one page on its own port that shows the running
//! stack at a glance, drawn from the daemons' own `/metrics`.
//!
//! A scraper reads every daemon's metrics endpoint every [`EVERY`] and keeps
//! the last [`KEEP`] points of each series (15 minutes); the page
//! (`GET /`, no external fonts or scripts) fetches `GET /api/series` every
//! few seconds and draws each chart as SVG polylines.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};

/// How often the daemons are scraped.
pub const EVERY: Duration = Duration::from_secs(2);
/// Points kept per series: 15 minutes at [`EVERY`].
pub const KEEP: usize = 450;
/// A scrape bigger than this is dropped.
const MAX_SCRAPE: usize = 4 << 20;

/// One parsed sample: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the text exposition format (what our daemons write: no
/// timestamps, labels quoted with `\\`, `\"` and `\n` escapes). Lines it
/// cannot read are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if let Some(s) = parse_line(line) {
            out.push(s);
        }
    }
    out
}

fn parse_line(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(i) => line.split_at(i),
        None => return None,
    };
    let mut labels = BTreeMap::new();
    let rest = if let Some(mut r) = rest.strip_prefix('{') {
        loop {
            r = r.trim_start_matches(',');
            if let Some(after) = r.strip_prefix('}') {
                break after;
            }
            let eq = r.find('=')?;
            let key = r[..eq].trim().to_owned();
            let mut chars = r[eq + 1..].strip_prefix('"')?.char_indices();
            let mut value = String::new();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break i,
                    c => value.push(c),
                }
            };
            labels.insert(key, value);
            r = &r[eq + 1..][end + 2..];
        }
    } else {
        rest
    };
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// GET http://addr/metrics through hyper's client, bounded in time and
/// size.
async fn scrape(addr: SocketAddr) -> Option<String> {
    use http_body_util::{BodyExt, Empty, Limited};
    let fetch = async {
        let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .ok()?;
        tokio::spawn(conn);
        let req = Request::get("/metrics")
            .header(hyper::header::HOST, "dashboard")
            .body(Empty::<Bytes>::new())
            .ok()?;
        let resp = send.send_request(req).await.ok()?;
        if resp.status() != StatusCode::OK {
            return None;
        }
        let body = Limited::new(resp.into_body(), MAX_SCRAPE)
            .collect()
            .await
            .ok()?
            .to_bytes();
        Some(String::from_utf8_lossy(&body).into_owned())
    };
    tokio::time::timeout(EVERY, fetch).await.ok().flatten()
}

/// One chart: title, unit, series by name.
#[derive(Debug, Default)]
struct Chart {
    unit: &'static str,
    series: BTreeMap<String, VecDeque<(u64, f64)>>,
}

/// Everything the page shows, in a fixed chart order.
#[derive(Debug, Default)]
pub struct History {
    charts: Vec<(&'static str, Chart)>,
    /// The previous scrape's counters, for rates: (target, name, labels).
    last: HashMap<(String, String, String), (u64, f64)>,
}

/// The charts, in page order: (title, unit).
const CHARTS: [(&str, &str); 8] = [
    ("memcached hit ratio", "%"),
    ("memcached items and evictions", "items, evictions/s"),
    ("Gearman jobs per function", "jobs"),
    ("perlbal requests", "req/s, 5xx/s"),
    ("perlbal queues", "clients waiting"),
    ("MogileFS stores", "files/s"),
    ("MogileFS replication backlog", "files"),
    ("MogileFS device fill", "% used"),
];

fn sum(samples: &[Sample], name: &str) -> Option<f64> {
    let v: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .collect();
    (!v.is_empty()).then(|| v.iter().sum())
}

fn label<'a>(s: &'a Sample, key: &str) -> &'a str {
    s.labels.get(key).map_or("", String::as_str)
}

impl History {
    fn new() -> History {
        History {
            charts: CHARTS
                .iter()
                .map(|(t, u)| {
                    (
                        *t,
                        Chart {
                            unit: u,
                            series: BTreeMap::new(),
                        },
                    )
                })
                .collect(),
            last: HashMap::new(),
        }
    }

    fn push(&mut self, chart: &str, series: &str, t: u64, v: f64) {
        if !v.is_finite() {
            return;
        }
        if let Some((_, c)) = self.charts.iter_mut().find(|(n, _)| *n == chart) {
            let points = c.series.entry(series.to_owned()).or_default();
            points.push_back((t, v));
            while points.len() > KEEP {
                points.pop_front();
            }
        }
    }

    /// The per-second rate of a counter since the last scrape (`None` on
    /// the first one, or after a restart reset it).
    fn rate(&mut self, target: &str, name: &str, labels: &str, t: u64, v: f64) -> Option<f64> {
        let key = (target.to_owned(), name.to_owned(), labels.to_owned());
        let prev = self.last.insert(key, (t, v))?;
        let dt = t.checked_sub(prev.0).filter(|d| *d > 0)? as f64 / 1000.0;
        (v >= prev.1).then(|| (v - prev.1) / dt)
    }

    /// Adds one round of scrapes taken at `t` (ms since the epoch).
    pub fn record(&mut self, t: u64, scrapes: &[(String, Vec<Sample>)]) {
        for (target, samples) in scrapes {
            match target.as_str() {
                "memcached" => self.memcached(target, samples, t),
                "gearmand" => {
                    for s in samples {
                        let f = label(s, "function");
                        match s.name.as_str() {
                            "gearman_function_jobs_waiting" => {
                                self.push(CHARTS[2].0, &format!("{f} queued"), t, s.value);
                            }
                            "gearman_function_jobs_running" => {
                                self.push(CHARTS[2].0, &format!("{f} running"), t, s.value);
                            }
                            _ => {}
                        }
                    }
                }
                "perlbal" => {
                    if let Some(v) = sum(samples, "perlbal_requests_total") {
                        if let Some(r) = self.rate(target, "perlbal_requests_total", "", t, v) {
                            self.push(CHARTS[3].0, "requests/s", t, r);
                        }
                    }
                    // 5xx from the backends and perlbal's own (502, 503, ...).
                    let fives: f64 = samples
                        .iter()
                        .filter(|s| {
                            (s.name == "perlbal_backend_responses_total"
                                || s.name == "perlbal_local_responses_total")
                                && label(s, "code_class") == "5xx"
                        })
                        .map(|s| s.value)
                        .sum();
                    if let Some(r) = self.rate(target, "5xx", "", t, fives) {
                        self.push(CHARTS[3].0, "5xx/s", t, r);
                    }
                    for s in samples.iter().filter(|s| s.name == "perlbal_queue_length") {
                        let series = format!("{} {}", label(s, "service"), label(s, "priority"));
                        self.push(CHARTS[4].0, &series, t, s.value);
                    }
                }
                "mogilefsd" => self.mogilefs(target, samples, t),
                _ => {}
            }
        }
    }

    fn memcached(&mut self, target: &str, samples: &[Sample], t: u64) {
        let get = |status: &str| {
            samples
                .iter()
                .find(|s| {
                    s.name == "memcached_commands_total"
                        && label(s, "command") == "get"
                        && label(s, "status") == status
                })
                .map(|s| s.value)
        };
        if let (Some(hit), Some(miss)) = (get("hit"), get("miss")) {
            let rh = self.rate(target, "get", "hit", t, hit);
            let rm = self.rate(target, "get", "miss", t, miss);
            if let (Some(h), Some(m)) = (rh, rm) {
                if h + m > 0.0 {
                    self.push(CHARTS[0].0, "hits / gets", t, 100.0 * h / (h + m));
                }
            }
        }
        if let Some(items) = sum(samples, "memcached_current_items") {
            self.push(CHARTS[1].0, "items", t, items);
        }
        if let Some(ev) = sum(samples, "memcached_items_evicted_total") {
            if let Some(r) = self.rate(target, "memcached_items_evicted_total", "", t, ev) {
                self.push(CHARTS[1].0, "evictions/s", t, r);
            }
        }
    }

    fn mogilefs(&mut self, target: &str, samples: &[Sample], t: u64) {
        if let Some(files) = sum(samples, "mogilefs_files_stored_total") {
            if let Some(r) = self.rate(target, "files", "", t, files) {
                self.push(CHARTS[5].0, "stores/s", t, r.max(0.0));
            }
        }
        if let Some(q) = sum(samples, "mogilefs_replication_queue") {
            self.push(CHARTS[6].0, "waiting", t, q);
        }
        let total: HashMap<&str, f64> = samples
            .iter()
            .filter(|s| s.name == "mogilefs_device_total_bytes")
            .map(|s| (label(s, "device"), s.value))
            .collect();
        let fills: Vec<(String, f64)> = samples
            .iter()
            .filter(|s| s.name == "mogilefs_device_used_bytes")
            .filter_map(|s| {
                let dev = label(s, "device");
                let all = *total.get(dev)?;
                (all > 0.0).then(|| (format!("{dev} {}", label(s, "host")), 100.0 * s.value / all))
            })
            .collect();
        for (dev, v) in fills {
            self.push(CHARTS[7].0, &dev, t, v);
        }
    }

    /// The JSON the page draws.
    pub fn json(&self) -> String {
        let charts: Vec<serde_json::Value> = self
            .charts
            .iter()
            .map(|(title, c)| {
                let series: Vec<serde_json::Value> = c
                    .series
                    .iter()
                    .map(|(name, pts)| {
                        let points: Vec<[f64; 2]> =
                            pts.iter().map(|(t, v)| [*t as f64, *v]).collect();
                        serde_json::json!({"name": name, "points": points})
                    })
                    .collect();
                serde_json::json!({"title": title, "unit": c.unit, "series": series})
            })
            .collect();
        serde_json::json!({"every_ms": EVERY.as_millis() as u64, "charts": charts}).to_string()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The page's HTTP limits: the metrics endpoints' (a connection cap, a
/// head timeout, a time limit per connection), so a stuck browser tab or a
/// port scanner cannot hold the dashboard.
pub fn limits() -> danga_common::http::Limits {
    danga_common::http::Limits::default()
}

/// Binds `addr` and runs the scraper and the page until the runtime ends
/// (or `stop` starts); the address bound.
pub async fn spawn(
    addr: SocketAddr,
    targets: Vec<(String, SocketAddr)>,
    stop: danga_common::Shutdown,
) -> anyhow::Result<SocketAddr> {
    start(addr, targets, stop, limits())
}

/// [`spawn`] with given HTTP limits.
fn start(
    addr: SocketAddr,
    targets: Vec<(String, SocketAddr)>,
    stop: danga_common::Shutdown,
    limits: danga_common::http::Limits,
) -> anyhow::Result<SocketAddr> {
    use danga_common::listen::{bind, ListenSpec};
    let listener = bind(&ListenSpec::tcp("dashboard", addr), 128)?.into_tokio()?;
    let bound = match listener.local_addr() {
        danga_common::LocalAddr::Tcp(a) => *a,
        other => anyhow::bail!("the dashboard bound {other}, not a TCP address"),
    };
    let history = Arc::new(Mutex::new(History::new()));
    let h = history.clone();
    let scraper_stop = stop.clone();
    stop.spawn(async move {
        scraper_stop.until_stopped(scraper(targets, h)).await;
    });
    danga_common::http::serve(listener, stop, limits, move |req| {
        let reply = answer(&req, &history);
        async move { reply }
    });
    Ok(bound)
}

/// Scrapes every target each [`EVERY`] into `h`, for ever.
async fn scraper(targets: Vec<(String, SocketAddr)>, h: Arc<Mutex<History>>) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut round = Vec::new();
        for (name, a) in &targets {
            if let Some(text) = scrape(*a).await {
                round.push((name.clone(), parse(&text)));
            }
        }
        h.lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(now_ms(), &round);
    }
}

fn answer<B>(req: &Request<B>, history: &Mutex<History>) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match req.uri().path() {
        "/" => (StatusCode::OK, "text/html; charset=utf-8", PAGE.to_owned()),
        "/api/series" => (
            StatusCode::OK,
            "application/json",
            history.lock().unwrap_or_else(|p| p.into_inner()).json(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(ctype),
    );
    r.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    r
}

/// The page: inline CSS and script, nothing fetched from elsewhere.
const PAGE: &str = include_str!("dashboard.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_with_escapes() {
        let s = parse(
            "# HELP x y\n# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"t\\\\\\n\"} 3\nup 1\nbad\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "x_total");
        assert_eq!(s[0].labels["a"], "1");
        assert_eq!(s[0].labels["b"], "q\"t\\\n");
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[1].name, "up");
    }

    #[test]
    fn rates_and_ratios_from_two_rounds() {
        let mc = |hit: f64, miss: f64| {
            parse(&format!(
                "memcached_commands_total{{command=\"get\",status=\"hit\"}} {hit}\n\
                 memcached_commands_total{{command=\"get\",status=\"miss\"}} {miss}\n\
                 memcached_current_items 5\n"
            ))
        };
        let mut h = History::new();
        h.record(1000, &[("memcached".into(), mc(10.0, 10.0))]);
        h.record(3000, &[("memcached".into(), mc(40.0, 20.0))]);
        let json: serde_json::Value = serde_json::from_str(&h.json()).expect("json");
        let ratio = &json["charts"][0]["series"][0]["points"];
        assert_eq!(ratio.as_array().map(Vec::len), Some(1));
        assert_eq!(ratio[0][1], 75.0);
        let items = &json["charts"][1]["series"][0]["points"];
        assert_eq!(items.as_array().map(Vec::len), Some(2));
    }

    #[tokio::test]
    async fn the_page_server_caps_connections_and_times_them_out() {
        use danga_common::http::Limits;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::TcpStream;
        // The production limits are the metrics endpoints' ones...
        assert_eq!(limits(), Limits::default());
        // ...exercised here scaled down, in real time.
        let lim = Limits {
            max_connections: 2,
            head_timeout: Duration::from_millis(500),
            conn_timeout: Duration::from_secs(2),
        };
        let stop = danga_common::Shutdown::new();
        let addr = start(
            "127.0.0.1:0".parse().expect("addr"),
            Vec::new(),
            stop.clone(),
            lim,
        )
        .expect("dashboard");
        // Every slot taken by a client that says nothing...
        let mut silent = Vec::new();
        for _ in 0..lim.max_connections {
            silent.push(TcpStream::connect(addr).await.expect("connect"));
        }
        // ...a browser still gets its data once the head timeout frees one,
        // not before.
        let t0 = tokio::time::Instant::now();
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"GET /api/series HTTP/1.0\r\n\r\n")
            .await
            .expect("write");
        let mut page = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), c.read_to_end(&mut page))
            .await
            .expect("served after the head timeout")
            .expect("read");
        let page = String::from_utf8_lossy(&page);
        assert!(page.starts_with("HTTP/1.0 200"), "{page}");
        assert!(page.contains("\"charts\""), "{page}");
        assert!(t0.elapsed() >= lim.head_timeout, "{:?}", t0.elapsed());
        // A client that sends a head slowly loses it at the time limit.
        let mut slow = TcpStream::connect(addr).await.expect("connect");
        let t0 = tokio::time::Instant::now();
        slow.write_all(b"GET / HTTP/1.1\r\n").await.expect("write");
        let mut b = [0u8; 64];
        let mut closed = false;
        for _ in 0..100 {
            if slow.write_all(b"X-Slow: 1\r\n").await.is_err() {
                closed = true;
                break;
            }
            // The head never ends: any answer (EOF, a reset, a 408) is
            // the server cutting it off.
            if tokio::time::timeout(Duration::from_millis(300), slow.read(&mut b))
                .await
                .is_ok()
            {
                closed = true;
                break;
            }
        }
        assert!(closed, "a trickling client was never cut off");
        assert!(t0.elapsed() >= lim.head_timeout, "{:?}", t0.elapsed());
        stop.trigger();
    }
}
