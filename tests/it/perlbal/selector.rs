//! The `selector` role: Vhosts routing by Host to two reverse proxies
//! (and a 404 for an unknown host), Vpaths routing by path with a
//! default_service, keep-alive decided by the selector; compared with
//! Debian's 1.80 where the bytes are perlbal's own.

use std::io::{Read, Write};
use std::net::SocketAddr;

use super::console::original;
use super::{console, get, perlbal, read_response, TestBackend};
use crate::version::stops_cleanly;
use crate::wire::connect;

const NO_VHOST: &str = "HTTP/1.0 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 56\r\nServer: Perlbal\r\nConnection: close\r\n\r\n<h1>404 - Not Found</h1>\nNot Found (no configured vhost)";

fn vhosts_conf(a: SocketAddr, b: SocketAddr) -> String {
    format!(
        "LOAD vhosts
CREATE POOL pa
  POOL pa ADD {a}
CREATE POOL pb
  POOL pb ADD {b}
CREATE SERVICE alpha
  SET role = reverse_proxy
  SET pool = pa
  SET persist_client = on
CREATE SERVICE beta
  SET role = reverse_proxy
  SET pool = pb
CREATE SERVICE sel
  SET role = selector
  SET listen = LISTEN
  SET persist_client = on
  SET plugins = vhosts
  VHOST a.example = alpha
  VHOST *.b.example = beta
  VHOST nowhere.example = missing
ENABLE sel
"
    )
}

