//! pymogilefs (PyPI) as a client: stores, reads back, lists, deletes.

use std::path::Path;
use std::process::Command;

use danga_testkit::require;

use super::Cluster;

#[test]
fn mogilefs_pymogilefs_stores_and_reads_back() {
    let present = Command::new("python3")
        .args(["-c", "import pymogilefs, requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require(
        "python3 with pymogilefs (pip, .ci/pip/mogilefs.txt)",
        present,
    ) {
        return;
    }
    let c = Cluster::start(3);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mogilefs/py_store.py");
    let out = Command::new("timeout")
        .arg("120")
        .arg("python3")
        .arg(script)
        .arg(c.addr.to_string())
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok 4",
        "pymogilefs: {}\nstdout: {stdout}\nstderr: {}\ntracker: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        c.tracker.stderr()
    );
}
