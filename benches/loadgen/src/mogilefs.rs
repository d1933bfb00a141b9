//! `danga-loadgen mogilefs`: MogileFS tracker + storage load.
//!
//! `--mode store` runs create_open, an HTTP PUT to the path the tracker
//! chose and create_close, as the Perl and Python clients do (one tracker
//! connection per client kept open; one HTTP connection per PUT).
//! `--mode fetch` runs get_paths then an HTTP GET of the first path;
//! `--mode paths` runs get_paths alone, `--mode noop` the `noop` command
//! (the tracker's round trip without the database). fetch and paths read the keys a
//! store run wrote (`--keys`, the same `--prefix`). `--mode setup`
//! registers storage nodes (`--node HOST:PORT`, each with devices
//! `--devs-per-node`), domain and class, so the bench script needs no other
//! client. Loopback only; bounded by `--secs` and `--timeout`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use clap::{Args, ValueEnum};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::net::Target;
use crate::Report;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Register hosts, devices, domain and class, then exit
    Setup,
    /// create_open + PUT + create_close
    Store,
    /// get_paths + GET of the first path
    Fetch,
    /// get_paths only
    Paths,
    /// `noop` only: the tracker's round trip without the database
    Noop,
}

/// Options of the `mogilefs` subcommand.
#[derive(Args, Debug)]
pub struct MogArgs {
    /// Tracker, HOST:PORT (loopback only)
    #[arg(long, default_value = "127.0.0.1:7001")]
    pub tracker: String,
    #[arg(long, value_enum, default_value_t = Mode::Store)]
    pub mode: Mode,
    /// Concurrent clients
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Seconds of load (store/fetch/paths)
    #[arg(long, default_value_t = 8.0)]
    pub secs: f64,
    /// File size in bytes (store)
    #[arg(long, default_value_t = 4096)]
    pub size: usize,
    /// Keys fetch/paths choose from (`PREFIX0` .. `PREFIX{keys-1}`)
    #[arg(long, default_value_t = 200)]
    pub keys: u64,
    /// Key prefix
    #[arg(long, default_value = "bench-")]
    pub prefix: String,
    #[arg(long, default_value = "bench")]
    pub domain: String,
    #[arg(long, default_value = "bench")]
    pub class: String,
    /// setup: the class's mindevcount
    #[arg(long, default_value_t = 1)]
    pub mindevcount: u32,
    /// setup: a storage node HOST:PORT (repeat)
    #[arg(long)]
    pub node: Vec<String>,
    /// setup: devices per node (devids numbered from 1 across nodes)
    #[arg(long, default_value_t = 1)]
    pub devs_per_node: u32,
    /// get_paths with noverify=1
    #[arg(long)]
    pub noverify: bool,
    /// Runtime worker threads
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Seconds for the whole run, connecting included
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
}

/// One tracker connection: a request line, a reply line.
struct Tracker {
    r: BufReader<TcpStream>,
    line: String,
}

impl Tracker {
    async fn connect(t: &Target) -> Result<Tracker> {
        let Target::Tcp(a) = t else {
            bail!("the tracker is reached over TCP");
        };
        let s = TcpStream::connect(a)
            .await
            .with_context(|| format!("connecting to {a}"))?;
        s.set_nodelay(true)?;
        Ok(Tracker {
            r: BufReader::new(s),
            line: String::new(),
        })
    }

    /// Sends `cmd k=v&...` (values URL-encoded) and returns the OK pairs;
    /// an `ERR` is an error carrying the line.
    async fn call(&mut self, cmd: &str, args: &[(&str, &str)]) -> Result<Vec<(String, String)>> {
        let mut req = String::with_capacity(64);
        req.push_str(cmd);
        req.push(' ');
        for (i, (k, v)) in args.iter().enumerate() {
            if i > 0 {
                req.push('&');
            }
            req.push_str(k);
            req.push('=');
            encode(v, &mut req);
        }
        req.push_str("\r\n");
        self.r.get_mut().write_all(req.as_bytes()).await?;
        self.line.clear();
        let n = self.r.read_line(&mut self.line).await?;
        ensure!(n > 0, "tracker closed the connection");
        let l = self.line.trim_end();
        match l.strip_prefix("OK") {
            Some(rest) => Ok(decode_pairs(rest.trim())),
            None => Err(anyhow!("{cmd}: {l}")),
        }
    }
}

