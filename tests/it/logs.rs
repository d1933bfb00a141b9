//! `--log-format json`: every daemon writes one JSON object per line
//! (timestamp, level, daemon, target, message, fields), parseable by any
//! log shipper; the default stays tracing's text lines.

use std::time::Duration;

use danga_testkit::Spawn;

/// Starts `bin` with `args`, `--log-format json` and info logging, stops
/// it, and returns its stderr lines parsed as JSON (panicking on a line that
/// is not a JSON object).
fn json_lines(bin: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let mut d = Spawn::new(bin)
        .args(args.iter().copied())
        .args(["--log-format", "json"])
        .env("RUST_LOG", "info")
        .start();
    let (status, _) = d.terminate(Duration::from_secs(10));
    assert!(status.success(), "{bin}: {status}\n{}", d.stderr());
    let err = d.stderr();
    let lines: Vec<serde_json::Value> = err
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{bin}: not JSON ({e}): {l:?}")))
        .collect();
    assert!(!lines.is_empty(), "{bin} logged nothing at info");
    for v in &lines {
        assert_eq!(v["daemon"], bin, "{v}");
        for key in ["timestamp", "level", "target", "message"] {
            assert!(v[key].is_string(), "{bin}: {key} missing in {v}");
        }
        assert!(v["fields"].is_object(), "{v}");
    }
    assert!(
        lines.iter().any(|v| v["message"] == "running"),
        "{bin}: no `running` line in {lines:?}"
    );
    lines
}

#[test]
fn every_daemon_logs_json_lines() {
    json_lines("memcached", &["-p", "-1", "-l", "127.0.0.1", "-U", "0"]);
    json_lines("gearmand", &["-p", "0", "-L", "127.0.0.1", "-l", "stderr"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let dsn = format!("--dsn=sqlite://{}/m.sqlite3", dir.path().display());
    json_lines("mogilefsd", &["-s", "-l", "127.0.0.1:0", &dsn]);
    let docroot = format!("--docroot={}", dir.path().display());
    json_lines(
        "mogstored",
        &[
            "-s",
            "--httplisten=127.0.0.1:0",
            "--mgmtlisten=127.0.0.1:0",
            &docroot,
        ],
    );
    let conf = dir.path().join("perlbal.conf");
    std::fs::write(
        &conf,
        "CREATE SERVICE mgmt\n  SET role = management\n  SET listen = 127.0.0.1:0\nENABLE mgmt\n",
    )
    .expect("conf");
    json_lines("perlbal", &[&format!("--config={}", conf.display())]);
}

#[test]
fn a_bad_log_format_is_a_usage_error() {
    let out = std::process::Command::new(danga_testkit::bin_path("memcached"))
        .args(["--log-format", "xml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
}
