//! The connection-loop harness itself: a daemon that answers is heard, and
//! a connection that makes the daemon hold more than its budget is caught
//! (the process aborts; here, a child process of this test).

use std::process::Command;

use danga_fuzz::targets::{memcached_budget, memcached_budget_for, memcached_conn_with};

/// Set in the child process that is expected to abort.
const CHILD: &str = "DANGA_FUZZ_BUDGET_CHILD";

/// A 60,000-byte value: the daemon must hold the whole data block.
fn big_set() -> Vec<u8> {
    let mut data = b"set k 0 0 60000\r\n".to_vec();
    data.extend(std::iter::repeat_n(b'v', 60_000));
    data.extend_from_slice(b"\r\nget k\r\n");
    data
}

#[test]
fn a_reading_client_gets_the_daemons_replies() {
    let reply = memcached_conn_with(
        b"version\r\nset a 0 0 1\r\nx\r\nget a\r\n",
        memcached_budget(),
        true,
    );
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("VERSION "), "{text:?}");
    assert!(
        text.ends_with("STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n"),
        "{text:?}"
    );
}

#[test]
fn each_run_talks_to_a_new_daemon() {
    let first = memcached_conn_with(b"set a 0 0 1\r\nx\r\n", memcached_budget(), true);
    assert_eq!(String::from_utf8_lossy(&first), "STORED\r\n");
    // The runtime may be the same; the daemon and its store are not.
    let second = memcached_conn_with(b"get a\r\n", memcached_budget(), true);
    assert_eq!(String::from_utf8_lossy(&second), "END\r\n");
}

#[test]
fn a_value_within_the_budget_is_stored_and_read_back() {
    let reply = memcached_conn_with(&big_set(), memcached_budget(), true);
    assert!(
        reply.starts_with(b"STORED\r\nVALUE k 0 60000\r\n"),
        "{:?}",
        &reply[..reply.len().min(40)]
    );
}

#[test]
fn a_connection_over_its_budget_aborts_the_process() {
    if std::env::var_os(CHILD).is_some() {
        // 16 KiB cannot hold a 60,000-byte data block.
        memcached_conn_with(&big_set(), 16 << 10, false);
        return;
    }
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            "a_connection_over_its_budget_aborts_the_process",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .expect("running the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child passed: {stderr}");
    assert!(stderr.contains("memory allocation of"), "{stderr}");
}

/// `cache_memlimit 12` then about 9 MB of values: the store may grow to
/// 12 MB, past the 4 MB `-m` the budget once assumed (the first campaign's
/// finding, `fuzz/regressions/memcached_conn/cache-memlimit-raises-the-store`).
#[test]
fn a_raised_cache_memlimit_raises_the_budget_with_it() {
    let mut data = b"cache_memlimit 12\r\n".to_vec();
    for i in 0..140 {
        data.extend_from_slice(format!("set k{i} 0 0 64000 noreply\r\n").as_bytes());
        data.extend(std::iter::repeat_n(b'v', 64_000));
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b"get k139\r\n");
    let budget = memcached_budget_for(&data);
    assert_eq!(budget, memcached_budget() - (4 << 20) + (12 << 20));
    // Past the old budget this aborted the process; now it is served.
    let reply = memcached_conn_with(&data, budget, true);
    assert!(
        reply.starts_with(b"OK\r\nVALUE k139 0 64000\r\n"),
        "{:?}",
        &reply[..reply.len().min(40)]
    );
    // A limit the daemon refuses, or none, leaves the budget as it was.
    assert_eq!(
        memcached_budget_for(b"cache_memlimit\r\n"),
        memcached_budget()
    );
    assert_eq!(memcached_budget_for(b"get a\r\n"), memcached_budget());
}
