//! `--metrics-listen`: every daemon serves `GET /metrics` in the Prometheus
//! text format; python's `prometheus_client` parser (the reference one)
//! reads each scrape, and the counters move with the load driven here.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Command;

use danga_testkit::{have_command, require, Daemon, Spawn};

use crate::wire::{ask, connect};

/// One sample: name, labels (sorted `k=v` joined by `,`), value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: String,
    pub value: f64,
}

/// GET /metrics over HTTP/1.0; checks status and content type; the body.
pub fn scrape(addr: SocketAddr) -> String {
    let mut s = connect(addr);
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8(raw).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    body.to_owned()
}

const PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print(json.dumps([s.name, labels, float(s.value)]))
"#;

/// Whether python's prometheus_client is importable (required in CI).
pub fn have_parser() -> bool {
    have_command("python3")
        && Command::new("python3")
            .args(["-c", "import prometheus_client.parser"])
            .status()
            .is_ok_and(|s| s.success())
}

/// Parses `text` with prometheus_client (panics on a parse error).
pub fn parse(text: &str) -> Vec<Sample> {
    let mut child = Command::new("python3")
        .args(["-c", PARSER])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("feed parser");
    let out = child.wait_with_output().expect("parser");
    assert!(
        out.status.success(),
        "prometheus_client rejected the exposition:\n{}\n---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (name, labels, value): (String, String, f64) =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            Sample {
                name,
                labels,
                value,
            }
        })
        .collect()
}

/// The value of `name` with exactly `labels` (`k=v,...` sorted), if any.
/// prometheus_client drops a counter's `_total` suffix from the family but
/// keeps it on the sample, so names are compared as written.
pub fn value(samples: &[Sample], name: &str, labels: &str) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && s.labels == labels)
        .map(|s| s.value)
}

fn scrape_parsed(d: &Daemon) -> Vec<Sample> {
    let samples = parse(&scrape(d.addr("metrics")));
    for p in ["process_resident_memory_bytes", "process_open_fds"] {
        assert!(value(&samples, p, "").is_some_and(|v| v > 0.0), "{p}");
    }
    samples
}