fn encode(v: &str, out: &mut String) {
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(x) => {
                        out.push(x);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

/// `http://127.0.0.1:7500/dev1/0/000/000/0000000001.fid` → (addr, path).
fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("not an http URL: {url}"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    Ok((host.to_string(), path.to_string()))
}

/// One HTTP/1.0 request on a fresh connection; returns the status and the
/// body's length (the body is read and dropped).
async fn http(method: &str, url: &str, body: &[u8]) -> Result<(u16, u64)> {
    let (host, path) = split_url(url)?;
    let mut s = TcpStream::connect(&host)
        .await
        .with_context(|| format!("connecting to {host}"))?;
    s.set_nodelay(true)?;
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if body.is_empty() {
        s.write_all(head.as_bytes()).await?;
    } else {
        let mut all = Vec::with_capacity(head.len() + body.len());
        all.extend_from_slice(head.as_bytes());
        all.extend_from_slice(body);
        s.write_all(&all).await?;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut got: Vec<u8> = Vec::new();
    let mut total = 0u64;
    let mut status = 0u16;
    let mut head_len = None;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if head_len.is_none() {
            got.extend_from_slice(&buf[..n]);
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let line = String::from_utf8_lossy(&got[..i]);
                status = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| anyhow!("bad status line from {host}"))?;
                head_len = Some(i + 4);
            } else if got.len() > 64 * 1024 {
                bail!("response head from {host} too long");
            }
        }
    }
    let head_len = head_len.ok_or_else(|| anyhow!("no response from {host}"))? as u64;
    Ok((status, total - head_len))
}

