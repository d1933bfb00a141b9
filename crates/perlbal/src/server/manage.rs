//! The management console: one command per line, 1.80's replies (`OK`,
//! `ERROR: msg`, or lines ending in `.`), config commands applied live.
//! A line starting `GET `, `HEAD ` or `POST ` turns the connection into
//! 1.80's management web interface: the rest of the head is read, one
//! page is sent (see [`Console::page`]) and the connection closes.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use danga_common::LineReply;

use super::{bind_service, lock, now, refresh, unbind_service, Shared};
use crate::core::{Context, Effect, Priority, Role};
use crate::proto::command::{self, Command, HELP};
use crate::proto::expand::System;

/// One console session.
pub(crate) struct Console {
    shared: Arc<Shared>,
    ctx: Context,
    /// An HTTP request being read: its URI and how many lines so far.
    http: Option<(String, usize)>,
}

/// The most header lines an HTTP request to the console may have.
const MAX_HTTP_LINES: usize = 100;

/// The top of every management page (1.80's bytes).
const PAGE_HEAD: &str = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\n<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en-ZA\">\n<head><title>perlbal management interface</title><meta name=\"generator\" content=\"perlbal\" /></head><body>";

/// The foot of every management page.
const PAGE_FOOT: &str =
    "<hr style='margin-top: 10px' /><p><a href='/'>Perlbal management</a>.</p></body></html>\n";

impl Console {
    pub fn new(shared: Arc<Shared>) -> Console {
        shared.consoles.fetch_add(1, Ordering::Relaxed);
        Console {
            shared,
            ctx: Context {
                verbose: true,
                last_created: None,
            },
            http: None,
        }
    }

    /// Answers one line.
    pub fn line(&mut self, line: &str) -> LineReply {
        if let Some((uri, lines)) = self.http.as_mut() {
            if line.trim_end_matches('\r').is_empty() {
                let uri = std::mem::take(uri);
                return LineReply::SendAndClose(self.page(&uri));
            }
            *lines += 1;
            if *lines > MAX_HTTP_LINES {
                return LineReply::SendAndClose(String::new());
            }
            return LineReply::Nothing;
        }
        if ["GET ", "HEAD ", "POST "]
            .iter()
            .any(|m| line.starts_with(m))
        {
            let uri = line.split(' ').nth(1).unwrap_or("").to_owned();
            self.http = Some((uri, 0));
            return LineReply::Nothing;
        }
        let trimmed = line.trim();
        if trimmed.starts_with("quit") || trimmed.ends_with("exit") {
            return LineReply::SendAndClose(String::new());
        }
        let mut out = Vec::new();
        match command::parse(line, &System) {
            Ok(None) => return LineReply::Nothing,
            Ok(Some(cmd)) => match self.run(&cmd, &mut out) {
                Ok(()) => {}
                Err(e) => out.push(format!("ERROR: {e}")),
            },
            Err(e) => out.push(format!("ERROR: {e}")),
        }
        let mut text = String::new();
        for l in out {
            text.push_str(&l);
            text.push_str("\r\n");
        }
        LineReply::Send(text)
    }