#[test]
fn memcached_metrics_follow_its_stats() {
    if !require("python3 with prometheus_client", have_parser()) {
        return;
    }
    let d = Daemon::start(
        "memcached",
        &[
            "-p",
            "-1",
            "-l",
            "127.0.0.1",
            "-U",
            "0",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let mut c = connect(d.addr("memcached"));
    assert_eq!(ask(&mut c, "set k 0 0 1\r\nv\r\n", "\r\n"), "STORED\r\n");
    ask(&mut c, "get k\r\n", "END\r\n");
    ask(&mut c, "get nope\r\n", "END\r\n");
    let s = scrape_parsed(&d);
    let hit = "command=get,status=hit";
    assert_eq!(value(&s, "memcached_commands_total", hit), Some(1.0));
    assert_eq!(
        value(&s, "memcached_commands_total", "command=get,status=miss"),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "memcached_commands_total", "command=set,status=hit"),
        Some(1.0)
    );
    assert_eq!(value(&s, "memcached_current_items", ""), Some(1.0));
    assert_eq!(value(&s, "memcached_up", ""), Some(1.0));
    assert_eq!(value(&s, "memcached_version", "version=1.6.18"), Some(1.0));
    assert_eq!(
        value(&s, "memcached_limit_bytes", ""),
        Some(64.0 * 1048576.0)
    );
    for _ in 0..5 {
        ask(&mut c, "get k\r\n", "END\r\n");
    }
    let s = scrape_parsed(&d);
    assert_eq!(value(&s, "memcached_commands_total", hit), Some(6.0));
    // Not a second set of books: `stats` says the same.
    let stats = ask(&mut c, "stats\r\n", "END\r\n");
    assert!(stats.contains("STAT get_hits 6\r\n"), "{stats}");
}

fn gearman_packet(kind: u32, args: &[&[u8]]) -> Vec<u8> {
    let body = args.join(&0u8);
    let mut p = b"\0REQ".to_vec();
    p.extend_from_slice(&kind.to_be_bytes());
    p.extend_from_slice(&u32::try_from(body.len()).expect("len").to_be_bytes());
    p.extend_from_slice(&body);
    p
}

#[test]
fn gearmand_metrics_use_the_exporters_names() {
    if !require("python3 with prometheus_client", have_parser()) {
        return;
    }
    let d = Daemon::start(
        "gearmand",
        &[
            "-p",
            "0",
            "-L",
            "127.0.0.1",
            "-l",
            "stderr",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let mut c = connect(d.addr("gearmand"));
    // Two background jobs for "resize\tx" (a name with a tab) and one
    // worker that can do "thumb".
    for u in ["u1", "u2"] {
        c.write_all(&gearman_packet(18, &[b"resize\tx", u.as_bytes(), b"data"]))
            .expect("submit");
        let mut head = [0u8; 12];
        c.read_exact(&mut head).expect("JOB_CREATED head");
        let len = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
        let mut body = vec![0u8; len];
        c.read_exact(&mut body).expect("JOB_CREATED body");
    }
    let mut w = connect(d.addr("gearmand"));
    w.write_all(&gearman_packet(1, &[b"thumb"]))
        .expect("can_do");
    // The admin protocol answers in order on one connection: once `status`
    // shows the worker, the scrape must too.
    let status = ask(&mut w, "status\n", ".\n");
    assert!(status.contains("thumb\t0\t0\t1"), "{status}");
    let s = scrape_parsed(&d);
    let f = "function=resize\tx";
    assert_eq!(value(&s, "gearman_function_jobs", f), Some(2.0));
    assert_eq!(value(&s, "gearman_function_jobs_waiting", f), Some(2.0));
    assert_eq!(value(&s, "gearman_function_jobs_running", f), Some(0.0));
    assert_eq!(
        value(&s, "gearman_function_workers", "function=thumb"),
        Some(1.0)
    );
    assert_eq!(value(&s, "gearman_up", ""), Some(1.0));
    // The accept loop's counters, from the process's one registry.
    assert_eq!(value(&s, "gearmand_curr_connections", ""), Some(2.0));
    assert!(value(&s, "gearmand_total_connections_total", "").is_some_and(|v| v >= 2.0));
}

#[test]
fn mogstored_and_mogilefsd_metrics() {
    if !require("python3 with prometheus_client", have_parser()) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("dev7")).expect("dev7");
    let store = Daemon::start(
        "mogstored",
        &[
            "-s",
            "--httplisten=127.0.0.1:0",
            "--mgmtlisten=127.0.0.1:0",
            &format!("--docroot={}", dir.path().display()),
            "--metrics-listen=127.0.0.1:0",
        ],
    );
    let s = scrape_parsed(&store);
    assert!(value(&s, "mogstored_device_total_bytes", "device=dev7").is_some_and(|v| v > 0.0));
    assert_eq!(value(&s, "mogstored_devices", ""), Some(1.0));

    let db = tempfile::tempdir().expect("db");
    let dsn = format!("--dsn=sqlite://{}/m.sqlite3", db.path().display());
    let t = Spawn::new("mogilefsd")
        .args([
            "-s",
            "-l",
            "127.0.0.1:0",
            &dsn,
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .start();
    let mut c = connect(t.addr("mogilefsd"));
    let r = ask(&mut c, "create_domain domain=photos\r\n", "\r\n");
    assert!(r.starts_with("OK"), "{r}");
    let s = scrape_parsed(&t);
    assert_eq!(value(&s, "mogilefs_files", "domain=photos"), Some(0.0));
    assert_eq!(value(&s, "mogilefs_replication_queue", ""), Some(0.0));
    let q1 = value(&s, "mogilefs_tracker_queries_total", "").expect("queries");
    ask(&mut c, "get_domains\r\n", "\r\n");
    let s = scrape_parsed(&t);
    let q2 = value(&s, "mogilefs_tracker_queries_total", "").expect("queries");
    assert!(q2 > q1, "{q1} -> {q2}");
}

#[test]
fn perlbal_metrics_from_its_config_line() {
    if !require("python3 with prometheus_client", have_parser()) {
        return;
    }
    use crate::perlbal::script::{respond, ScriptBackend};
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "hi\n").expect("page");
    // The `app` proxy's backend: a 200, a 503, and a hand-off to `web`.
    let app = ScriptBackend::start(std::time::Duration::ZERO, |req, _| {
        match req.path.as_str() {
            "/ok" => respond(req, "200 OK", &[], b"ok"),
            "/index.html" => respond(req, "200 OK", &[("X-REPROXY-SERVICE", "web".into())], b""),
            _ => respond(req, "503 Service Unavailable", &[], b"busy"),
        }
    });
    let conf = dir.path().join("perlbal.conf");
    std::fs::write(
        &conf,
        format!(
            "SERVER metrics_listen = 127.0.0.1:0\n\
             CREATE SERVICE web\n  SET role = web_server\n  SET listen = 127.0.0.1:0\n  \
             SET docroot = {}\nENABLE web\n\
             CREATE SERVICE nodoc\n  SET role = web_server\n  SET listen = 127.0.0.1:0\n\
             ENABLE nodoc\n\
             CREATE POOL apps\n  POOL apps ADD {}\n\
             CREATE SERVICE app\n  SET role = reverse_proxy\n  SET listen = 127.0.0.1:0\n  \
             SET pool = apps\n  SET enable_reproxy = on\nENABLE app\n",
            dir.path().display(),
            app.addr
        ),
    )
    .expect("conf");
    let d = Daemon::start("perlbal", &[&format!("--config={}", conf.display())]);
    let before = value(&scrape_parsed(&d), "perlbal_requests_total", "").expect("requests");
    for _ in 0..3 {
        let mut c = connect(d.addr("web"));
        let r = ask(&mut c, "GET /index.html HTTP/1.0\r\n\r\n", "hi\n");
        assert!(r.starts_with("HTTP/1.0 200"), "{r}");
    }
    let mut c = connect(d.addr("web"));
    let r = ask(&mut c, "GET /missing.html HTTP/1.0\r\n\r\n", "</h1>\n");
    assert!(r.starts_with("HTTP/1.0 404"), "{r}");
    let s = scrape_parsed(&d);
    assert_eq!(value(&s, "perlbal_requests_total", ""), Some(before + 4.0));
    assert!(value(&s, "perlbal_local_responses_total", "code_class=2xx").is_some_and(|v| v >= 3.0));
    assert!(value(&s, "perlbal_local_responses_total", "code_class=4xx").is_some_and(|v| v >= 1.0));
    assert_eq!(value(&s, "perlbal_up", ""), Some(1.0));
    assert!(value(&s, "perlbal_total_connections_total", "").is_some_and(|v| v >= 3.0));

    // Responses by status class, under the service that answered: a
    // backend's 200 and 503, a web_server's 500 (no docroot), a hand-off
    // counted under the service it went to, perlbal's own 400.
    for (svc, path, status) in [
        ("app", "/ok", "200"),
        ("app", "/busy", "503"),
        ("app", "/index.html", "200"),
        ("nodoc", "/index.html", "500"),
    ] {
        let got = crate::perlbal::get(d.addr(svc), path, "");
        assert!(
            got.starts_with(&format!("HTTP/1.0 {status}")),
            "{svc} {path}: {got}"
        );
    }
    let r = crate::perlbal::get(d.addr("web"), "/", "Content-Length: -1\r\n");
    assert!(r.starts_with("HTTP/1.0 400"), "{r}");
    let s = scrape_parsed(&d);
    let want = [
        ("web", [0.0, 4.0, 0.0, 2.0, 0.0]),
        ("app", [0.0, 1.0, 0.0, 0.0, 1.0]),
        ("nodoc", [0.0, 0.0, 0.0, 0.0, 1.0]),
    ];
    for (svc, counts) in want {
        for (class, n) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().zip(counts) {
            let labels = format!("code_class={class},service={svc}");
            assert_eq!(
                value(&s, "perlbal_service_responses_total", &labels),
                Some(n),
                "{labels}"
            );
        }
    }
    // Each request answered is one response (the 400 was no request).
    for (svc, requests) in [("web", 5.0), ("app", 2.0), ("nodoc", 1.0)] {
        let labels = format!("service={svc}");
        assert_eq!(
            value(&s, "perlbal_service_requests_total", &labels),
            Some(requests),
            "{labels}"
        );
    }
}

/// A load thread: runs `step` (one request) until dropped, at most
/// `MAX_STEPS` times; counts the steps done.
struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<u64>>,
}

const MAX_STEPS: u64 = 200_000;

impl Load {
    fn start(mut step: impl FnMut() + Send + 'static) -> Load {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut n = 0;
            while !flag.load(Ordering::Relaxed) && n < MAX_STEPS {
                step();
                n += 1;
            }
            n
        });
        Load {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            // A failed step panics the load thread: fail the test with it
            // (unless the test is already failing).
            if h.join().is_err() && !std::thread::panicking() {
                panic!("the load thread failed");
            }
        }
    }
}