/// A GET with only the given Host (no default one).
fn get_with_host(addr: SocketAddr, path: &str, host: &str) -> String {
    let mut s = connect(addr);
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn perlbal_vhosts_route_by_host_to_two_services() {
    let (a, b) = (
        TestBackend::start("a", false),
        TestBackend::start("b", false),
    );
    let conf = vhosts_conf(a.addr, b.addr);
    let d = perlbal(&conf);
    let (sel, mgmt) = (d.addr("sel"), d.addr("mgmt"));
    let r = get_with_host(sel, "/one", "a.example");
    assert!(r.ends_with("a GET /one 0"), "{r}");
    // Wildcards from the most specific; the port does not count.
    let r = get_with_host(sel, "/two", "www.b.example:8080");
    assert!(r.ends_with("b GET /two 0"), "{r}");
    let r = get_with_host(sel, "/three", "deep.www.b.example");
    assert!(r.ends_with("b GET /three 0"), "{r}");
    // Unknown host, and a host mapped to a service that does not exist.
    assert_eq!(get_with_host(sel, "/x", "c.example"), NO_VHOST);
    assert_eq!(get_with_host(sel, "/x", "nowhere.example"), NO_VHOST);
    assert_eq!(a.seen().len() + b.seen().len(), 3);
    // The selector's keep-alive: one connection, two services, each
    // request returning to the selector.
    let mut s = connect(sel);
    for (host, who) in [("a.example", "a"), ("x.b.example", "b"), ("a.example", "a")] {
        s.write_all(
            format!("GET /ka HTTP/1.0\r\nHost: {host}\r\nConnection: keep-alive\r\n\r\n")
                .as_bytes(),
        )
        .expect("write");
        let r = read_response(&mut s);
        assert!(
            r.contains("Connection: keep-alive\r\n") && r.ends_with(&format!("{who} GET /ka 0")),
            "{r}"
        );
    }
    drop(s);
    // VHOST lines are live and dumped.
    assert_eq!(console(mgmt, "VHOST sel c.example = alpha"), "OK\r\n");
    assert!(get_with_host(sel, "/late", "c.example").ends_with("a GET /late 0"));
    let dump = console(mgmt, "DUMPCONFIG");
    assert!(
        dump.contains("  VHOST *.b.example = beta\r\n  VHOST a.example = alpha\r\n  VHOST c.example = alpha\r\n  VHOST nowhere.example = missing\r\nENABLE sel\r\n"),
        "{dump}"
    );
    assert_eq!(
        console(mgmt, "VHOST alpha x = beta"),
        "ERROR: Service 'alpha' is not a selector service\r\n"
    );
    assert_eq!(
        console(mgmt, "SHOW SERVICE sel").lines().nth(2),
        Some("          role: selector")
    );
    // Debian's 1.80: the same routing and the same 404.
    if let Some((theirs, t_sel, _t_mgmt, _dir)) = original(&conf) {
        assert!(get_with_host(t_sel, "/o1", "a.example").ends_with("a GET /o1 0"));
        assert!(get_with_host(t_sel, "/o2", "www.b.example:8080").ends_with("b GET /o2 0"));
        assert_eq!(get_with_host(t_sel, "/x", "c.example"), NO_VHOST);
        assert_eq!(get_with_host(t_sel, "/x", "nowhere.example"), NO_VHOST);
        drop(theirs);
    }
    stops_cleanly(d);
}

#[test]
fn perlbal_vpaths_route_by_path_with_a_default_service() {
    let (a, b) = (
        TestBackend::start("a", false),
        TestBackend::start("b", false),
    );
    let docs = tempfile::tempdir().expect("docroot");
    std::fs::create_dir(docs.path().join("static")).expect("mkdir");
    std::fs::write(docs.path().join("static/f.txt"), "static file\n").expect("write");
    let conf = format!(
        "LOAD vpaths
CREATE POOL pa
  POOL pa ADD {}
CREATE POOL pb
  POOL pb ADD {}
CREATE SERVICE api
  SET role = reverse_proxy
  SET pool = pa
CREATE SERVICE rest
  SET role = reverse_proxy
  SET pool = pb
CREATE SERVICE files
  SET role = web_server
  SET docroot = {}
CREATE SERVICE sel
  SET role = selector
  SET listen = LISTEN
  SET plugins = vpaths
  VPATH ^/api/ = api
  VPATH ^/static/ = files
  VPATH ^/gone = nosuch
ENABLE sel
",
        a.addr,
        b.addr,
        docs.path().display()
    );
    let no_default = perlbal(&conf);
    let sel = no_default.addr("sel");
    assert!(get(sel, "/api/v1?q=1", "").ends_with("a GET /api/v1?q=1 0"));
    let f = get(sel, "/static/f.txt", "");
    assert!(
        f.starts_with("HTTP/1.0 200 OK\r\n") && f.ends_with("\r\n\r\nstatic file\n"),
        "{f}"
    );
    let gone = get(sel, "/gone", "");
    assert!(
        gone.ends_with("<h1>404 - Not Found</h1>\nNot Found (nosuch not a defined service)"),
        "{gone}"
    );
    // No match and no default_service: a 404 (1.80 left the client hanging).
    let none = get(sel, "/other", "");
    assert!(none.ends_with("Not Found (no configured vpath)"), "{none}");
    if let Some((theirs, t_sel, _m, _dir)) = original(&conf) {
        assert!(get(t_sel, "/api/v1?q=1", "").ends_with("a GET /api/v1?q=1 0"));
        assert_eq!(get(t_sel, "/gone", ""), gone);
        drop(theirs);
    }
    stops_cleanly(no_default);
    // default_service takes what no VPATH matches (after `latency` ms).
    let conf = conf.replace(
        "ENABLE sel",
        "SET default_service = rest\n  SET latency = 50\nENABLE sel",
    );
    let d = perlbal(&conf);
    let sel = d.addr("sel");
    assert!(get(sel, "/other", "").ends_with("b GET /other 0"));
    assert!(get(sel, "/api/x", "").ends_with("a GET /api/x 0"));
    let dump = console(d.addr("mgmt"), "DUMPCONFIG");
    assert!(
        dump.contains("  SET default_service = rest\r\n  SET latency = 50\r\n"),
        "{dump}"
    );
    stops_cleanly(d);
}

/// One console connection: every line, then `quit`; all it printed.
fn session(addr: SocketAddr, lines: &[&str]) -> String {
    let mut s = connect(addr);
    let mut text = lines.join("\r\n");
    text.push_str("\r\nquit\r\n");
    s.write_all(text.as_bytes()).expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

const PLUGIN_CONF: &str = "LOAD vhosts
LOAD vpaths
LOAD redirect
LOAD stats
LOAD MaxContentLength
LOAD NotModified
LOAD XFFExtras
LOAD include
CREATE POOL pool
CREATE SERVICE rp
  SET role = reverse_proxy
  SET pool = pool
  SET plugins = stats, xffextras
CREATE SERVICE ws
  SET role = web_server
  SET docroot = DOCS
  SET plugins = stats
CREATE SERVICE sel
  SET role = selector
  SET listen = LISTEN
  SET plugins = vhosts
  VHOST *.example.com = ws
ENABLE sel
";

const PLUGIN_SESSION: &[&str] = &[
    "vhost x = y",
    "use ws",
    "vhost a = b",
    "use sel",
    "vhost A%b = c",
    "vhost sel Foo.Bar = Baz",
    "vhost sel x.example = rp",
    "vpath sel ^/x = ws",
    "vpath ws ^/x = ws",
    "redirect host a.example b.example",
    "redirect",
    "redirect host a",
    "use pool",
    "redirect host a b",
    "set ws.max_content_length = 5",
    "set ws.max_content_length = x",
    "set ws.send_backend_port = 1",
    "set rp.send_backend_port = 1",
    "set rp.send_backend_proto = no",
    "set sel.latency = 5",
    "set ws.notmodified.host_pattern = ^a",
    "set ws.plugins = notmodified, stats",
    "set ws.notmodified.host_pattern = ^a",
    "include /x",
    "stats",
    "recent",
    "plugins",
    "show service sel",
];

#[test]
fn perlbal_plugin_commands_answer_as_1_80_does() {
    let docs = tempfile::tempdir().expect("docroot");
    let conf = PLUGIN_CONF.replace("DOCS", &docs.path().display().to_string());
    let ours = perlbal(&conf);
    let (o_sel, o_mgmt) = (ours.addr("sel"), ours.addr("mgmt"));
    let mine = session(o_mgmt, PLUGIN_SESSION);
    assert!(
        mine.starts_with("ERROR: omitted service name not implied from context\r\nOK\r\nERROR: Service 'ws' is not a selector service\r\nOK\r\nERROR: invalid host pattern: 'a%b'\r\nOK\r\nOK\r\nOK\r\nERROR: Service 'ws' is not a selector service\r\nERROR: usage: REDIRECT HOST <match_host> <target_host>\r\n"),
        "{mine}"
    );
    assert!(
        mine.contains("sel Vhosts\r\nrp Stats XFFExtras\r\nws NotModified Stats\r\n")
            || mine.contains("rp Stats XFFExtras\r\nsel Vhosts\r\nws NotModified Stats\r\n"),
        "{mine}"
    );
    let dump = console(o_mgmt, "DUMPCONFIG");
    assert!(dump.contains("  SET latency = 5\r\n  VHOST *.example.com = ws\r\n  VHOST foo.bar = Baz\r\n  VHOST x.example = rp\r\nENABLE sel\r\n"), "{dump}");
    assert!(dump.contains("  SET send_backend_port = on\r\n"), "{dump}");
    let Some((theirs, t_sel, t_mgmt, _dir)) = original(&conf) else {
        stops_cleanly(ours);
        return;
    };
    let sorted = |s: &str, sel: SocketAddr, mgmt: SocketAddr| {
        let s = s
            .replace(&sel.to_string(), "SEL")
            .replace(&mgmt.to_string(), "MGMT");
        let mut l: Vec<String> = s.lines().map(str::to_owned).collect();
        l.sort_unstable();
        l
    };
    // Line for line, but 1.80 lists services in hash order.
    assert_eq!(
        sorted(&mine, o_sel, o_mgmt),
        sorted(&session(t_mgmt, PLUGIN_SESSION), t_sel, t_mgmt)
    );
    assert_eq!(
        sorted(&dump, o_sel, o_mgmt),
        sorted(&console(t_mgmt, "DUMPCONFIG"), t_sel, t_mgmt)
    );
    drop(theirs);
    stops_cleanly(ours);
}

#[test]
fn perlbal_include_runs_the_files_a_glob_names() {
    let dir = tempfile::tempdir().expect("dir");
    let (a, b) = (
        TestBackend::start("a", false),
        TestBackend::start("b", false),
    );
    std::fs::create_dir(dir.path().join("conf.d")).expect("mkdir");
    std::fs::write(
        dir.path().join("conf.d/10-pools.conf"),
        format!(
            "CREATE POOL pa\nPOOL pa ADD {}\nCREATE POOL pb\nPOOL pb ADD {}\n",
            a.addr, b.addr
        ),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("conf.d/20-services.conf"),
        "CREATE SERVICE alpha\nSET role = reverse_proxy\nSET pool = pa\nCREATE SERVICE beta\nSET role = reverse_proxy\nSET pool = pb\n",
    )
    .expect("write");
    let conf = format!(
        "LOAD include\nLOAD vhosts\nINCLUDE = {}/conf.d/*.conf\n{}",
        dir.path().display(),
        "CREATE SERVICE sel\n  SET role = selector\n  SET listen = LISTEN\n  SET plugins = vhosts\n  VHOST a = alpha\n  VHOST b = beta\nENABLE sel\n"
    );
    let d = perlbal(&conf);
    let sel = d.addr("sel");
    assert!(get_with_host(sel, "/i", "a").ends_with("a GET /i 0"));
    assert!(get_with_host(sel, "/j", "b").ends_with("b GET /j 0"));
    // Live, from the console: a file with a service that is enabled.
    std::fs::write(
        dir.path().join("late.conf"),
        "CREATE SERVICE late\nSET role = reverse_proxy\nSET listen = 127.0.0.1:0\nSET pool = pa\nENABLE late\n",
    )
    .expect("write");
    let mgmt = d.addr("mgmt");
    assert_eq!(
        console(
            mgmt,
            &format!("INCLUDE = {}/late.conf", dir.path().display())
        ),
        "OK\r\n"
    );
    let shown = console(mgmt, "SHOW SERVICE late");
    let late: SocketAddr = shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("listening: "))
        .and_then(|a| a.parse().ok())
        .expect("late listens");
    assert!(get(late, "/late", "").ends_with("a GET /late 0"));
    // A bad line in an included file fails the INCLUDE, naming the file
    // and the line number only (issue 21: no content on the console).
    std::fs::write(dir.path().join("bad.conf"), "SET nope.frob = 1\n").expect("write");
    let err = console(
        mgmt,
        &format!("INCLUDE = {}/bad.conf", dir.path().display()),
    );
    assert!(
        err.starts_with("ERROR: ")
            && err.ends_with("bad.conf: line 1 is not a valid config line\r\n"),
        "{err}"
    );
    stops_cleanly(d);
}
