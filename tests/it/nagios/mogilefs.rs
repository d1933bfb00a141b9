//! check_mogilefs against our tracker with two storage nodes: OK when all
//! is alive; devices marked dead or down warn, no writable device left is
//! CRITICAL; a host marked down warns. The replication queue is whatever
//! the tracker's `!stats` says, or said to be unknown.

use std::io::Write;
use std::time::Duration;

use danga_testkit::wait_for;

use super::check_at;
use crate::mogilefs::{call, Cluster};
use crate::wire::read_until;

#[test]
fn nagios_mogilefs_ok_on_a_healthy_cluster() {
    let c = Cluster::start(2);
    let r = check_at("check_mogilefs", c.addr, &[]);
    r.expect(0);
    assert_eq!(r.service, "MOGILEFS");
    assert!(
        r.text
            .contains("2/2 hosts alive, 4/4 devices alive (4 writable)"),
        "{}",
        r.stdout
    );
    assert_eq!(r.value("hosts"), 2.0);
    assert_eq!(r.value("devices"), 4.0);
    assert_eq!(r.value("devices_writable"), 4.0);
    let bad = r.item("devices_not_alive");
    assert_eq!(
        (bad.value, bad.warn.as_str(), bad.max),
        (Some(0.0), "0", Some(4.0))
    );
    assert_eq!(r.value("hosts_not_alive"), 0.0);
    // The replication queue: what `!stats` reports, or said to be unknown.
    let mut s = c.conn();
    s.write_all(b"!stats\r\n").expect("write");
    let stats = read_until(&mut s, b".\r\n");
    let reported = stats
        .lines()
        .find_map(|l| l.strip_prefix("work_queue_for_replicate "))
        .map(|v| v.trim().parse::<f64>().expect("number"));
    match reported {
        Some(q) => {
            assert_eq!(r.value("replication_queue"), q, "{}", r.stdout);
            let r = check_at(
                "check_mogilefs",
                c.addr,
                &["--repl-critical", &format!("@{q}:")],
            );
            r.expect(2);
        }
        None => {
            assert!(
                r.text.contains("replication queue not reported by !stats")
                    || r.text
                        .contains("replication queue unknown (tracker has no !stats)"),
                "{}",
                r.stdout
            );
            assert!(r.perf.iter().all(|i| i.label != "replication_queue"));
            // Asked to judge what it cannot see: UNKNOWN, not OK.
            check_at("check_mogilefs", c.addr, &["--repl-warning", "100"]).expect(3);
        }
    }
}

#[test]
fn nagios_mogilefs_devices_marked_dead_or_down_warn_then_go_critical() {
    let c = Cluster::start(2);
    let mut s = c.conn();
    assert_eq!(
        call(&mut s, "set_state host=s0&device=1&state=dead"),
        "OK \r\n"
    );
    let r = check_at("check_mogilefs", c.addr, &[]);
    r.expect(1);
    assert!(
        r.text.starts_with("1 devices not alive (dev1 dead)"),
        "{}",
        r.stdout
    );
    assert_eq!(r.value("devices_not_alive"), 1.0);
    assert_eq!(r.value("devices_writable"), 3.0);
    check_at("check_mogilefs", c.addr, &["--ignore-dead"]).expect(0);
    check_at("check_mogilefs", c.addr, &["-w", "1", "-c", "0"]).expect(2);
    for dev in [2, 3, 4] {
        let host = if dev <= 2 { "s0" } else { "s1" };
        let reply = call(
            &mut s,
            &format!("set_state host={host}&device={dev}&state=down"),
        );
        assert_eq!(reply, "OK \r\n");
    }
    let r = check_at("check_mogilefs", c.addr, &["-w", "10"]);
    r.expect(2);
    assert!(r.text.starts_with("no writable device"), "{}", r.stdout);
    assert_eq!(r.value("devices_writable"), 0.0);
    assert_eq!(r.value("devices_not_alive"), 4.0);
}

#[test]
fn nagios_mogilefs_host_marked_down_warns() {
    let c = Cluster::start(2);
    let mut s = c.conn();
    assert!(call(&mut s, "update_host host=s1&status=down").starts_with("OK "));
    let r = check_at("check_mogilefs", c.addr, &[]);
    r.expect(1);
    assert!(
        r.text.contains("1 hosts not alive (s1 down)"),
        "{}",
        r.stdout
    );
    assert_eq!(r.value("hosts_not_alive"), 1.0);
    assert_eq!(
        r.value("devices_writable"),
        2.0,
        "devices of a down host take no files"
    );
    check_at("check_mogilefs", c.addr, &["--hosts-critical", "0"]).expect(2);
}

#[test]
fn nagios_mogilefs_stopped_storage_node_is_seen_unreachable() {
    let mut c = Cluster::start(2);
    // Once the tracker's monitor has measured the devices, free space is
    // in the perfdata.
    let mut last = None;
    let measured = wait_for(Duration::from_secs(15), || {
        let r = check_at("check_mogilefs", c.addr, &[]);
        let done = r.code == 0 && r.perf.iter().any(|i| i.label == "free");
        last = Some(r);
        done
    });
    let r = last.expect("a run");
    assert!(measured, "no free space reported: {}", r.stdout);
    let free = r.item("free");
    assert_eq!(free.uom, "MB");
    assert!(
        free.max.is_some_and(|m| m > 0.0 && m >= r.value("free")),
        "{}",
        r.stdout
    );
    // Stop node 0 (devices 1 and 2): the monitor sees them unreachable.
    drop(c.nodes.remove(0));
    let mut last = None;
    let seen = wait_for(Duration::from_secs(15), || {
        let r = check_at("check_mogilefs", c.addr, &[]);
        let done = r.value("devices_not_alive") == 2.0;
        last = Some(r);
        done
    });
    let r = last.expect("a run");
    assert!(seen, "{}", r.stdout);
    r.expect(1);
    assert!(
        r.text
            .starts_with("2 devices not alive (dev1 unreachable, dev2 unreachable)"),
        "{}",
        r.stdout
    );
    assert_eq!(r.value("devices_writable"), 2.0);
    check_at("check_mogilefs", c.addr, &["-c", "1"]).expect(2);
}