/// Scrapes `addr` (parsed by prometheus_client) three times while load
/// runs; each time waits (bounded) until every `(name, labels)` in
/// `counters` is above its previous value. The last scrape.
fn counters_move_under_load(addr: SocketAddr, counters: &[(&str, &str)]) -> Vec<Sample> {
    let read = |s: &[Sample], (name, labels): &(&str, &str)| {
        value(s, name, labels).unwrap_or_else(|| panic!("{name}{{{labels}}} missing"))
    };
    let mut last = parse(&scrape(addr));
    // Before the load's first request a labelled series may not exist yet.
    let mut prev: Vec<f64> = counters
        .iter()
        .map(|(name, labels)| value(&last, name, labels).unwrap_or(-1.0))
        .collect();
    for round in 0..3 {
        let moved = danga_testkit::wait_for(std::time::Duration::from_secs(20), || {
            last = parse(&scrape(addr));
            counters.iter().zip(&prev).all(|((name, labels), before)| {
                value(&last, name, labels).is_some_and(|v| v > *before)
            })
        });
        let now: Vec<f64> = counters.iter().map(|c| read(&last, c)).collect();
        assert!(
            moved,
            "round {round}: {counters:?} did not all move under load: {prev:?} -> {now:?}"
        );
        prev = now;
    }
    last
}

