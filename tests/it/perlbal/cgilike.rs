//! The Cgilike plugin as this build has it: a CGI/1.1 program answers the
//! requests under `cgi_uri_prefix` (environment, body on stdin, Status and
//! Location, the output budget, the timeout), other requests are served
//! as without the plugin; 1.80's Perl commands answer an error naming what
//! to use instead.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{console, get, perlbal};
use crate::version::stops_cleanly;
use crate::wire::connect;

/// A CGI program in `dir` (a shell script): what it does depends on
/// PATH_INFO.
fn program(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("app.cgi");
    std::fs::write(
        &p,
        r#"#!/bin/sh
case "$PATH_INFO" in
  /slow) sleep 30 ;;
  /big) printf 'Content-Type: text/plain\n\n'; exec yes 0123456789 ;;
  /nohead) exit 1 ;;
  /status) printf 'Status: 404 Not Found\nContent-Type: text/plain\n\nnope\n'; exit 0 ;;
  /redirect) printf 'Location: http://example.test/x\n\n'; exit 0 ;;
esac
body=$(cat)
printf 'Content-Type: text/plain\nX-Cgi: yes\n\n'
echo "method=$REQUEST_METHOD"
echo "script=$SCRIPT_NAME"
echo "path_info=$PATH_INFO"
echo "query=$QUERY_STRING"
echo "remote=$REMOTE_ADDR"
echo "gateway=$GATEWAY_INTERFACE"
echo "x_thing=$HTTP_X_THING"
echo "content_length=$CONTENT_LENGTH"
echo "body=$body"
echo "pwd=$(pwd)"
"#,
    )
    .expect("write program");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

/// A request with a body, HTTP/1.0; the whole answer.
fn post(addr: std::net::SocketAddr, path: &str, body: &str) -> String {
    let mut s = connect(addr);
    s.write_all(
        format!(
            "POST {path} HTTP/1.0\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn body_of(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn perlbal_issue_21_cgilike_runs_a_cgi_program() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().canonicalize().expect("canonical");
    let prog = program(&root);
    let docs = root.join("docs");
    std::fs::create_dir(&docs).expect("mkdir");
    std::fs::write(docs.join("static.txt"), "static file").expect("write");
    let d = perlbal(&format!(
        "LOAD cgilike
CREATE SERVICE app
  SET role = web_server
  SET listen = LISTEN
  SET docroot = {docs}
  SET plugins = cgilike
  SET cgi_program = {prog}
  SET cgi_uri_prefix = /app/
  SET cgi_max_output = 1000
ENABLE app
CREATE SERVICE slow
  SET role = web_server
  SET listen = LISTEN
  SET docroot = {docs}
  SET plugins = cgilike
  SET cgi_program = {prog}
  SET cgi_timeout = 1
ENABLE slow
CREATE SERVICE bare
  SET role = web_server
  SET listen = LISTEN
  SET docroot = {docs}
  SET plugins = cgilike
ENABLE bare
",
        docs = docs.display(),
        prog = prog.display()
    ));
    let app = d.addr("app");
    // Outside the prefix: the web server, as without the plugin.
    let r = get(app, "/static.txt", "");
    assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
    assert_eq!(body_of(&r), "static file");
    assert!(get(app, "/apple", "").starts_with("HTTP/1.0 404 "));
    // A GET: the CGI variables.
    let r = get(app, "/app/x%20y?q=1&r=2", "X-Thing: thing\r\n");
    assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
    assert!(r.contains("\r\nX-Cgi: yes\r\n") && r.contains("\r\nConnection: close\r\n"));
    let want = format!(
        "method=GET\nscript=/app\npath_info=/x y\nquery=q=1&r=2\nremote=127.0.0.1\ngateway=CGI/1.1\nx_thing=thing\ncontent_length=\nbody=\npwd={}\n",
        root.display()
    );
    assert_eq!(body_of(&r), want);
    // A POST: the body on stdin.
    let r = post(app, "/app", "hello");
    let b = body_of(&r);
    assert!(
        b.contains("method=POST\n")
            && b.contains("path_info=\n")
            && b.contains("content_length=5\n")
            && b.contains("body=hello\n"),
        "{r}"
    );
    // Status and Location.
    let r = get(app, "/app/status", "");
    assert!(r.starts_with("HTTP/1.0 404 Not Found\r\n"), "{r}");
    assert_eq!(body_of(&r), "nope\n");
    let r = get(app, "/app/redirect", "");
    assert!(r.starts_with("HTTP/1.0 302 Found\r\n"), "{r}");
    assert!(r.contains("\r\nLocation: http://example.test/x\r\n"), "{r}");
    // Endless output: cut at cgi_max_output.
    let r = get(app, "/app/big", "");
    assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
    assert_eq!(body_of(&r).len(), 1000);
    assert!(body_of(&r).starts_with("0123456789\n0123456789\n"));
    // No head at all: 500.
    let r = get(app, "/app/nohead", "");
    assert!(r.starts_with("HTTP/1.0 500 "), "{r}");
    assert!(
        r.contains("Error in handler: the program ended without a response head"),
        "{r}"
    );
    // Over cgi_timeout: 500, the program killed.
    let r = get(d.addr("slow"), "/slow", "");
    assert!(r.starts_with("HTTP/1.0 500 "), "{r}");
    assert!(r.contains("took longer than cgi_timeout"), "{r}");
    // The plugin without a program: 1.80's 500, in this build's words.
    let r = get(d.addr("bare"), "/x", "");
    assert!(r.starts_with("HTTP/1.0 500 "), "{r}");
    assert!(
        r.contains("No cgi_program is configured for this service"),
        "{r}"
    );
    // 1.80's Perl commands.
    let mgmt = d.addr("mgmt");
    let got = console(mgmt, "PERLHANDLER = My::handler");
    assert!(
        got.starts_with(
            "ERROR: PERLHANDLER runs Perl inside perlbal, which this build cannot: set cgi_program"
        ),
        "{got}"
    );
    assert!(console(mgmt, "PERLREQUIRE = My").starts_with("ERROR: PERLREQUIRE runs Perl"));
    assert_eq!(
        console(mgmt, "SET app.cgi_program = /nonexistent/x.cgi"),
        "ERROR: File '/nonexistent/x.cgi' not found for 'cgi_program'\r\n"
    );
    assert_eq!(console(mgmt, "UNLOAD cgilike"), "OK\r\n");
    assert_eq!(
        console(mgmt, "PERLHANDLER = My::handler"),
        "ERROR: unknown command: perlhandler\r\n"
    );
    stops_cleanly(d);
}
