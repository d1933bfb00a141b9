//! Routing decisions, without I/O: which service a selector hands a
//! request to (Vhosts, Vpaths, `default_service`), what a service's
//! `start_http_request` hooks make of it (Redirect, MaxContentLength,
//! NotModified), the web server's If-Modified-Since and status choice,
//! and the small URI readings the plugins make (AutoRemoveLeadingDir,
//! FlvStreaming's `start`, LazyCDN's `v=`). Each takes the request head
//! and configuration data and returns a decision; the server writes the
//! answer.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use regex::Regex;

use crate::proto::http::RequestHead;
use crate::proto::range::ByteRange;

/// A `start_http_request` hook, run in the service's plugin order.
#[derive(Debug)]
pub enum Hook {
    /// AccessControl: a refused client goes no further (the server's
    /// access check answers).
    Access,
    /// Redirect: host (or `*.domain`, `*`) → the host to send it to.
    Redirect(BTreeMap<String, String>),
    /// MaxContentLength: the largest body accepted (0: any).
    MaxContentLength(u64),
    /// NotModified: the hosts whose conditional GETs get a 304.
    NotModified(Regex),
}

/// What a hook makes of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Early {
    /// Not this hook's business: on to the next.
    Next,
    /// Ask the service's access rules.
    CheckAccess,
    /// A 301 to this `Location`.
    Redirect(String),
    /// A 413: the body is longer than allowed.
    TooLong,
    /// A 304.
    NotModified,
}

impl Hook {
    /// This hook's decision on `req`.
    pub fn check(&self, req: &RequestHead) -> Early {
        match self {
            Hook::Access => Early::CheckAccess,
            Hook::Redirect(map) => redirect(map, req).map_or(Early::Next, Early::Redirect),
            Hook::MaxContentLength(max) => {
                if *max == 0 || req.content_length <= *max {
                    Early::Next
                } else {
                    Early::TooLong
                }
            }
            Hook::NotModified(re) => {
                let host = req.headers.get_str("Host").filter(|h| !h.is_empty());
                let ims = req.headers.get("If-Modified-Since");
                match host {
                    Some(h) if re.is_match(h) && ims.is_some_and(|v| !v.is_empty()) => {
                        Early::NotModified
                    }
                    _ => Early::Next,
                }
            }
        }
    }
}

/// Redirect's `Location` for `req`: the first of the host's candidates
/// (`*` without a Host) the map names, then the request URI.
fn redirect(map: &BTreeMap<String, String>, req: &RequestHead) -> Option<String> {
    let to = match host(req) {
        None => map.get("*")?,
        Some(h) => host_candidates(&h).iter().find_map(|c| map.get(c))?,
    };
    Some(format!("http://{to}{}", req.uri))
}

/// The Host header, lower-cased; `None` when absent or empty.
fn host(req: &RequestHead) -> Option<String> {
    req.headers
        .get_str("Host")
        .map(|h| h.to_ascii_lowercase())
        .filter(|h| !h.is_empty())
}

/// `foo.site.com` tries `foo.site.com`, `*.foo.site.com`, `*.site.com`,
/// `*.com`, then `*` (Vhosts' and Redirect's order), port removed.
pub fn host_candidates(host: &str) -> Vec<String> {
    let host = match host.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let mut out = vec![host.to_owned()];
    let mut rest = host;
    out.push(format!("*.{rest}"));
    loop {
        let word = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
            .count();
        if word == 0 {
            break;
        }
        rest = &rest[word..];
        match rest.strip_prefix('.') {
            Some(r) => {
                rest = r;
                out.push(format!("*.{rest}"));
            }
            None => break,
        }
    }
    out.push("*".into());
    out
}

/// How a selector picks.
#[derive(Debug)]
pub enum Routes {
    None,
    Vhosts(BTreeMap<String, String>),
    Vpaths(Vec<(Regex, String)>),
}