#[test]
fn every_daemon_scraped_under_load_sees_its_counters_move() {
    if !require("python3 with prometheus_client", have_parser()) {
        return;
    }
    // memcached: gets and sets on one connection.
    let mc = Daemon::start(
        "memcached",
        &[
            "-p",
            "-1",
            "-l",
            "127.0.0.1",
            "-U",
            "0",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let addr = mc.addr("memcached");
    let mut conn = None;
    let load = Load::start(move || {
        let s = conn.get_or_insert_with(|| connect(addr));
        assert_eq!(ask(s, "set k 0 0 1\r\nv\r\n", "\r\n"), "STORED\r\n");
        ask(s, "get k\r\n", "END\r\n");
    });
    counters_move_under_load(
        mc.addr("metrics"),
        &[
            ("memcached_commands_total", "command=get,status=hit"),
            ("memcached_commands_total", "command=set,status=hit"),
            ("memcached_read_bytes_total", ""),
        ],
    );
    drop(load);

    // gearmand: background jobs pile up (no worker), connections come and go.
    let gm = Daemon::start(
        "gearmand",
        &[
            "-p",
            "0",
            "-L",
            "127.0.0.1",
            "-l",
            "stderr",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let addr = gm.addr("gearmand");
    let mut seq = 0u64;
    let load = Load::start(move || {
        seq += 1;
        let mut c = connect(addr);
        let unique = format!("u{seq}");
        c.write_all(&gearman_packet(18, &[b"load", unique.as_bytes(), b"x"]))
            .expect("submit");
        let mut head = [0u8; 12];
        c.read_exact(&mut head).expect("JOB_CREATED");
        let len = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
        let mut body = vec![0u8; len];
        c.read_exact(&mut body).expect("JOB_CREATED body");
    });
    counters_move_under_load(
        gm.addr("metrics"),
        &[
            ("gearman_function_jobs", "function=load"),
            ("gearmand_total_connections_total", ""),
        ],
    );
    drop(load);

    // mogilefsd: tracker queries; mogstored: HTTP requests on new
    // connections.
    let db = tempfile::tempdir().expect("db");
    let dsn = format!("--dsn=sqlite://{}/m.sqlite3", db.path().display());
    let t = Spawn::new("mogilefsd")
        .args([
            "-s",
            "-l",
            "127.0.0.1:0",
            &dsn,
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .start();
    let addr = t.addr("mogilefsd");
    let load = Load::start(move || {
        let mut c = connect(addr);
        let r = ask(&mut c, "get_domains\r\n", "\r\n");
        assert!(r.starts_with("OK"), "{r}");
    });
    counters_move_under_load(
        t.addr("metrics"),
        &[
            ("mogilefs_tracker_queries_total", ""),
            ("mogilefsd_total_connections_total", ""),
        ],
    );
    drop(load);

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("dev1")).expect("dev1");
    std::fs::write(dir.path().join("dev1/f"), "hi").expect("file");
    let store = Daemon::start(
        "mogstored",
        &[
            "-s",
            "--httplisten=127.0.0.1:0",
            "--mgmtlisten=127.0.0.1:0",
            &format!("--docroot={}", dir.path().display()),
            "--metrics-listen=127.0.0.1:0",
        ],
    );
    let addr = store.addr("http");
    let load = Load::start(move || {
        let r = crate::wire::ask_once(addr, "GET /dev1/f HTTP/1.0\r\n\r\n", "hi");
        assert!(r.starts_with("HTTP/1.0 200"), "{r}");
    });
    counters_move_under_load(
        store.addr("metrics"),
        &[("mogstored_total_connections_total", "")],
    );
    drop(load);

    // perlbal: requests per service, and its latency histogram counts them.
    let www = tempfile::tempdir().expect("tempdir");
    std::fs::write(www.path().join("index.html"), "hi\n").expect("page");
    let conf = www.path().join("perlbal.conf");
    std::fs::write(
        &conf,
        format!(
            "SERVER metrics_listen = 127.0.0.1:0\n\
             CREATE SERVICE web\n  SET role = web_server\n  SET listen = 127.0.0.1:0\n  \
             SET docroot = {}\nENABLE web\n",
            www.path().display()
        ),
    )
    .expect("conf");
    let pb = Daemon::start("perlbal", &[&format!("--config={}", conf.display())]);
    let addr = pb.addr("web");
    let load = Load::start(move || {
        let r = crate::wire::ask_once(addr, "GET /index.html HTTP/1.0\r\n\r\n", "hi\n");
        assert!(r.starts_with("HTTP/1.0 200"), "{r}");
    });
    let s = counters_move_under_load(
        pb.addr("metrics"),
        &[
            ("perlbal_requests_total", ""),
            ("perlbal_service_requests_total", "service=web"),
            (
                "perlbal_service_request_duration_seconds_count",
                "service=web",
            ),
            (
                "perlbal_service_request_duration_seconds_bucket",
                "le=+Inf,service=web",
            ),
        ],
    );
    drop(load);
    let count = value(
        &s,
        "perlbal_service_request_duration_seconds_count",
        "service=web",
    );
    let inf = value(
        &s,
        "perlbal_service_request_duration_seconds_bucket",
        "le=+Inf,service=web",
    );
    assert_eq!(count, inf, "the +Inf bucket holds every request");
}

#[test]
fn mogilefsd_metrics_show_fsck_progress() {
    if !require("python3 with prometheus_client", have_parser()) {
        return;
    }
    let db = tempfile::tempdir().expect("db");
    let dsn = format!("--dsn=sqlite://{}/m.sqlite3", db.path().display());
    let t = Spawn::new("mogilefsd")
        .args([
            "-s",
            "-l",
            "127.0.0.1:0",
            &dsn,
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .start();
    let s = scrape_parsed(&t);
    assert_eq!(value(&s, "mogilefs_fsck_running", ""), Some(0.0));
    assert_eq!(value(&s, "mogilefs_fsck_checked_fid", ""), Some(0.0));
    assert_eq!(value(&s, "mogilefs_fsck_events", "code=MISS"), Some(0.0));
    // The same figures `fsck_status` gives.
    let mut c = connect(t.addr("mogilefsd"));
    let status = ask(&mut c, "fsck_status\r\n", "\r\n");
    assert!(status.contains("running=0"), "{status}");
    assert_eq!(ask(&mut c, "fsck_start\r\n", "\r\n"), "OK \r\n");
    let running = danga_testkit::wait_for(std::time::Duration::from_secs(10), || {
        let status = ask(&mut c, "fsck_status\r\n", "\r\n");
        let s = scrape_parsed(&t);
        // Both say running, or both say done (no files: it may end at once).
        let st = status.contains("running=1");
        value(&s, "mogilefs_fsck_running", "") == Some(if st { 1.0 } else { 0.0 })
    });
    assert!(running, "the metric follows fsck_status");
}

/// One HTTP/1.0 request with a body on a fresh connection; the status line.
fn http_status(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> String {
    let mut s = connect(addr);
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("head");
    s.write_all(body).expect("body");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("reply");
    let text = String::from_utf8_lossy(&raw);
    text.lines().next().unwrap_or("").to_owned()
}

/// The sum of `name` over the samples whose labels contain every `k=v` of
/// `having`, and how many samples matched.
fn sum_where(samples: &[Sample], name: &str, having: &[&str]) -> (f64, usize) {
    let hits: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == name && having.iter().all(|h| s.labels.split(',').any(|l| l == *h)))
        .map(|s| s.value)
        .collect();
    (hits.iter().sum(), hits.len())
}

#[test]
fn stack_metrics_cover_perlbal_backends_and_mogilefs_devices() {
    if !require("python3 with prometheus_client", have_parser()) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let stack = crate::launcher::Stack::up(&crate::launcher::data_dir(&tmp));
    let at = |port: u16| SocketAddr::from(([127, 0, 0, 1], port + stack.base));
    let (perlbal, mogilefsd) = (at(9413), at(9410));
    // Stores through perlbal's proxy (to the demo app, into MogileFS).
    let site = stack.addr("perlbal", 0);
    for i in 0..3 {
        let status = http_status(site, "PUT", &format!("/files/m{i}"), b"some bytes");
        assert!(status.contains(" 201 "), "{status}");
    }
    let s = parse(&scrape(perlbal));
    // Per backend: connects made and responses relayed by status class.
    let (connects, backends) = sum_where(&s, "perlbal_backend_connects_total", &[]);
    assert!(
        backends >= 1 && connects >= 1.0,
        "connects {connects} over {backends} backends"
    );
    let (ok, _) = sum_where(&s, "perlbal_backend_responses_total", &["code_class=2xx"]);
    assert!(ok >= 3.0, "2xx relayed from backends: {ok}");
    // Per service: queue lengths by priority, requests and their latency.
    for pri in ["priority=highpri", "priority=normal", "priority=lowpri"] {
        let (_, n) = sum_where(&s, "perlbal_queue_length", &[pri]);
        assert!(n >= 1, "no perlbal_queue_length{{{pri}}}");
    }
    let (answered, services) = sum_where(&s, "perlbal_service_requests_total", &[]);
    assert!(
        services >= 2 && answered >= 3.0,
        "{answered} over {services}"
    );
    let (timed, _) = sum_where(&s, "perlbal_service_request_duration_seconds_count", &[]);
    assert!(timed >= 3.0, "the PUTs are timed: {timed}");
    let (created, _) = sum_where(&s, "perlbal_service_responses_total", &["code_class=2xx"]);
    assert!(created >= 3.0, "the PUTs' 201s, per service: {created}");

    // MogileFS: the files, and each device's fill and state.
    let want_files = danga_testkit::wait_for(std::time::Duration::from_secs(20), || {
        let s = parse(&scrape(mogilefsd));
        let (files, _) = sum_where(&s, "mogilefs_files", &[]);
        let (_, used) = sum_where(&s, "mogilefs_device_used_bytes", &[]);
        let (_, total) = sum_where(&s, "mogilefs_device_total_bytes", &[]);
        let (alive, _) = sum_where(&s, "mogilefs_device_state", &["state=alive"]);
        files >= 3.0 && used == 2 && total == 2 && alive == 2.0
    });
    let s = parse(&scrape(mogilefsd));
    assert!(
        want_files,
        "files, device fill and state: {:?}",
        s.iter()
            .filter(
                |x| x.name.starts_with("mogilefs_files") || x.name.starts_with("mogilefs_device")
            )
            .collect::<Vec<_>>()
    );
    let stopped = stack.interrupt();
    assert!(stopped.status.success(), "{}", stopped.status);
}
