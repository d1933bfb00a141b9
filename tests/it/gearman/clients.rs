//! Real client libraries against our gearmand (and the same script against
//! Debian's, so a failure can be told apart from a client quirk): Perl
//! Gearman::Client / Gearman::Worker and Python gearman3.

use std::process::{Command, Output};

use danga_testkit::require;

use super::{original, ours, Gd, Wire};

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn servers() -> Vec<(&'static str, Gd)> {
    let mut v = vec![("danga", ours(&[]))];
    if let Some(o) = original(&[]) {
        v.push(("gearmand 1.1.20", o));
    }
    v
}

fn script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/gearman/scripts")
        .join(name)
}

#[test]
fn perl_gearman_client_and_worker_round_trip() {
    let perl_ok = Command::new("perl")
        .args(["-MGearman::Client", "-MGearman::Worker", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require("Perl Gearman::Client (libgearman-client-perl)", perl_ok) {
        return;
    }
    for (server, gd) in servers() {
        let out = run(Command::new("timeout")
            .arg("60")
            .arg("perl")
            .arg(script("perl_round_trip.pl"))
            .arg(gd.addr.to_string()));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "ok",
            "{server}"
        );
    }
}

#[test]
fn python_gearman3_round_trip() {
    let py_ok = Command::new("python3")
        .args(["-c", "import gearman"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require("python3 with gearman3 (pip)", py_ok) {
        return;
    }
    for (server, gd) in servers() {
        let out = run(Command::new("timeout")
            .arg("60")
            .arg("python3")
            .arg(script("py_round_trip.py"))
            .arg(gd.addr.to_string()));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let handle = stdout
            .trim()
            .strip_prefix("ok ")
            .unwrap_or_else(|| panic!("{server}: {stdout}"));
        let jobs = Wire::connect(gd.addr).admin("show jobs\n", true);
        assert!(
            jobs.lines().any(|l| l.starts_with(&format!("{handle}\t"))),
            "{server}: the background job {handle} is queued: {jobs}"
        );
    }
}