/// A selector service's routing data.
#[derive(Debug)]
pub struct Selector {
    pub routes: Routes,
    /// `default_service`.
    pub default: Option<String>,
    /// `latency`: the wait before each pick.
    pub latency: Duration,
    /// Roles of the services this selector may name.
    pub roles: HashMap<String, String>,
}

/// Where a selector sends a request.
#[derive(Debug, PartialEq, Eq)]
pub struct Choice {
    pub service: String,
    /// The Host the request goes on with (`/__using/<host>/…`).
    pub host: Option<String>,
}

/// How many selectors one request may pass through.
pub const MAX_HOPS: usize = 4;

impl Selector {
    /// The service this selector picks on its `hops`-th pass (from 1), or
    /// the answer (code, message).
    pub fn choose(&self, req: &RequestHead, hops: usize) -> Result<Choice, (u16, String)> {
        if hops > MAX_HOPS {
            return Err((500, "Too many selectors in a row.".into()));
        }
        let exists = |name: &str| self.roles.contains_key(name);
        let picked = match &self.routes {
            Routes::None => return Err((500, "No service selector configured.".into())),
            Routes::Vhosts(map) => {
                let host = host(req).map(|h| h.trim_end_matches('.').to_owned());
                if let (Some(h), Some(alt)) = (&host, using(&req.uri)) {
                    // `/__using/<host>/x`: ask for one host, use another.
                    return match map.get(&format!("{h};using:{alt}")).filter(|t| exists(t)) {
                        Some(t) => Ok(Choice {
                            service: t.clone(),
                            host: Some(alt.to_owned()),
                        }),
                        None => Err((
                            404,
                            "Vhost twiddling not configured for requested pair.".into(),
                        )),
                    };
                }
                let cands = match &host {
                    Some(h) => host_candidates(h),
                    None => vec!["*".into()],
                };
                let found = cands.iter().find_map(|c| map.get(c).filter(|t| exists(t)));
                match (found, &self.default) {
                    (Some(t), _) => t.clone(),
                    (None, Some(d)) => d.clone(),
                    (None, None) => return Err((404, "Not Found (no configured vhost)".into())),
                }
            }
            Routes::Vpaths(list) => {
                let uri = req.uri.as_str();
                match (list.iter().find(|(re, _)| re.is_match(uri)), &self.default) {
                    (Some((_, t)), _) if exists(t) => t.clone(),
                    (Some((_, t)), _) => {
                        return Err((404, format!("Not Found ({t} not a defined service)")))
                    }
                    (None, Some(d)) => d.clone(),
                    (None, None) => return Err((404, "Not Found (no configured vpath)".into())),
                }
            }
        };
        if exists(&picked) {
            Ok(Choice {
                service: picked,
                host: None,
            })
        } else {
            Err((404, format!("Not Found ({picked} not a defined service)")))
        }
    }

    /// The role of `service` as this selector knows it ("" if unknown).
    pub fn role_of(&self, service: &str) -> &str {
        self.roles.get(service).map_or("", String::as_str)
    }
}

/// 1.80's `^/__using/([\w\.]+)(?:/\w+)(?:\?.*)?$`.
fn using(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("/__using/")?;
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let host_len = rest.bytes().take_while(|b| word(*b) || *b == b'.').count();
    if host_len == 0 {
        return None;
    }
    let (alt, tail) = rest.split_at(host_len);
    let tail = tail.strip_prefix('/')?;
    let seg = tail.bytes().take_while(|b| word(*b)).count();
    if seg == 0 {
        return None;
    }
    let after = &tail[seg..];
    (after.is_empty() || after.starts_with('?')).then_some(alt)
}

/// If-Modified-Since as 1.80's web server checks it: the exact
/// Last-Modified text, and IE's `; length=N` suffix (if given) equal to
/// the size.
pub fn not_modified(req: &RequestHead, lastmod: &str, size: Option<u64>) -> bool {
    let Some(ims) = req.headers.get_str("If-Modified-Since") else {
        return false;
    };
    let (date, len) = match ims.split_once("; length=") {
        Some((d, l)) => (d, l.parse::<u64>().ok()),
        None => (ims, None),
    };
    date == lastmod && (len.is_none() || len == size)
}

