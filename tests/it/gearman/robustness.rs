//! Bad input never crashes our gearmand nor disturbs other connections;
//! dead workers and leaving clients; timers; shutdown.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use danga_gearman::proto::Command::*;
use danga_testkit::wait_for;

use super::{ours, req, Wire};

#[test]
fn bad_input_gets_an_error_or_a_close_and_others_keep_working() {
    let gd = ours(&["--max-packet-size", "4096"]);
    let (mut c, mut w) = (Wire::connect(gd.addr), Wire::connect(gd.addr));
    // A job in flight on other connections the whole time.
    w.send(CanDo, &["keep"]);
    c.send(SubmitJob, &["keep", "", "x"]);
    let h = c.expect(JobCreated).remove(0);
    w.send(GrabJob, &[]);
    w.expect(JobAssign);

    // Type numbers nobody defines, including >= 2^31 (which kills gearmand
    // 1.1.20): an ERROR, and the connection stays usable.
    let mut a = Wire::connect(gd.addr);
    for kind in [0u32, 5, 43, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
        let mut p = b"\0REQ".to_vec();
        p.extend_from_slice(&kind.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        a.raw(&p);
        assert_eq!(a.expect(Error)[0], "INVALID_COMMAND", "type {kind:#x}");
    }
    // Arguments without their NULs: an ERROR, the next packet is intact.
    a.raw(b"\0REQ\0\0\0\x07\0\0\0\x04fuda");
    a.raw(&req(EchoReq, &["after"]));
    assert_eq!(a.expect(Error)[0], "INVALID_PACKET");
    assert_eq!(a.expect(EchoRes), ["after"]);

    // A declared length over the limit: ERROR, then closed; nothing else.
    let mut big = Wire::connect(gd.addr);
    big.raw(b"\0REQ\0\0\0\x10\xff\xff\xff\xf0");
    assert_eq!(big.expect(Error)[0], "ARGUMENT_TOO_LARGE");
    assert!(big.recv().is_none());
    // Bad magic: closed.
    let mut bad = Wire::connect(gd.addr);
    bad.raw(b"\0BAD\0\0\0\x10\0\0\0\0");
    assert!(bad.recv().is_none());
    // An admin line without end: closed at the line limit.
    let mut long = Wire::connect(gd.addr);
    long.raw(&vec![b'x'; 9000]);
    assert!(long.recv().is_none());
    // Half a packet, then a hang-up.
    let mut half = Wire::connect(gd.addr);
    half.raw(b"\0REQ\0\0\0\x07\0\0\0\x20f\0u");
    drop(half);
    // Garbage that happens to start like a packet, then silence.
    let mut stall = Wire::connect(gd.addr);
    stall.raw(b"\0RE");

    // The job in flight finishes as if nothing happened.
    w.send(WorkComplete, &[&h, "done"]);
    assert_eq!(c.expect(WorkComplete), [h.as_str(), "done"]);
    c.send(EchoReq, &["fine"]);
    assert_eq!(c.expect(EchoRes), ["fine"]);
    let status = Wire::connect(gd.addr).admin("status\n", true);
    assert_eq!(status, "keep\t0\t0\t1\n.\n");
}

#[test]
fn a_dead_worker_mid_job_requeues_while_others_keep_working() {
    let gd = ours(&[]);
    let (mut c, mut other) = (Wire::connect(gd.addr), Wire::connect(gd.addr));
    let mut w1 = Wire::connect(gd.addr);
    w1.send(CanDo, &["work"]);
    c.send(SubmitJob, &["work", "", "payload"]);
    let h = c.expect(JobCreated).remove(0);
    w1.send(GrabJobUniq, &[]);
    w1.expect(JobAssignUniq);
    w1.send(WorkStatus, &[&h, "1", "2"]);
    assert_eq!(c.expect(WorkStatus), [h.as_str(), "1", "2"]);
    drop(w1);
    other.send(EchoReq, &["unaffected"]);
    assert_eq!(other.expect(EchoRes), ["unaffected"]);
    let mut w2 = Wire::connect(gd.addr);
    w2.send(CanDo, &["work"]);
    let mut got = None;
    wait_for(Duration::from_secs(5), || {
        w2.send(GrabJobUniq, &[]);
        let p = w2.recv().expect("reply");
        got = (p.kind == JobAssignUniq.code()).then(|| p.text());
        got.is_some()
    });
    assert_eq!(got.expect("requeued job")[3], "payload");
    c.send(GetStatus, &[&h]);
    assert_eq!(
        c.expect(StatusRes),
        [h.as_str(), "1", "1", "0", "0"],
        "status reset on requeue"
    );
    w2.send(WorkComplete, &[&h, "ok"]);
    assert_eq!(c.expect(WorkComplete), [h.as_str(), "ok"]);
    let jobs = Wire::connect(gd.addr).admin("show jobs\n", true);
    assert_eq!(jobs, ".\n");
}

#[test]
fn job_retries_limit_fails_the_job_for_its_clients() {
    let gd = ours(&["-j", "1"]);
    let mut c = Wire::connect(gd.addr);
    c.send(SubmitJob, &["fragile", "", "x"]);
    let h = c.expect(JobCreated).remove(0);
    let mut w = Wire::connect(gd.addr);
    w.send(CanDo, &["fragile"]);
    w.send(GrabJob, &[]);
    w.expect(JobAssign);
    drop(w);
    assert_eq!(c.expect(WorkFail), [h]);
}

#[test]
fn a_leaving_client_drops_its_queued_foreground_jobs_but_not_background_ones() {
    let gd = ours(&[]);
    let mut c = Wire::connect(gd.addr);
    c.send(SubmitJob, &["later", "", "fg"]);
    c.expect(JobCreated);
    c.send(SubmitJobBg, &["later", "", "bg"]);
    c.expect(JobCreated);
    drop(c);
    let mut a = Wire::connect(gd.addr);
    assert!(wait_for(Duration::from_secs(5), || a
        .admin("status\n", true)
        == "later\t1\t0\t0\n.\n"));
    let mut w = Wire::connect(gd.addr);
    w.send(CanDo, &["later"]);
    w.send(GrabJob, &[]);
    assert_eq!(w.expect(JobAssign)[2], "bg");
}

#[test]
fn an_epoch_job_wakes_a_sleeping_worker_when_it_comes_due() {
    let gd = ours(&[]);
    let mut w = Wire::connect(gd.addr);
    w.send(CanDo, &["cron"]);
    w.send(PreSleep, &[]);
    let mut c = Wire::connect(gd.addr);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    c.send(
        SubmitJobEpoch,
        &["cron", "", &(now + 2).to_string(), "tick"],
    );
    c.expect(JobCreated);
    w.send(GrabJob, &[]);
    w.expect(NoJob);
    w.send(PreSleep, &[]);
    // gearmand 1.1.20 never wakes it (gearmand#101); we do, within ~3 s.
    w.expect(Noop);
    w.send(GrabJob, &[]);
    assert_eq!(w.expect(JobAssign)[2], "tick");
}

#[test]
fn can_do_timeout_requeues_an_overrunning_job() {
    let gd = ours(&[]);
    let mut c = Wire::connect(gd.addr);
    c.send(SubmitJob, &["slow", "", "x"]);
    let h = c.expect(JobCreated).remove(0);
    let mut w1 = Wire::connect(gd.addr);
    w1.send(CanDoTimeout, &["slow", "1000"]);
    w1.send(GrabJob, &[]);
    w1.expect(JobAssign);
    let mut w2 = Wire::connect(gd.addr);
    w2.send(CanDo, &["slow"]);
    w2.send(PreSleep, &[]);
    w2.expect(Noop);
    w2.send(GrabJob, &[]);
    assert_eq!(w2.expect(JobAssign)[0], h);
    w1.send(WorkComplete, &[&h, "late"]);
    assert_eq!(w1.expect(Error)[0], "JOB_NOT_FOUND");
    w2.send(WorkComplete, &[&h, "ok"]);
    assert_eq!(c.expect(WorkComplete), [h.as_str(), "ok"]);
}

#[test]
fn shutdown_graceful_stops_the_daemon_cleanly() {
    let mut gd = ours(&["--admin-shutdown"]);
    let mut a = Wire::connect(gd.addr);
    assert_eq!(a.admin("shutdown graceful\n", false), "OK\r\n");
    let mut status = None;
    assert!(wait_for(Duration::from_secs(10), || {
        status = gd.daemon.try_exit();
        status.is_some()
    }));
    assert!(status.expect("exited").success());
}

#[test]
fn unsupported_queue_types_refuse_to_start() {
    let out = std::process::Command::new(danga_testkit::bin_path("gearmand"))
        .args(["-p", "0", "-L", "127.0.0.1", "-q", "redis"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("redis"));
}
