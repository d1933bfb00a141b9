//! mogfiledebug: everything the tracker knows about one file (its row, its
//! queue and tempfile rows, its devices and checksum), and each copy
//! checked: printed, HEAD-ed, or fetched and MD5-summed (the default), as
//! MogileFS-Utils 2.30's tool reports it.
//!
//! `mogfiledebug --trackers=host --domain=foo --key=/hello.jpg`
//! `mogfiledebug --trackers=host --fid=1234 [--paths=print|stat|fetch]`

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use danga_mogilefs::client::Admin;
use md5::{Digest, Md5};
use mogilefs_utils::{run, Common};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Dump gobs of information about a FID
#[derive(Parser, Debug)]
#[command(name = "mogfiledebug", version = mogilefs_utils::VERSION)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// The key to inspect
    #[arg(long)]
    key: Option<String>,
    /// A fid to inspect instead of a domain and key
    #[arg(long)]
    fid: Option<u64>,
    /// What to do with each path: print, stat (HEAD) or fetch (and MD5)
    #[arg(long, default_value = "fetch", value_parser = ["print", "stat", "fetch"])]
    paths: String,
}

/// How one copy answered.
#[derive(Debug, Default)]
struct Checked {
    path: String,
    status: String,
    length: Option<u64>,
    mtime: Option<String>,
    md5: Option<String>,
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// A GET (summing the body) or HEAD of an `http://host:port/path` URL.
async fn check(url: &str, fetch: bool) -> Checked {
    let mut c = Checked {
        path: url.to_owned(),
        ..Checked::default()
    };
    match tokio::time::timeout(TIMEOUT, request(url, fetch, &mut c)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => c.status = format!("500 {e}"),
        Err(_) => c.status = "500 read timeout".into(),
    }
    c
}

async fn request(url: &str, fetch: bool, c: &mut Checked) -> std::io::Result<()> {
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_owned());
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("not an http:// URL"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let method = if fetch { "GET" } else { "HEAD" };
    s.write_all(format!("{method} {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await?;
    // The head: at most 64 KiB.
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 32 * 1024];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return Err(bad("response head too long"));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("connection closed before the response head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default();
    c.status = status.split_once(' ').map_or(status, |x| x.1).to_owned();
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "last-modified" => c.mtime = Some(v.trim().to_owned()),
                "content-length" if !fetch => c.length = v.trim().parse().ok(),
                _ => {}
            }
        }
    }
    if fetch {
        let mut md5 = Md5::new();
        let body = &buf[end + 4..];
        md5.update(body);
        let mut len = body.len() as u64;
        loop {
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            md5.update(&chunk[..n]);
            len += n as u64;
        }
        c.length = Some(len);
        c.md5 = Some(format!("{:x}", md5.finalize()));
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(async move {
        let admin = Admin::new(cli.common.trackers()?);
        let mut args: Vec<(&str, String)> = Vec::new();
        match (&cli.fid, &cli.key) {
            (Some(fid), _) => {
                let domain = cli
                    .common
                    .domain
                    .clone()
                    .unwrap_or_else(|| "mogfiledebug-unset".into());
                args.push(("domain", domain));
                args.push(("fid", fid.to_string()));
            }
            (None, Some(key)) => {
                let setup = cli.common.setup()?;
                args.push(("domain", setup.client.domain().to_owned()));
                args.push(("key", key.clone()));
            }
            (None, None) => return Err("give --key (with --domain) or --fid".into()),
        }
        let pairs: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let details: BTreeMap<String, String> = admin
            .raw("file_debug", &pairs)
            .await
            .map_err(|e| format!("Error fetching fid info: {e}"))?
            .into_iter()
            .collect();
        let mut paths: Vec<(&String, &String)> = details
            .iter()
            .filter(|(k, _)| k.starts_with("devpath_"))
            .collect();
        paths.sort_by_key(|(k, _)| k.trim_start_matches("devpath_").parse::<u64>().unwrap_or(0));
        // `part_field` keys, split at the last `_`, by part.
        let mut parts: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
        for (k, v) in &details {
            if k.starts_with("devpath_") {
                continue;
            }
            if let Some((part, field)) = k.rsplit_once('_') {
                parts.entry(part).or_default().insert(field, v);
            }
        }
        let mut out = String::new();
        if paths.is_empty() {
            out.push_str("No valid-ish paths found\n");
        } else if cli.paths == "print" {
            out.push_str("Paths...\n");
            for (_, p) in &paths {
                out.push_str(&format!(" - {p}\n"));
            }
        } else {
            let fetch = cli.paths == "fetch";
            out.push_str(if fetch {
                "Fetching and summing paths...\n"
            } else {
                "Checking status of paths...\n"
            });
            let mut results = Vec::new();
            for (_, p) in &paths {
                results.push(check(p, fetch).await);
            }
            let len: Option<u64> = parts
                .get("fid")
                .and_then(|f| f.get("length"))
                .and_then(|l| l.parse().ok());
            if len.is_none() {
                out.push_str("No length, cannot verify content length");
            }
            let mut first_md5: Option<String> = None;
            for r in &results {
                out.push_str(&format!("\nResults for path: {}\n", r.path));
                if r.status.starts_with("404") {
                    out.push_str(&format!(" - ERROR: File copy is missing: {}\n", r.status));
                    continue;
                }
                if fetch {
                    let first = first_md5.get_or_insert_with(|| r.md5.clone().unwrap_or_default());
                    if Some(&*first) != r.md5.as_ref() {
                        out.push_str(" - ERROR: Hash does not match first path!\n");
                    }
                }
                if let (Some(want), Some(got)) = (len, r.length) {
                    if want != got {
                        out.push_str(" - ERROR: Length does not match file row!\n");
                    }
                }
                if let Some(h) = &r.md5 {
                    out.push_str(&format!(" - MD5 Hash: {h}\n"));
                }
                if let Some(l) = r.length {
                    out.push_str(&format!(" - Length: {l}\n"));
                }
                if let Some(m) = &r.mtime {
                    out.push_str(&format!(" - Last-Modified: {m}\n"));
                }
                out.push_str(&format!(" - HTTP result: {}\n", r.status));
            }
        }
        out.push_str("\nTempfile and/or queue rows...\n");
        let mut found = false;
        for kind in ["tempfile", "replqueue", "delqueue", "rebqueue", "fsckqueue"] {
            let Some(part) = parts.get(kind) else {
                continue;
            };
            found = true;
            out.push_str(&format!("- {kind:>12}\n"));
            for (k, v) in part {
                out.push_str(&format!("  {k:>20}: {v:>20}\n"));
            }
        }
        if !found {
            out.push_str("none.\n");
        }
        match parts.get("fid") {
            Some(fid) => {
                out.push_str("\n- File Row:\n");
                for (k, v) in fid {
                    out.push_str(&format!("  {k:>8}: {v:>20}\n"));
                }
            }
            None => out.push_str(
                "- ERROR: No file row was found!\nFile may have been deleted or never closed.\n\
                 See above for any matching rows from tempfile or delqueue.\n",
            ),
        }
        if let Some(d) = details.get("devids") {
            out.push_str(&format!("\n- Raw devids: {d}\n"));
        }
        if let Some(h) = details.get("checksum") {
            out.push_str(&format!("\n- Stored checksum: {h}\n"));
        }
        print!("{out}");
        Ok(())
    })
}