#[derive(Default)]
struct Counts {
    ops: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

async fn setup(a: &MogArgs, t: &Target) -> Result<Report> {
    let mut tr = Tracker::connect(t).await?;
    let ok_or_exists = |r: Result<Vec<(String, String)>>| match r {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("exists") => Ok(()),
        Err(e) => Err(e),
    };
    ok_or_exists(tr.call("create_domain", &[("domain", &a.domain)]).await)?;
    let mdc = a.mindevcount.to_string();
    ok_or_exists(
        tr.call(
            "create_class",
            &[
                ("domain", &a.domain),
                ("class", &a.class),
                ("mindevcount", &mdc),
            ],
        )
        .await,
    )?;
    let mut devid = 1u32;
    for (i, node) in a.node.iter().enumerate() {
        let (ip, port) = node
            .rsplit_once(':')
            .ok_or_else(|| anyhow!("--node wants HOST:PORT, got {node}"))?;
        let name = format!("node{}", i + 1);
        let r = tr
            .call(
                "create_host",
                &[
                    ("host", &name),
                    ("ip", ip),
                    ("port", port),
                    ("status", "alive"),
                ],
            )
            .await?;
        let hostid = get(&r, "hostid").unwrap_or("").to_string();
        for _ in 0..a.devs_per_node {
            let d = devid.to_string();
            ok_or_exists(
                tr.call(
                    "create_device",
                    &[("hostid", &hostid), ("devid", &d), ("state", "alive")],
                )
                .await,
            )?;
            devid += 1;
        }
    }
    let mut r = Report::new(None);
    r.push("hosts", a.node.len());
    r.push("devices", devid - 1);
    Ok(r)
}

async fn store_one(tr: &mut Tracker, a: &MogArgs, key: &str, body: &[u8]) -> Result<()> {
    let open = tr
        .call(
            "create_open",
            &[
                ("domain", &a.domain),
                ("key", key),
                ("class", &a.class),
                ("fid", "0"),
            ],
        )
        .await?;
    let fid = get(&open, "fid")
        .ok_or_else(|| anyhow!("create_open: no fid"))?
        .to_string();
    let devid = get(&open, "devid")
        .ok_or_else(|| anyhow!("create_open: no devid"))?
        .to_string();
    let path = get(&open, "path")
        .ok_or_else(|| anyhow!("create_open: no path"))?
        .to_string();
    let (status, _) = http("PUT", &path, body).await?;
    ensure!((200..300).contains(&status), "PUT {path}: HTTP {status}");
    let size = body.len().to_string();
    tr.call(
        "create_close",
        &[
            ("domain", &a.domain),
            ("key", key),
            ("fid", &fid),
            ("devid", &devid),
            ("path", &path),
            ("size", &size),
        ],
    )
    .await?;
    Ok(())
}

async fn paths_one(tr: &mut Tracker, a: &MogArgs, key: &str) -> Result<Vec<String>> {
    let mut args = vec![("domain", a.domain.as_str()), ("key", key)];
    if a.noverify {
        args.push(("noverify", "1"));
    }
    let r = tr.call("get_paths", &args).await?;
    let n: usize = get(&r, "paths").and_then(|v| v.parse().ok()).unwrap_or(0);
    ensure!(n > 0, "get_paths {key}: no paths");
    Ok((1..=n)
        .filter_map(|i| get(&r, &format!("path{i}")).map(str::to_string))
        .collect())
}

async fn client(id: usize, a: Arc<MogArgs>, t: Target, c: Arc<Counts>, end: Instant) -> Result<()> {
    let mut tr = Tracker::connect(&t).await?;
    let body: Vec<u8> = (0..a.size).map(|i| (i * 31 + id) as u8).collect();
    let mut i = 0u64;
    while Instant::now() < end {
        let res = match a.mode {
            Mode::Store => {
                let key = format!("{}{}", a.prefix, i * a.clients as u64 + id as u64);
                store_one(&mut tr, &a, &key, &body)
                    .await
                    .map(|()| a.size as u64)
            }
            Mode::Paths | Mode::Fetch => {
                let k = (i * 7919 + id as u64 * 104_729) % a.keys.max(1);
                let key = format!("{}{}", a.prefix, k);
                match paths_one(&mut tr, &a, &key).await {
                    Ok(p) if a.mode == Mode::Fetch => match http("GET", &p[0], &[]).await {
                        Ok((200, n)) => Ok(n),
                        Ok((s, _)) => Err(anyhow!("GET {}: HTTP {s}", p[0])),
                        Err(e) => Err(e),
                    },
                    Ok(_) => Ok(0),
                    Err(e) => Err(e),
                }
            }
            Mode::Noop => tr.call("noop", &[]).await.map(|_| 0),
            Mode::Setup => unreachable!("setup runs no clients"),
        };
        match res {
            Ok(n) => {
                c.ops.fetch_add(1, Relaxed);
                c.bytes.fetch_add(n, Relaxed);
            }
            Err(e) => {
                if c.errors.fetch_add(1, Relaxed) < 3 {
                    eprintln!("danga-loadgen: {e:#}");
                }
                if e.to_string().contains("connect") {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                // An ERR leaves the connection usable; an I/O error does not.
                if !e.to_string().contains(": ERR") {
                    tr = Tracker::connect(&t).await?;
                }
            }
        }
        i += 1;
    }
    Ok(())
}

pub async fn run(a: MogArgs) -> Result<Report> {
    let t = Target::resolve(Some(&a.tracker), None).await?;
    if a.mode == Mode::Setup {
        return setup(&a, &t).await;
    }
    let a = Arc::new(a);
    let c = Arc::new(Counts::default());
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.secs);
    let hard = start + Duration::from_secs_f64(a.timeout.max(a.secs + 5.0));
    let mut set = JoinSet::new();
    for id in 0..a.clients {
        set.spawn(client(id, a.clone(), t.clone(), c.clone(), end));
    }
    let mut failure = None;
    loop {
        match tokio::time::timeout_at(hard, set.join_next()).await {
            Ok(None) => break,
            Ok(Some(Ok(Ok(())))) => {}
            Ok(Some(Ok(Err(e)))) => failure = Some(e),
            Ok(Some(Err(e))) => failure = Some(anyhow!("client task: {e}")),
            Err(_) => {
                set.abort_all();
                failure = Some(anyhow!("run exceeded --timeout"));
                break;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let ops = c.ops.load(Relaxed);
    let bytes = c.bytes.load(Relaxed);
    let mut r = Report::new(failure);
    r.push("mode", format!("{:?}", a.mode).to_lowercase());
    r.push("ops", ops);
    r.push("secs", format!("{secs:.3}"));
    r.push("ops_per_sec", format!("{:.1}", ops as f64 / secs));
    r.push("mb_per_sec", format!("{:.1}", bytes as f64 / secs / 1e6));
    r.push("errors", c.errors.load(Relaxed));
    Ok(r)
}
