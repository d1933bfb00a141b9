//! What the original refuses at start-up or hangs up on, refused the same
//! way: `-c 0`, `-t 0`, unknown or ill-fitting `-o` options exit non-zero;
//! an HTTP request line closes the connection without a reply; `shutdown`
//! with `-A` knows its modes.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use danga_testkit::{bin_path, wait_for};

use super::{original, ours, ORIGINAL};
use crate::wire::{ask, connect};

/// Runs a server binary with `args` and returns whether it exited with a
/// failure within a few seconds (a server that starts is killed: false).
fn refuses(bin: &std::path::Path, args: &[&str]) -> bool {
    let mut cmd = Command::new(bin);
    cmd.args(["-p", "-1", "-l", "127.0.0.1", "-U", "0"])
        .args(args);
    if bin == std::path::Path::new(ORIGINAL) && nix::unistd::Uid::effective().is_root() {
        cmd.args(["-u", "root"]);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut status = None;
    wait_for(Duration::from_secs(3), || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    match status {
        Some(s) => !s.success(),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            false
        }
    }
}

#[test]
fn bad_start_up_flags_are_refused_as_the_original_refuses_them() {
    let ours_bin = bin_path("memcached");
    let cases: &[(&[&str], bool)] = &[
        (&["-c", "0"], true),
        (&["-t", "0"], true),
        (&["-o", "no_such_option"], true),
        (&["-o", "lru_segmented"], true),
        (&["-o", "slab_chunk_max=3000"], true),
        (&["-I", "1024", "-o", "slab_chunk_max=2048"], true),
        (&["-o", "slab_chunk_max=16384"], false),
        (
            &["-o", "no_lru_crawler,no_lru_maintainer,no_slab_reassign"],
            false,
        ),
        (&["-o", "read_buf_mem_limit=1,idle_timeout=5"], false),
        (&["-o", "hot_lru_pct=80"], true),
        (&["-o", "hot_lru_pct=0"], true),
        (&["-o", "hot_lru_pct=45,warm_lru_pct=40"], true),
        (&["-o", "hot_max_factor=0"], true),
        (&["-o", "warm_max_factor=-1"], true),
        (
            &[
                "-o",
                "hot_lru_pct=10,warm_lru_pct=30,hot_max_factor=0.5,temporary_ttl=30",
            ],
            false,
        ),
        (&["-o", "slab_automove=3"], true),
        (&["-o", "slab_automove_window=2"], true),
        (&["-o", "slab_automove_ratio=1.5"], true),
        (
            &["-o", "slab_reassign,slab_automove=2,slab_automove_window=5"],
            false,
        ),
    ];
    let orig = std::path::Path::new(ORIGINAL);
    let with_orig = original(&[]).is_some();
    for (args, want) in cases {
        assert_eq!(refuses(&ours_bin, args), *want, "ours {args:?}");
        if with_orig {
            assert_eq!(refuses(orig, args), *want, "original {args:?}");
        }
    }
}

fn hangs_up_on_http(addr: std::net::SocketAddr, who: &str) {
    for line in [
        "GET / HTTP/1.0\r\n",
        "PUT /asdf/asd/fasdfasdf/sadf HTTP/1.1\r\n",
        "DELETE HTTP/1.1\r\n",
    ] {
        let mut s = connect(addr);
        s.write_all(line.as_bytes()).expect("write");
        let mut buf = [0u8; 24];
        assert_eq!(s.read(&mut buf).expect("read"), 0, "{who}: {line:?}");
    }
    // Not HTTP: an ordinary error, and the connection stays.
    let mut s = connect(addr);
    assert_eq!(ask(&mut s, "GET / HTTP\r\n", "\r\n"), "ERROR\r\n", "{who}");
    assert_eq!(ask(&mut s, "version\r\n", "\r\n"), "VERSION 1.6.18\r\n");
}

#[test]
fn an_http_request_line_closes_the_connection() {
    hangs_up_on_http(ours(&[]).addr, "ours");
    if let Some(orig) = original(&[]) {
        hangs_up_on_http(orig.addr, "original");
    }
}

#[test]
fn shutdown_with_a_modes_stops_the_server() {
    let mut mc = ours(&["-A"]);
    let mut s = connect(mc.addr);
    assert_eq!(
        ask(&mut s, "shutdown foo\r\n", "\r\n"),
        "CLIENT_ERROR invalid shutdown mode\r\n"
    );
    s.write_all(b"shutdown graceful\r\n").expect("write");
    assert!(
        wait_for(Duration::from_secs(10), || mc.daemon.try_exit().is_some()),
        "still running after shutdown graceful"
    );
}

#[test]
fn issue_18_bad_tls_flags_are_refused_as_the_original_refuses_them() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = crate::tls_ca::Ca::new(dir.path(), "ca");
    let (crt, key) = ca.issue_files(dir.path(), "server", &["127.0.0.1"], false);
    let certs = format!("ssl_chain_cert={},ssl_key={}", crt.display(), key.display());
    let with = |extra: &str| format!("{certs},{extra}");
    let (ciphers, bad_ciphers) = (
        with("ssl_ciphers=ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"),
        with("ssl_ciphers=NO-SUCH-CIPHER"),
    );
    let (tls13, bad_mode) = (with("ssl_min_version=3"), with("ssl_verify_mode=4"));
    let cases: &[(&[&str], bool)] = &[
        (&["-Z", "-o", &certs], false),
        (&["-Z", "-o", &tls13], false),
        (&["-Z", "-o", &ciphers], false),
        (&["-Z"], true),
        (&["-Z", "-o", "ssl_chain_cert=/nonexistent/cert.pem"], true),
        (&["-Z", "-o", &bad_ciphers], true),
        (&["-Z", "-o", &bad_mode], true),
        (&["-l", "notls:127.0.0.1"], true),
    ];
    let orig = std::path::Path::new(ORIGINAL);
    let with_orig = original(&[]).is_some();
    for (args, want) in cases {
        assert_eq!(
            refuses(&bin_path("memcached"), args),
            *want,
            "ours {args:?}"
        );
        if with_orig {
            assert_eq!(refuses(orig, args), *want, "original {args:?}");
        }
    }
}