    /// 1.80's management web page for `uri`, as a whole HTTP/1.0 reply:
    /// `/` lists the services, `/socks` and `/obj` show those commands,
    /// `/service?name` shows `SHOW SERVICE name`; anything else is a 404.
    fn page(&mut self, uri: &str) -> String {
        let mut body = String::from(PAGE_HEAD);
        let mut code = "200 OK";
        let service = uri
            .strip_prefix("/service?")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        match (uri, service) {
            ("/", _) => {
                body.push_str("<h1>perlbal management interface</h1><ul><li><a href='/socks'>Sockets</a></li><li><a href='/obj'>Perl Objects in use</a></li><li>Service Details<ul>");
                let cfg = lock(&self.shared.config);
                for s in cfg.services.values() {
                    let listen = s
                        .values
                        .get("listen")
                        .map(|l| format!(" ({l})"))
                        .unwrap_or_default();
                    let role = s.role.map_or("", Role::name);
                    let name = &s.name;
                    body.push_str(&format!(
                        "<li><a href='/service?{name}'>{name}</a> - {role}{listen}</li>\n"
                    ));
                }
                body.push_str("</ul></li></ul>");
            }
            ("/socks", _) => {
                self.boxed("socks summary", &mut body);
                self.boxed("socks", &mut body);
            }
            ("/obj", _) => self.boxed("obj", &mut body),
            (_, Some(name)) => self.boxed(&format!("show service {name}"), &mut body),
            _ => {
                code = "404 Not found";
                body.push_str(&format!("<h1>{code}</h1>"));
            }
        }
        body.push_str(PAGE_FOOT);
        format!(
            "HTTP/1.0 {code}\r\nContent-type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// A command's output in a titled `<pre>` box; a `service 'x'` in it
    /// links to that service's page.
    fn boxed(&mut self, cmd: &str, body: &mut String) {
        body.push_str(&format!(
            "<pre><div style='margin-bottom: 5px; background: #ddd'><b>{cmd}</b></div>"
        ));
        let mut out = Vec::new();
        match command::parse(cmd, &System) {
            Ok(Some(c)) => {
                if let Err(e) = self.run(&c, &mut out) {
                    out.push(format!("ERROR: {e}"));
                }
            }
            Ok(None) => {}
            Err(e) => out.push(format!("ERROR: {e}")),
        }
        for line in out {
            body.push_str(&link_service(&line));
            body.push('\n');
        }
        body.push_str("</pre>\n");
    }

    fn ok(&self, out: &mut Vec<String>) {
        if self.ctx.verbose {
            out.push("OK".into());
        }
    }

    fn run(&mut self, cmd: &Command, out: &mut Vec<String>) -> Result<(), String> {
        let sh = &self.shared;
        match cmd {
            Command::ShowServices => {
                let cfg = lock(&sh.config);
                for s in cfg.services.values() {
                    let listen = s
                        .values
                        .get("listen")
                        .map_or("not_listening", String::as_str);
                    let on = if s.enabled { "ENABLED" } else { "DISABLED" };
                    out.push(format!("{} {listen} {on}", s.name));
                }
            }
            Command::ShowService { name } => self.show_service(name, out)?,
            Command::ShowPool { name } => {
                let cfg = lock(&sh.config);
                match name {
                    Some(n) => {
                        let pl = cfg
                            .pools
                            .get(n)
                            .ok_or_else(|| format!("pool '{n}' does not exist"))?;
                        let nodes = lock(&sh.nodes);
                        for node in &pl.nodes {
                            out.push(format!("{node} {}", nodes.used((*node).into())));
                        }
                    }
                    None => {
                        for (n, pl) in &cfg.pools {
                            let users = cfg
                                .services
                                .values()
                                .filter(|s| s.values.get("pool") == Some(n))
                                .count();
                            out.push(format!("{n} nodes {}", pl.nodes.len()));
                            out.push(format!("{n} services {users}"));
                        }
                    }
                }
            }
            Command::Nodes { node } => {
                let only = node.map(|(ip, port)| (ip, port).into());
                out.extend(lock(&sh.nodes).render(only));
            }
            Command::Queues => {
                // Only reverse proxies have queues (1.80 skips other roles).
                let rts: Vec<_> = lock(&sh.services)
                    .values()
                    .filter(|rt| rt.settings().role == super::settings::Role::ReverseProxy)
                    .cloned()
                    .collect();
                for rt in rts {
                    for (p, count, age) in rt.queue_stats() {
                        let q = match p {
                            Priority::High => "highpri",
                            Priority::Normal => "normal",
                            Priority::Low => "lowpri",
                        };
                        out.push(format!("{}-{q}.age {age}", rt.name));
                        out.push(format!("{}-{q}.count {count}", rt.name));
                    }
                }
            }
            Command::States { service } => {
                let per_service = match service {
                    Some(s) => {
                        if !lock(&sh.config).services.contains_key(s) {
                            return Err("Service not found.".into());
                        }
                        // A service without a runtime (management, a
                        // tracker) has no client or backend sockets.
                        Some(lock(&sh.services).get(s).map(|rt| rt.states.clone()))
                    }
                    None => None,
                };
                let counts = match &per_service {
                    Some(Some(c)) => c.iter().collect::<Vec<_>>(),
                    Some(None) => Vec::new(),
                    None => sh.states.iter().collect(),
                };
                for ((class, state), n) in counts {
                    if n > 0 {
                        out.push(format!("{class} {state} {n}"));
                    }
                }
            }
            Command::Socks { summary } => {
                let mut by_class: std::collections::BTreeMap<&str, i64> = Default::default();
                for ((class, _), n) in sh.states.iter() {
                    *by_class.entry(class).or_default() += n;
                }
                let consoles = sh.consoles.load(Ordering::Relaxed);
                *by_class.entry("Perlbal::ClientManage").or_default() +=
                    i64::try_from(consoles).unwrap_or(i64::MAX);
                let names: Vec<String> = lock(&sh.listeners).keys().cloned().collect();
                let cfg = lock(&sh.config);
                for name in names {
                    let tracker = cfg
                        .services
                        .get(&name)
                        .is_some_and(|s| s.role == Some(Role::UploadTracker));
                    let class = if tracker {
                        "Perlbal::UploadListener"
                    } else {
                        "Perlbal::TCPListener"
                    };
                    *by_class.entry(class).or_default() += 1;
                }
                drop(cfg);
                if *summary {
                    for (class, n) in by_class.iter().filter(|(_, n)| **n > 0) {
                        out.push(format!("{n:5} {class}"));
                    }
                    out.push("Aggregate write buffer: 0.0k".into());
                    out.push("            Open files: 0".into());
                } else {
                    out.push(format!("{:>5} {:>6}", "fd", "age"));
                    let mut all: Vec<_> = lock(&sh.socks).values().cloned().collect();
                    all.sort_by_key(|e| e.fd);
                    let t = now() as u64;
                    for e in all {
                        let (class, state) = e.class_state();
                        let age = t.saturating_sub(e.created);
                        out.push(format!("{:5} {age:5}s {class}: {}; {state}", e.fd, e.desc));
                    }
                }
            }
            Command::Backends => {
                // Sorted as text, as 1.80 sorts its keys.
                let per: std::collections::BTreeMap<String, usize> = lock(&sh.backends)
                    .iter()
                    .map(|(n, c)| (n.to_string(), *c))
                    .collect();
                for (n, c) in per {
                    out.push(format!("{n} {c}"));
                }
            }
            // Objects are counted only with track_obj, which this build
            // refuses: nothing to list, as 1.80 without it.
            Command::Obj | Command::EmptyList => {}
            Command::Fd => {
                use nix::sys::resource::{getrlimit, Resource};
                let (_, max) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
                // The directory's own descriptor is counted too, as in 1.80.
                let cur = std::fs::read_dir("/proc/self/fd")
                    .map_err(|e| format!("cannot read /proc/self/fd: {e}"))?
                    .count();
                out.push(format!("max {max}"));
                out.push(format!("cur {cur}"));
            }
            Command::Reload { plugin } => {
                let lower = plugin.to_ascii_lowercase();
                let loaded = lock(&sh.config)
                    .loaded
                    .iter()
                    .find(|p| p.name().to_ascii_lowercase() == lower)
                    .copied();
                return Err(match loaded {
                    None => format!("Unknown/unloaded plugin '{plugin}'"),
                    // No bundled plugin of 1.80 can reload.
                    Some(p) => format!(
                        "Plugin Perlbal::Plugin::{} doesn't support reloading",
                        p.name()
                    ),
                });
            }
            Command::Pending => {
                let t = now() as u64;
                let mut rts: Vec<_> = lock(&sh.services).values().cloned().collect();
                rts.sort_by(|a, b| a.name.cmp(&b.name));
                for rt in rts {
                    for (n, since) in rt.snapshot().1 {
                        out.push(format!("{} {n} {}", rt.name, t.saturating_sub(since)));
                    }
                }
            }
            Command::Noverify => out.extend(lock(&sh.nodes).render_noverify(now())),
            Command::Uptime => {
                out.push(format!("starttime {}", sh.started));
                out.push(format!(
                    "uptime {}",
                    (now() as u64).saturating_sub(sh.started)
                ));
                out.push("version 1.80".into());
            }
            Command::Proc => {
                out.push(format!("time: {}", now() as u64));
                out.push(format!("pid: {}", std::process::id()));
                if let Ok(ru) =
                    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF)
                {
                    let secs =
                        |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
                    out.push(format!("utime: {} (+0)", secs(ru.user_time())));
                    out.push(format!("stime: {} (+0)", secs(ru.system_time())));
                }
                out.push(format!("reqs: {} (+0)", sh.reqs.load(Ordering::Relaxed)));
            }
            Command::Dumpconfig => {
                out.extend(lock(&sh.config).dump());
                out.push("OK".into());
                return Ok(());
            }
            Command::Plugins => out.extend(lock(&sh.config).plugin_lines()),
            Command::Patterns => {
                out.extend(lock(&sh.config).patterns()?);
                return Ok(());
            }
            Command::Help => out.extend(HELP.iter().map(|s| (*s).to_owned())),
            Command::Mime(m) => {
                let lines = lock(&sh.config).mime_command(m)?;
                out.extend(lines);
                refresh(sh);
                return Ok(());
            }
            Command::ReproxyState => out.extend(sh.reproxy.state_lines()),
            Command::SslReload { service } => {
                super::tls::reload(sh, service.as_deref()).map_err(|e| e.join("; "))?;
                self.ok(out);
                return Ok(());
            }
            Command::ThrottleReload(what) => {
                if !lock(&sh.config).loaded(crate::core::Plugin::Throttle) {
                    return Err("unknown command: throttle".into());
                }
                let what = what.as_ref().map_err(Clone::clone)?;
                let name = self.ctx.last_created.clone().ok_or(
                    "No service name set. This command must be used after CREATE SERVICE <name> or USE <service_name>",
                )?;
                let file = {
                    let cfg = lock(&sh.config);
                    let svc = cfg
                        .services
                        .get(&name)
                        .ok_or_else(|| format!("Non-existent service '{name}'"))?;
                    let key = format!("{what}_file");
                    (what != "config").then(|| svc.get(&key).map(str::to_owned))
                };
                // The lists and settings are read afresh by the refresh;
                // a list is checked here so a bad one is an error.
                if let Some(file) = file {
                    let path = file.ok_or_else(|| format!("no {what} file configured"))?;
                    super::throttle::check_list(&path)
                        .map_err(|e| format!("Couldn't load {path}: {e}"))?;
                }
                refresh(sh);
                self.ok(out);
                return Ok(());
            }
            Command::Stats | Command::Recent => {
                if !lock(&sh.config).loaded(crate::core::Plugin::Stats) {
                    let word = if *cmd == Command::Stats {
                        "stats"
                    } else {
                        "recent"
                    };
                    return Err(format!("unknown command: {word}"));
                }
                if *cmd == Command::Stats {
                    out.extend(super::plugins::stats_lines(sh));
                } else {
                    out.extend(super::plugins::recent_lines(sh));
                }
            }
            Command::Shutdown { graceful, secs } => {
                if !graceful {
                    std::process::exit(0);
                }
                sh.shutdown.trigger();
                if let Some(secs) = *secs {
                    tokio::spawn(async move {
                        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
                        std::process::exit(0);
                    });
                }
                self.ok(out);
                return Ok(());
            }
            _ => {
                let effect = lock(&sh.config).apply(cmd, &mut self.ctx)?;
                let quiet = effect == Effect::Quiet;
                self.effect(effect)?;
                refresh(sh);
                if !quiet {
                    self.ok(out);
                }
                return Ok(());
            }
        }
        out.push(".".into());
        Ok(())
    }

    fn effect(&self, effect: Effect) -> Result<(), String> {
        match effect {
            Effect::None | Effect::Quiet => Ok(()),
            Effect::Enable(name) | Effect::Rebind(name) => {
                refresh(&self.shared);
                bind_service(&self.shared, &name).inspect_err(|_| {
                    if let Some(s) = lock(&self.shared.config).services.get_mut(&name) {
                        s.enabled = false;
                    }
                })
            }
            Effect::Disable(name) => {
                unbind_service(&self.shared, &name);
                Ok(())
            }
            Effect::Batch(all) => all.into_iter().try_for_each(|e| self.effect(e)),
        }
    }

    fn show_service(&self, name: &str, out: &mut Vec<String>) -> Result<(), String> {
        let cfg = lock(&self.shared.config);
        let svc = cfg.services.get(name).ok_or("Unknown service")?;
        let role = svc.role;
        let role_name = role.map_or("", Role::name);
        out.push(format!("SERVICE {name}"));
        out.push(format!(
            "     listening: {}",
            svc.values.get("listen").map_or("--", String::as_str)
        ));
        out.push(format!("          role: {role_name}"));
        if role == Some(Role::WebServer) {
            out.push("  pend clients: 0".into());
            out.push("  pend backend: 0".into());
            out.push(format!(
                "        docroot: {}",
                svc.values.get("docroot").map_or("", String::as_str)
            ));
            return Ok(());
        }
        if role != Some(Role::ReverseProxy) {
            return Ok(());
        }
        let rt = lock(&self.shared.services).get(name).cloned();
        let (waiting, pend, bored) = rt.as_ref().map_or((0, Vec::new(), 0), |r| r.snapshot());
        out.push(format!("  pend clients: {waiting}"));
        out.push(format!("  pend backend: {}", pend.len()));
        let t = now() as u64;
        for (n, since) in &pend {
            out.push(format!(
                "   {n} - connecting - {}s",
                t.saturating_sub(*since)
            ));
        }
        if let Some(rt) = rt.as_ref().filter(|r| lock(&r.cache).max() > 0) {
            use std::sync::atomic::Ordering::Relaxed;
            let (size, max) = {
                let c = lock(&rt.cache);
                (c.len(), c.max())
            };
            let (hits, reqs) = (rt.cache_hits.load(Relaxed), rt.cache_requests.load(Relaxed));
            let rate = if reqs > 0 {
                hits as f64 / reqs as f64 * 100.0
            } else {
                0.0
            };
            out.push(format!(
                "    cache size: {size}/{max} ({:.2}%)",
                size as f64 / max as f64 * 100.0
            ));
            out.push(format!("    cache hits: {hits}"));
            out.push(format!("cache hit rate: {rate:.2}%"));
        }
        out.push(format!(
            " connect-ahead: {bored}/{}",
            svc.num("connect_ahead")
        ));
        if let Some(pool) = svc.values.get("pool").and_then(|p| cfg.pools.get(p)) {
            out.push(format!("          pool: {}", pool.name));
            out.push("         nodes:".into());
            let nodes = lock(&self.shared.nodes);
            for n in &pool.nodes {
                let used = nodes.used((*n).into());
                out.push(format!("                {:<21} {used:>7}", n.to_string()));
            }
        }
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.shared.consoles.fetch_sub(1, Ordering::Relaxed);
    }
}

/// 1.80's link on the sockets page: the first `service 'name'` becomes a
/// link to that service's page.
fn link_service(line: &str) -> String {
    let Some(at) = line.find("service '") else {
        return line.to_owned();
    };
    let rest = &line[at + "service '".len()..];
    let name_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if name_len == 0 || rest.as_bytes().get(name_len) != Some(&b'\'') {
        return line.to_owned();
    }
    let name = &rest[..name_len];
    format!(
        "{}<a href=\"/service?{name}\">{name}</a>{}",
        &line[..at],
        &rest[name_len + 1..]
    )
}

#[cfg(test)]
mod tests {
    use super::link_service;

    #[test]
    fn sockets_page_links_a_service() {
        assert_eq!(
            link_service("    4   70s listening on 127.0.0.1:80 for service 'web' ok"),
            "    4   70s listening on 127.0.0.1:80 for <a href=\"/service?web\">web</a> ok"
        );
        assert_eq!(link_service("no service here"), "no service here");
        assert_eq!(link_service("service '' x"), "service '' x");
        assert_eq!(link_service("service 'a-b'"), "service 'a-b'");
    }
}