/// The status of a file's answer: 304 when not modified, else by range.
pub fn file_status(not_mod: bool, range: ByteRange) -> u16 {
    if not_mod {
        return 304;
    }
    match range {
        ByteRange::Full => 200,
        ByteRange::Partial { .. } => 206,
        ByteRange::Unsatisfiable => 416,
    }
}

/// Whether a request's keep-alive may last: `Some(idle timeout)` when
/// the service keeps clients, the client asks, and no body is left
/// unread.
pub fn keep_alive(req: &RequestHead, persist: bool, timeout: Duration) -> Option<u64> {
    (persist && req.wants_keep_alive() && !req.has_body()).then_some(timeout.as_secs())
}

/// AutoRemoveLeadingDir's tail: 1.80's `m!/([\w-]+)/?$!` on the docroot.
pub fn leading_dir(docroot: &str) -> Option<String> {
    let root = docroot.trim_end_matches('/');
    let tail = root.rsplit('/').next()?;
    let ok = !tail.is_empty()
        && tail
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then(|| tail.to_owned())
}

/// AutoRemoveLeadingDir on a URI: 1.80's `s!^/$tail!!` (no check that a
/// `/` follows); `None` when the URI does not start so.
pub fn strip_leading_dir<'a>(uri: &'a str, tail: &str) -> Option<&'a str> {
    uri.strip_prefix('/')?.strip_prefix(tail)
}

/// FlvStreaming: the `start` offset of a request for `*.flv?start=N`
/// (N digits, not 0).
pub fn flv_start(uri: &str) -> Option<&str> {
    let (path, query) = uri.split_once('?')?;
    if !path.ends_with(".flv") {
        return None;
    }
    let start = query
        .split(['&', ';'])
        .find_map(|kv| kv.strip_prefix("start="))?;
    let real = !start.is_empty()
        && start.bytes().all(|b| b.is_ascii_digit())
        && start.bytes().any(|b| b != b'0');
    real.then_some(start)
}

/// What LazyCDN knows of the file a GET names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Nothing there.
    Missing,
    /// A regular file.
    File { mtime: i64, size: u64 },
    /// Anything else (a directory, a bad or concatenated URL).
    Other,
}

/// LazyCDN: whether the fallback service takes the request: the file is
/// missing, or a full 200 would be sent while the URI's `v=<n>` is newer
/// than the file's mtime.
pub fn lazy_cdn_hands_over(req: &RequestHead, probe: Probe) -> bool {
    match probe {
        Probe::Missing => true,
        Probe::File { mtime, size } => {
            let lastmod = crate::proto::date::http_date(mtime);
            let full = !not_modified(req, &lastmod, Some(size))
                && crate::proto::range::parse(req.headers.get("Range"), size) == ByteRange::Full;
            full && uri_version(&req.uri).is_some_and(|v| v > mtime as f64)
        }
        Probe::Other => false,
    }
}

/// The `v=<digits>` of a URI as 1.80's `\bv=(\d+)\b` finds it (0 is
/// no version, as Perl's truth says).
pub fn uri_version(uri: &str) -> Option<f64> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = uri.as_bytes();
    let mut from = 0;
    while let Some(at) = uri[from..].find("v=").map(|i| i + from) {
        from = at + 2;
        if at > 0 && word(bytes[at - 1]) {
            continue;
        }
        let digits = bytes[at + 2..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        let end = at + 2 + digits;
        if digits == 0 || bytes.get(end).is_some_and(|b| word(*b)) {
            continue;
        }
        let v: f64 = uri[at + 2..end].parse().ok()?;
        return (v != 0.0).then_some(v);
    }
    None
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
