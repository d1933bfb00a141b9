//! A request's way through its service's plugins before it is served
//! or proxied: the `start_http_request` hooks in plugin order, Throttle,
//! FlvStreaming's Range, XFFExtras' headers, the web server's URI hooks
//! (AutoRemoveLeadingDir, Palimg, LazyCDN), and a selector handing the
//! request over to the service it picks, whose hooks run in turn.

use std::net::IpAddr;
use std::sync::Arc;

use super::backend::flv_start;
use crate::core::route::{lazy_cdn_hands_over, strip_leading_dir, Early, MAX_HOPS};
use crate::proto::http::RequestHead;
use crate::proto::palimg;
use crate::server::admit::Admit;
use crate::server::conn::ClientConn;
use crate::server::dispatch::ServiceRt;
use crate::server::reply::Head;
use crate::server::respond::{keep_for, Body, Replied, Reply};
use crate::server::settings::{PluginSet, Role, Settings};
use crate::server::throttle::{decide, InProgress, Verdict};
use crate::server::{lock, Shared};

/// What the hooks made of a request.
pub(crate) enum Start {
    /// Go on with it (on the service and settings now in place).
    Go,
    /// It was answered; keep the connection or not.
    Done(bool),
}

/// The answer to `req` on `s`, with its keep-alive.
fn reply<'c>(conn: &'c mut ClientConn, req: &RequestHead, s: &Settings) -> Reply<'c> {
    Reply::new(conn, req, s, keep_for(req, s))
}

/// An answer written (or not): the connection stays if it went out and
/// offered keep-alive.
fn done(r: Replied) -> Start {
    Start::Done(r.unwrap_or(false))
}

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
    in_progress: &mut Option<InProgress>,
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
                st.web_request();
            }
        }
        for hook in &p.hooks {
            match hook.check(req) {
                Early::Next => {}
                Early::CheckAccess => {
                    if s.admit(req, peer) == Admit::Deny {
                        return Start::Go;
                    }
                }
                Early::Redirect(to) => {
                    let mut h = Head::new(301);
                    h.header("Location", to)
                        .header("Content-Length", 0)
                        .server(s.server_tokens);
                    return done(reply(conn, req, s).send(h, Body::Empty).await);
                }
                Early::TooLong => {
                    let r = reply(conn, req, s).simple(413, "Content too long.\n").await;
                    return done(r);
                }
                Early::NotModified => return done(reply(conn, req, s).simple(304, "").await),
            }
        }
        if let (Role::ReverseProxy, Some(t)) = (s.role, &p.throttle) {
            let (verdict, guard) = decide(t, peer, &req.method, &req.uri);
            *in_progress = guard;
            match verdict {
                Verdict::Go(wait) => {
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
                Verdict::Deny => {
                    return done(reply(conn, req, s).simple(403, "Forbidden.\n").await);
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
                if let Some(rest) = strip_leading_dir(&req.uri, tail) {
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
                    return done(reply(conn, req, s).simple(500, "").await);
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
        let choice = match sel.choose(req, hops) {
            Ok(c) => c,
            Err((code, msg)) => return done(reply(conn, req, s).simple(code, &msg).await),
        };
        if let Some(alt) = choice.host {
            req.headers.put("Host", alt);
        }
        let next = lock(&shared.services).get(&choice.service).cloned();
        let Some(next) = next else {
            let msg = format!("Can't map to service type {}", sel.role_of(&choice.service));
            return done(reply(conn, req, s).simple(500, &msg).await);
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

/// Palimg: the file with the palette `spec` applied, or 1.80's 404 for a
/// spec it cannot read.
async fn serve_palimg(
    conn: &mut ClientConn,
    req: &RequestHead,
    s: &Settings,
    ext: &str,
    spec: &str,
) -> Start {
    let Some(pal) = palimg::parse_spec(spec) else {
        return done(reply(conn, req, s).simple(404, "").await);
    };
    let Some(web) = s.web.clone() else {
        return Start::Done(false);
    };
    let alter = (ext.to_owned(), pal);
    let keep = keep_for(req, s);
    done(crate::server::web::get_with(conn, req, s, &web, keep, Some(&alter)).await)
}

/// LazyCDN (1.80's `static_get_poststat_*` hooks): the fallback service
/// when [`lazy_cdn_hands_over`] says so, the URI pinged to
/// `fallback_udp_ping_addr` then. Concatenated GETs are served as usual.
async fn lazy_cdn(
    p: &PluginSet,
    req: &RequestHead,
    s: &Settings,
    shared: &Shared,
) -> Option<Arc<ServiceRt>> {
    let (fallback, ping) = p.lazycdn.as_ref()?;
    let next = lock(&shared.services).get(fallback).cloned()?;
    let web = s.web.as_ref()?;
    let probe = crate::server::web::probe(web, &req.uri).await;
    if !lazy_cdn_hands_over(req, probe) {
        return None;
    }
    if let (Some(addr), Some(sock)) = (ping, ping_socket()) {
        let _ = sock.send_to(req.uri.as_bytes(), addr);
    }
    Some(next)
}

/// The UDP socket LazyCDN's pings leave from (made on first use).
fn ping_socket() -> Option<&'static std::net::UdpSocket> {
    static SOCK: std::sync::OnceLock<Option<std::net::UdpSocket>> = std::sync::OnceLock::new();
    SOCK.get_or_init(|| {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
        s.set_nonblocking(true).ok()?;
        Some(s)
    })
    .as_ref()
}
