//! The plugins at run time, as 1.80's hooks run them: a service's
//! `start_http_request` hooks in its plugin order (Redirect's 301,
//! MaxContentLength's 413, NotModified's 304; AccessControl's refusal is
//! left to [`super::admit`]), XFFExtras' headers, the web server's URI
//! hooks (AutoRemoveLeadingDir, Palimg), Stats' counters, and the
//! `selector` role (Vhosts, Vpaths, default_service, latency) handing the
//! request to another service.
//!
//! A service none of these plugins is on has no [`Active`]: the request
//! path then pays one `None` check.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regex::Regex;
use tokio::io::AsyncWriteExt;

use super::admit::Admit;
use super::conn::ClientConn;
use super::dispatch::ServiceRt;
use super::reply::{simple, Head};
use super::settings::{Role, Settings};
use super::{lock, Shared};
use crate::core::{Config, Plugin, Priority, ServiceConf};
use crate::proto::http::RequestHead;
use crate::proto::palimg;

/// Stats' counters of one service (1.80's `Stats::Storage`).
#[derive(Default)]
pub(crate) struct StatsStore {
    files_sent: AtomicU64,
    files_reproxied: AtomicU64,
    web_requests: AtomicU64,
    proxy_requests: AtomicU64,
    proxy_requests_highpri: AtomicU64,
    /// `secs http://host/uri`, the last 100 proxied requests.
    recent: Mutex<VecDeque<String>>,
}

/// What the plugins keep across config changes.
#[derive(Default)]
pub(crate) struct Runtime {
    stats: Mutex<BTreeMap<String, Arc<StatsStore>>>,
    /// Throttle's memory of client addresses, per service.
    throttle: Mutex<BTreeMap<String, Arc<Mutex<super::throttle::ThrottleState>>>>,
}

/// A `start_http_request` hook.
enum Hook {
    /// AccessControl: a refused client goes no further (admit answers).
    Access,
    Redirect(BTreeMap<String, String>),
    MaxContentLength(u64),
    NotModified(Regex),
}

/// How a selector picks.
enum Routes {
    None,
    Vhosts(BTreeMap<String, String>),
    Vpaths(Vec<(Regex, String)>),
}

struct Selector {
    routes: Routes,
    default: Option<String>,
    latency: Duration,
    /// Roles of the services this selector may name.
    roles: HashMap<String, String>,
}

/// One service's active plugins.
pub(crate) struct Active {
    hooks: Vec<Hook>,
    selector: Option<Selector>,
    /// XFFExtras' send_backend_port, send_backend_proto.
    xff: (bool, bool),
    stats: Option<Arc<StatsStore>>,
    /// AutoRemoveLeadingDir: the docroot's last component.
    leading_dir: Option<String>,
    palimg: bool,
    /// Queues: the queues' lengths and ages go to backends.
    queues: bool,
    /// FlvStreaming: `.flv?start=N` requests.
    flv: bool,
    /// Throttle's settings (with its state).
    throttle: Option<super::throttle::ThrottleConf>,
    /// LazyCDN: the fallback service and where to ping it.
    lazycdn: Option<(String, Option<std::net::SocketAddr>)>,
    /// The port this service listens on (X-Forwarded-Port of TLS clients).
    listen_port: u16,
    /// Cgilike: the program and the URIs it answers.
    cgi: Option<Arc<super::cgi::CgiConf>>,
}

impl Active {
    /// Cgilike's program, if it answers `uri` (other requests go on as
    /// without the plugin: 1.80's DECLINED).
    pub(crate) fn cgi_for(&self, uri: &str) -> Option<Arc<super::cgi::CgiConf>> {
        self.cgi.clone().filter(|c| c.claims(uri))
    }
}

impl std::fmt::Debug for Active {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Active")
            .field("hooks", &self.hooks.len())
            .field("selector", &self.selector.is_some())
            .field("xff", &self.xff)
            .field("stats", &self.stats.is_some())
            .field("leading_dir", &self.leading_dir)
            .field("palimg", &self.palimg)
            .finish()
    }
}

