//! check_gearman against our gearmand and Debian's gearmand 1.1.20: OK
//! with a worker and no backlog; a filled queue with no worker is
//! CRITICAL; queue depth and worker counts reach WARNING and CRITICAL.

use std::sync::atomic::{AtomicUsize, Ordering};

use danga_gearman::proto::Command;

use super::check_at;
use crate::gearman::{both, Wire};

/// Queues `n` background jobs for `func` (distinct uniques, also across
/// calls: jobs with the same unique would coalesce).
fn submit(addr: std::net::SocketAddr, func: &str, n: usize) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let mut client = Wire::connect(addr);
    for _ in 0..n {
        let i = NEXT.fetch_add(1, Ordering::Relaxed);
        client.send(
            Command::SubmitJobBg,
            &[func, &format!("{func}-{i}"), "payload"],
        );
        client.expect(Command::JobCreated);
    }
}

/// A worker for `func` that never grabs a job; the returned connection
/// keeps it registered.
fn idle_worker(addr: std::net::SocketAddr, func: &str) -> Wire {
    let mut w = Wire::connect(addr);
    w.send(Command::CanDo, &[func]);
    // A round trip, so the server has handled CAN_DO before we look.
    w.send(Command::EchoReq, &["ping"]);
    w.expect(Command::EchoRes);
    w
}

#[test]
fn nagios_gearman_ok_against_ours_and_the_original() {
    for (name, gd) in both() {
        let _w = idle_worker(gd.addr, "thumb");
        let r = check_at("check_gearman", gd.addr, &["-w", "10", "-c", "20"]);
        r.expect(0);
        assert_eq!(r.service, "GEARMAN");
        assert!(r.text.contains("gearmand 1.1.20"), "{name}: {}", r.stdout);
        assert_eq!(r.value("thumb workers"), 1.0, "{name}");
        assert_eq!(r.value("thumb queued"), 0.0, "{name}");
        assert_eq!(r.value("thumb running"), 0.0, "{name}");
        assert_eq!(r.item("thumb queued").warn, "10");
        assert_eq!(r.item("thumb queued").crit, "20");
        assert_eq!(r.item("thumb queued").min, Some(0.0));
        assert_eq!(r.value("queued"), 0.0);
    }
}

#[test]
fn nagios_gearman_filled_queue_without_workers_is_critical() {
    for (name, gd) in both() {
        let _w = idle_worker(gd.addr, "thumb");
        submit(gd.addr, "resize", 5);
        let r = check_at("check_gearman", gd.addr, &[]);
        r.expect(2);
        assert!(
            r.text.starts_with("resize: 5 jobs waiting and no workers"),
            "{name}: {}",
            r.stdout
        );
        assert_eq!(r.value("resize queued"), 5.0, "{name}");
        assert_eq!(r.value("resize workers"), 0.0, "{name}");
        assert_eq!(r.value("queued"), 5.0, "{name}");
        // One function at a time: thumb is fine, resize is not.
        check_at("check_gearman", gd.addr, &["-f", "thumb"]).expect(0);
        let r = check_at("check_gearman", gd.addr, &["-f", "resize"]);
        r.expect(2);
        assert!(
            r.perf.iter().all(|i| !i.label.starts_with("thumb")),
            "{}",
            r.stdout
        );
    }
}

#[test]
fn nagios_gearman_queue_depth_and_workers_warn_then_go_critical() {
    for (name, gd) in both() {
        let _w = idle_worker(gd.addr, "thumb");
        submit(gd.addr, "thumb", 4);
        let args = ["-w", "3", "-c", "10"];
        let r = check_at("check_gearman", gd.addr, &args);
        r.expect(1);
        assert!(
            r.text.starts_with("thumb: 4 jobs waiting"),
            "{name}: {}",
            r.stdout
        );
        assert_eq!(r.value("thumb queued"), 4.0, "{name}");
        submit(gd.addr, "thumb", 8);
        let r = check_at("check_gearman", gd.addr, &args);
        r.expect(2);
        assert_eq!(r.value("thumb queued"), 12.0, "{name}");
        // Too few workers, by the workers thresholds.
        let r = check_at(
            "check_gearman",
            gd.addr,
            &[
                "-f",
                "thumb",
                "--workers-warning",
                "3:",
                "--workers-critical",
                "1:",
            ],
        );
        r.expect(1);
        assert!(r.text.contains("thumb: 1 workers"), "{name}: {}", r.stdout);
        // A function nobody serves, checked by name.
        let r = check_at(
            "check_gearman",
            gd.addr,
            &["-f", "nobody", "--workers-critical", "1:"],
        );
        r.expect(2);
        assert!(
            r.text.contains("nobody is not known to the server"),
            "{}",
            r.stdout
        );
    }
}