/// The plugins of `svc`, or `None` when none of them needs a hook.
pub(crate) fn build(svc: &ServiceConf, cfg: &Config, rt: &Runtime) -> Option<Arc<Active>> {
    let selector_role = svc.role.as_deref() == Some("selector");
    let interesting = svc
        .plugins
        .iter()
        .any(|p| !matches!(p, Plugin::AccessControl | Plugin::Highpri));
    if !selector_role && !interesting {
        return None;
    }
    let mut hooks = Vec::new();
    let mut routes = None;
    for p in &svc.plugins {
        match p {
            Plugin::AccessControl => hooks.push(Hook::Access),
            Plugin::Redirect => hooks.push(Hook::Redirect(svc.more.redirect.clone())),
            Plugin::MaxContentLength => {
                let max = svc
                    .values
                    .get("max_content_length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                hooks.push(Hook::MaxContentLength(max));
            }
            Plugin::NotModified => {
                if let Some(re) = svc
                    .more
                    .notmodified
                    .as_deref()
                    .and_then(|p| Regex::new(p).ok())
                {
                    hooks.push(Hook::NotModified(re));
                }
            }
            // The last selector plugin registered is the one used.
            Plugin::Vhosts => routes = Some(Routes::Vhosts(svc.more.vhosts.clone())),
            Plugin::Vpaths => {
                let v = svc
                    .more
                    .vpaths
                    .iter()
                    .filter_map(|(re, to)| Some((Regex::new(re).ok()?, to.clone())))
                    .collect();
                routes = Some(Routes::Vpaths(v));
            }
            _ => {}
        }
    }
    let has = |p: Plugin| svc.plugins.contains(&p);
    let stats =
        has(Plugin::Stats).then(|| lock(&rt.stats).entry(svc.name.clone()).or_default().clone());
    let leading_dir = has(Plugin::AutoRemoveLeadingDir)
        .then(|| {
            // 1.80: m!/([\w-]+)/?$! on the docroot.
            let root = svc.get("docroot")?.trim_end_matches('/');
            let tail = root.rsplit('/').next()?;
            let ok = !tail.is_empty()
                && tail
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            ok.then(|| tail.to_owned())
        })
        .flatten();
    let selector = selector_role.then(|| {
        let mut roles = HashMap::new();
        for s in cfg.services.values() {
            if let Some(r) = &s.role {
                roles.insert(s.name.clone(), r.clone());
            }
        }
        Selector {
            routes: routes.unwrap_or(Routes::None),
            default: svc.get("default_service").map(str::to_owned),
            latency: Duration::from_millis(svc.num("latency")),
            roles,
        }
    });
    let flag = |k: &str| svc.values.get(k).is_some_and(|v| v == "1");
    Some(Arc::new(Active {
        hooks,
        selector,
        xff: (
            has(Plugin::XFFExtras) && flag("send_backend_port"),
            has(Plugin::XFFExtras) && flag("send_backend_proto"),
        ),
        stats,
        leading_dir,
        palimg: has(Plugin::Palimg),
        queues: has(Plugin::Queues),
        flv: has(Plugin::FlvStreaming),
        throttle: has(Plugin::Throttle).then(|| {
            let state = lock(&rt.throttle)
                .entry(svc.name.clone())
                .or_default()
                .clone();
            super::throttle::ThrottleConf::new(svc, state)
        }),
        lazycdn: svc
            .get("fallback_service")
            .filter(|_| has(Plugin::LazyCDN))
            .map(|f| {
                let ping = svc
                    .get("fallback_udp_ping_addr")
                    .and_then(|a| a.parse().ok());
                (f.to_owned(), ping)
            }),
        listen_port: svc.listen().map_or(0, |a| a.port()),
        cgi: has(Plugin::Cgilike).then(|| Arc::new(super::cgi::CgiConf::from_service(svc))),
    }))
}

/// What the hooks made of a request.
pub(crate) enum Start {
    /// Go on with it (on the service and settings now in place).
    Go,
    /// It was answered; keep the connection or not.
    Done(bool),
}

/// How many selectors one request may pass through.
const MAX_HOPS: usize = 4;

/// Runs the hooks of the service in `cur`/`s` and, for a selector, hands
/// the request over (replacing `cur` and `s`), running the next
/// service's hooks in turn.
pub(crate) async fn start(
    conn: &mut ClientConn,
    req: &mut RequestHead,
    cur: &mut Arc<ServiceRt>,
    s: &mut Arc<Settings>,
    peer: IpAddr,
    shared: &Arc<Shared>,
    in_progress: &mut Option<super::throttle::InProgress>,
) -> Start {
    // The listening socket's port and protocol (XFFExtras).
    let tls = conn.is_tls();
    let mut port = match conn.stream().tcp() {
        Some(t) if !tls => t.local_addr().ok().map(|a| a.port()),
        _ => None,
    };
    let mut hops = 0;
    loop {
        let Some(p) = s.plugins.clone() else {
            return Start::Go;
        };
        let port = *port.get_or_insert(p.listen_port);
        if s.role == Role::WebServer {
            // 1.80's start_web_request comes before everything else.
            if let Some(st) = &p.stats {
                st.web_requests.fetch_add(1, Relaxed);
            }
        }
        for hook in &p.hooks {
            let reply = match hook {
                Hook::Access => {
                    if s.admit(req, peer) == Admit::Deny {
                        return Start::Go;
                    }
                    None
                }
                Hook::Redirect(map) => redirect(map, req, s),
                Hook::MaxContentLength(max) => too_long(*max, req, s),
                Hook::NotModified(re) => not_modified(re, req, s),
            };
            if let Some((out, keep)) = reply {
                return answer(conn, &out, keep).await;
            }
        }
        if let (Role::ReverseProxy, Some(t)) = (s.role, &p.throttle) {
            use super::throttle::{decide, Verdict};
            let (verdict, guard) = decide(t, peer, &req.method, &req.uri);
            *in_progress = guard;
            match verdict {
                Verdict::Go(wait) => {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
                Verdict::Deny => {
                    let keep = super::respond::keep_for(req, s);
                    let out = simple(
                        403,
                        "Forbidden.\n",
                        req.method == "HEAD",
                        keep,
                        s.server_tokens,
                    );
                    return answer(conn, &out, keep).await;
                }
                Verdict::Close => return Start::Done(false),
            }
        }
        if s.role == Role::ReverseProxy {
            if let Some(start) = flv_start(s, &req.uri) {
                req.headers.put("Range", format!("bytes={start}-"));
            }
        }
        if s.role == Role::ReverseProxy && (p.xff.0 || p.xff.1) {
            let trusted = s.rules.trusts(peer);
            if !(trusted && s.rules.blind_proxy) {
                if p.xff.0 {
                    req.headers.put("X-Forwarded-Port", port.to_string());
                }
                if p.xff.1 {
                    req.headers
                        .put("X-Forwarded-Proto", if tls { "https" } else { "http" });
                }
            }
        }
        if s.role == Role::WebServer && matches!(req.method.as_str(), "GET" | "HEAD") {
            if let Some(tail) = &p.leading_dir {
                // 1.80: s!^/$tail!! (no check that a `/` follows).
                if let Some(rest) = req
                    .uri
                    .strip_prefix('/')
                    .and_then(|u| u.strip_prefix(tail.as_str()))
                {
                    req.uri = rest.to_owned();
                }
            }
            if p.palimg {
                if let Some((uri, ext, spec)) = palimg::parse_uri(&req.uri) {
                    req.uri = uri;
                    return serve_palimg(conn, req, s, &ext, &spec).await;
                }
            }
            if let Some(next) = lazy_cdn(&p, req, s, shared).await {
                hops += 1;
                if hops > MAX_HOPS {
                    let keep = super::respond::keep_for(req, s);
                    let out = simple(500, "", req.method == "HEAD", keep, s.server_tokens);
                    return answer(conn, &out, keep).await;
                }
                *s = next.settings();
                *cur = next;
                continue;
            }
        }
        let Some(sel) = &p.selector else {
            return Start::Go;
        };
        hops += 1;
        if !sel.latency.is_zero() {
            tokio::time::sleep(sel.latency).await;
        }
        let target = match choose(sel, req, hops > MAX_HOPS) {
            Ok(t) => t,
            Err((code, msg)) => {
                let keep = super::respond::keep_for(req, s);
                let out = simple(code, &msg, req.method == "HEAD", keep, s.server_tokens);
                return answer(conn, &out, keep).await;
            }
        };
        let next = lock(&shared.services).get(&target).cloned();
        let Some(next) = next else {
            let keep = super::respond::keep_for(req, s);
            let msg = format!(
                "Can't map to service type {}",
                sel.roles.get(&target).map_or("", String::as_str)
            );
            let out = simple(500, &msg, req.method == "HEAD", keep, s.server_tokens);
            return answer(conn, &out, keep).await;
        };
        // Leaving the selector: its HEADER rules apply (1.80's release_client).
        for name in &s.rules.remove {
            req.headers.remove(name);
        }
        for (name, value) in &s.rules.insert {
            req.headers.set(name, value.as_bytes());
        }
        // The selector's persist_client decides keep-alive (1.80).
        let ns = next.settings();
        *s = if ns.persist_client == s.persist_client {
            ns
        } else {
            Arc::new(Settings {
                persist_client: s.persist_client,
                ..(*ns).clone()
            })
        };
        *cur = next;
    }
}

async fn answer(conn: &mut ClientConn, out: &[u8], keep: Option<u64>) -> Start {
    let sent = conn.stream().write_all(out).await.is_ok();
    Start::Done(sent && keep.is_some())
}

fn host(req: &RequestHead) -> Option<String> {
    req.headers
        .get_str("Host")
        .map(|h| h.to_ascii_lowercase())
        .filter(|h| !h.is_empty())
}

/// `foo.site.com` tries `foo.site.com`, `*.foo.site.com`, `*.site.com`,
/// `*.com`, then `*` (Vhosts' and Redirect's order), port removed.
pub(crate) fn host_candidates(host: &str) -> Vec<String> {
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

fn redirect(
    map: &BTreeMap<String, String>,
    req: &RequestHead,
    s: &Settings,
) -> Option<(Vec<u8>, Option<u64>)> {
    let to = match host(req) {
        None => map.get("*")?,
        Some(h) => host_candidates(&h).iter().find_map(|c| map.get(c))?,
    };
    let keep = super::respond::keep_for(req, s);
    let mut h = Head::new(301);
    h.header("Location", format!("http://{to}{}", req.uri))
        .header("Content-Length", 0)
        .server(s.server_tokens);
    Some((h.finish(keep), keep))
}

fn too_long(max: u64, req: &RequestHead, s: &Settings) -> Option<(Vec<u8>, Option<u64>)> {
    if max == 0 || req.content_length <= max {
        return None;
    }
    let keep = super::respond::keep_for(req, s);
    let out = simple(
        413,
        "Content too long.\n",
        req.method == "HEAD",
        keep,
        s.server_tokens,
    );
    Some((out, keep))
}

fn not_modified(re: &Regex, req: &RequestHead, s: &Settings) -> Option<(Vec<u8>, Option<u64>)> {
    let host = req.headers.get_str("Host").filter(|h| !h.is_empty())?;
    if !re.is_match(host)
        || req
            .headers
            .get("If-Modified-Since")
            .is_none_or(<[u8]>::is_empty)
    {
        return None;
    }
    let keep = super::respond::keep_for(req, s);
    Some((simple(304, "", false, keep, s.server_tokens), keep))
}

/// The service a selector picks, or the answer (code, message).
fn choose(sel: &Selector, req: &mut RequestHead, too_deep: bool) -> Result<String, (u16, String)> {
    if too_deep {
        return Err((500, "Too many selectors in a row.".into()));
    }
    let exists = |name: &str| sel.roles.contains_key(name);
    let picked = match &sel.routes {
        Routes::None => return Err((500, "No service selector configured.".into())),
        Routes::Vhosts(map) => {
            let host = host(req).map(|h| h.trim_end_matches('.').to_owned());
            if let (Some(h), Some(alt)) = (&host, using(&req.uri)) {
                // `/__using/<host>/x`: ask for one host, use another.
                return match map.get(&format!("{h};using:{alt}")).filter(|t| exists(t)) {
                    Some(t) => {
                        req.headers.put("Host", alt);
                        Ok(t.clone())
                    }
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
            match (found, &sel.default) {
                (Some(t), _) => t.clone(),
                (None, Some(d)) => d.clone(),
                (None, None) => return Err((404, "Not Found (no configured vhost)".into())),
            }
        }
        Routes::Vpaths(list) => {
            let uri = req.uri.as_str();
            match (list.iter().find(|(re, _)| re.is_match(uri)), &sel.default) {
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
        Ok(picked)
    } else {
        Err((404, format!("Not Found ({picked} not a defined service)")))
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

async fn serve_palimg(
    conn: &mut ClientConn,
    req: &RequestHead,
    s: &Settings,
    ext: &str,
    spec: &str,
) -> Start {
    let keep = super::respond::keep_for(req, s);
    let Some(pal) = palimg::parse_spec(spec) else {
        let out = simple(404, "", req.method == "HEAD", keep, s.server_tokens);
        return answer(conn, &out, keep).await;
    };
    let Some(web) = s.web.clone() else {
        return Start::Done(false);
    };
    let alter = (ext.to_owned(), pal);
    match super::web::get_with(conn, req, s, &web, keep, Some(&alter)).await {
        Ok(k) => Start::Done(k),
        Err(_) => Start::Done(false),
    }
}

/// A file goes out (1.80's `start_send_file`).
pub(crate) fn file_sent(s: &Settings) {
    if let Some(st) = s.plugins.as_ref().and_then(|p| p.stats.as_ref()) {
        st.files_sent.fetch_add(1, Relaxed);
    }
}

/// A backend named a file to send (1.80's `start_file_reproxy`).
pub(crate) fn file_reproxied(s: &Settings) {
    if let Some(st) = s.plugins.as_ref().and_then(|p| p.stats.as_ref()) {
        st.files_reproxied.fetch_add(1, Relaxed);
    }
}

/// A backend took the request (1.80's `backend_client_assigned`): when
/// Stats counts, the time it did.
pub(crate) fn backend_assigned(s: &Settings, prio: Priority) -> Option<tokio::time::Instant> {
    let st = s.plugins.as_ref()?.stats.as_ref()?;
    if prio == Priority::High {
        st.proxy_requests_highpri.fetch_add(1, Relaxed);
    } else {
        st.proxy_requests.fetch_add(1, Relaxed);
    }
    Some(tokio::time::Instant::now())
}

/// LazyCDN (1.80's `static_get_poststat_*` hooks): the fallback service
/// when the file is missing, or when a full 200 would be sent while the
/// URI's `v=<n>` is newer than the file's mtime; the URI is pinged to
/// `fallback_udp_ping_addr` then. Concatenated GETs are served as usual.
async fn lazy_cdn(
    p: &Active,
    req: &RequestHead,
    s: &Settings,
    shared: &Shared,
) -> Option<Arc<ServiceRt>> {
    let (fallback, ping) = p.lazycdn.as_ref()?;
    let next = lock(&shared.services).get(fallback).cloned()?;
    let web = s.web.as_ref()?;
    let probe = super::web::probe(web, &req.uri).await;
    if !crate::core::route::lazy_cdn_hands_over(req, probe) {
        return None;
    }
    if let (Some(addr), Some(sock)) = (ping, super::upload::udp()) {
        let _ = sock.send_to(req.uri.as_bytes(), addr);
    }
    Some(next)
}

/// The FLV file header FlvStreaming puts before a partial file:
/// `FLV`, version 1, flags 1, header size 9, previous tag size 9 (1.80's).
pub(crate) const FLV_HEADER: [u8; 13] = *b"FLV\x01\x01\x00\x00\x00\x09\x00\x00\x00\x09";

/// FlvStreaming: the `start` offset of a request for `*.flv?start=N`
/// (N digits, not 0), when the plugin is on the service.
pub(crate) fn flv_start<'a>(s: &Settings, uri: &'a str) -> Option<&'a str> {
    if !s.plugins.as_ref()?.flv {
        return None;
    }
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

/// FlvStreaming's answer head for a backend response of `len` body
/// bytes (head in `raw`): `HTTP/1.0 200 OK`, no Accept-Ranges or
/// Content-Range, `Content-Type: video/x-flv`, the length grown by the
/// FLV header; the other headers as the backend sent them, without
/// Connection and Keep-Alive (ours follow). `None`: not a head.
pub(crate) fn flv_head(raw: &[u8], len: u64, out: &mut Vec<u8>) -> Option<()> {
    let (head, _) = crate::proto::http::parse_response(raw).ok()??;
    out.clear();
    out.extend_from_slice(b"HTTP/1.0 200 OK\r\n");
    let total = (len + FLV_HEADER.len() as u64).to_string();
    let (mut typed, mut sized) = (false, false);
    for h in &head.headers.0 {
        let name = h.name.as_str();
        let value: &[u8] = if name.eq_ignore_ascii_case("Content-Type") {
            typed = true;
            b"video/x-flv"
        } else if name.eq_ignore_ascii_case("Content-Length") {
            if sized {
                continue;
            }
            sized = true;
            total.as_bytes()
        } else if ["Accept-Ranges", "Content-Range", "Connection", "Keep-Alive"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            continue;
        } else {
            &h.value
        };
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !typed {
        out.extend_from_slice(b"Content-Type: video/x-flv\r\n");
    }
    if !sized {
        out.extend_from_slice(format!("Content-Length: {total}\r\n").as_bytes());
    }
    Some(())
}

/// The Queues plugin's headers for a request given a backend of `svc`
/// now (1.80's `backend_client_assigned` hook): the normal and the
/// high-priority queue's length, and the age in seconds of the client at
/// its head (0 when empty).
pub(crate) fn queue_headers(s: &Settings, svc: &ServiceRt) -> Option<[(&'static str, u64); 4]> {
    if !s.plugins.as_ref()?.queues {
        return None;
    }
    let stats = svc.queue_stats();
    let of = |want: Priority| {
        stats
            .iter()
            .find(|(p, _, _)| *p == want)
            .map_or((0, 0), |(_, count, age)| (*count as u64, *age))
    };
    let ((count, age), (hp_count, hp_age)) = (of(Priority::Normal), of(Priority::High));
    Some([
        ("X-Queue-Count", count),
        ("X-Queue-Age", age),
        ("X-HP-Queue-Count", hp_count),
        ("X-HP-Queue-Age", hp_age),
    ])
}

/// The backend's response head arrived (1.80's `backend_response_received`).
pub(crate) fn response_received(
    s: &Settings,
    since: Option<tokio::time::Instant>,
    req: &RequestHead,
) {
    let (Some(since), Some(st)) = (since, s.plugins.as_ref().and_then(|p| p.stats.as_ref())) else {
        return;
    };
    let host = req.headers.get_str("Host").unwrap_or("unknown");
    let line = format!(
        "{:<6.4} http://{host}{}",
        since.elapsed().as_secs_f64(),
        req.uri
    );
    let mut recent = lock(&st.recent);
    recent.push_back(line);
    if recent.len() > 100 {
        recent.pop_front();
    }
}

const STAT_KEYS: [&str; 5] = [
    "files_reproxied",
    "files_sent",
    "proxy_requests",
    "proxy_requests_highpri",
    "web_requests",
];

fn counter<'a>(st: &'a StatsStore, key: &str) -> &'a AtomicU64 {
    match key {
        "files_reproxied" => &st.files_reproxied,
        "files_sent" => &st.files_sent,
        "proxy_requests" => &st.proxy_requests,
        "proxy_requests_highpri" => &st.proxy_requests_highpri,
        _ => &st.web_requests,
    }
}

/// The services Stats is on now, with their counters.
fn stats_services(shared: &Shared) -> Vec<(String, Arc<StatsStore>)> {
    let on: Vec<String> = lock(&shared.config)
        .services
        .values()
        .filter(|s| s.plugins.contains(&Plugin::Stats))
        .map(|s| s.name.clone())
        .collect();
    let all = lock(&shared.plugins.stats);
    on.into_iter()
        .filter_map(|n| Some((n.clone(), all.get(&n)?.clone())))
        .collect()
}

/// `STATS`' lines (1.80's `%-15s %-25s %12d`, per service then `total`).
pub(crate) fn stats_lines(shared: &Shared) -> Vec<String> {
    let mut out = Vec::new();
    let mut total = [0u64; 5];
    for (name, st) in stats_services(shared) {
        for (i, key) in STAT_KEYS.iter().enumerate() {
            let n = counter(&st, key).load(Relaxed);
            total[i] += n;
            out.push(format!("{name:<15} {key:<25} {n:>12}"));
        }
    }
    for (i, key) in STAT_KEYS.iter().enumerate() {
        out.push(format!("{:<15} {key:<25} {:>12}", "total", total[i]));
    }
    out
}

/// `RECENT`'s lines: `service secs http://host/uri`.
pub(crate) fn recent_lines(shared: &Shared) -> Vec<String> {
    let mut out = Vec::new();
    for (name, st) in stats_services(shared) {
        out.extend(lock(&st.recent).iter().map(|l| format!("{name} {l}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_tried_from_the_most_specific() {
        assert_eq!(
            host_candidates("foo.site.com:8080"),
            ["foo.site.com", "*.foo.site.com", "*.site.com", "*.com", "*"]
        );
        assert_eq!(
            host_candidates("localhost"),
            ["localhost", "*.localhost", "*"]
        );
    }

    #[test]
    fn using_twiddles_as_1_80_matches_it() {
        assert_eq!(using("/__using/foo.com/x"), Some("foo.com"));
        assert_eq!(using("/__using/foo.com/x?y=1"), Some("foo.com"));
        assert_eq!(using("/__using/foo.com/x/y"), None);
        assert_eq!(using("/__using/foo.com"), None);
        assert_eq!(using("/x"), None);
    }
}
