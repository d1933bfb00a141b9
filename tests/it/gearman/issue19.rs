//! Issue 19: waking every sleeper, the admin `shutdown` switch, function
//! names that own only their bytes.

use danga_gearman::proto::Command::*;

use super::{both, ours, Wire};

/// Two workers sleep on `f`; the first one woken never grabs. The job
/// must still reach the second (gearmand wakes every sleeper).
#[test]
fn issue_19_a_sleeper_that_never_grabs_does_not_hold_the_job() {
    for (name, gd) in both() {
        let (mut idle, mut busy) = (Wire::connect(gd.addr), Wire::connect(gd.addr));
        for w in [&mut idle, &mut busy] {
            w.send(CanDo, &["f"]);
            w.send(PreSleep, &[]);
            w.send(EchoReq, &["asleep"]);
            assert_eq!(w.expect(EchoRes), ["asleep"], "{name}");
        }
        let mut c = Wire::connect(gd.addr);
        c.send(SubmitJob, &["f", "", "payload"]);
        let h = c.expect(JobCreated).remove(0);
        assert!(idle.expect(Noop).is_empty(), "{name}: first sleeper woken");
        assert!(busy.expect(Noop).is_empty(), "{name}: second sleeper woken");
        busy.send(GrabJob, &[]);
        assert_eq!(
            busy.expect(JobAssign),
            [h.as_str(), "f", "payload"],
            "{name}"
        );
        busy.send(WorkComplete, &[&h, "ok"]);
        assert_eq!(c.expect(WorkComplete), [h.as_str(), "ok"], "{name}");
    }
}

/// `-w 1` limits the wake-up to one sleeper per job, the oldest.
#[test]
fn issue_19_w_limits_the_sleepers_woken_per_job() {
    let gd = ours(&["-w", "1"]);
    let (mut first, mut second) = (Wire::connect(gd.addr), Wire::connect(gd.addr));
    for w in [&mut first, &mut second] {
        w.send(CanDo, &["f"]);
        w.send(PreSleep, &[]);
        w.send(EchoReq, &["asleep"]);
        w.expect(EchoRes);
    }
    let mut c = Wire::connect(gd.addr);
    c.send(SubmitJobBg, &["f", "", "x"]);
    c.expect(JobCreated);
    first.expect(Noop);
    assert!(second.silent(300), "only one sleeper is woken with -w 1");
}

/// Admin `shutdown` is an unknown command unless `--admin-shutdown`, as
/// gearmand 1.1.20 answers it; the server keeps running.
#[test]
fn issue_19_admin_shutdown_is_off_by_default() {
    for (name, mut gd) in both() {
        let mut a = Wire::connect(gd.addr);
        for line in ["shutdown", "shutdown graceful"] {
            assert_eq!(
                a.admin(&format!("{line}\n"), false),
                "ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n",
                "{name}: {line}"
            );
        }
        assert!(gd.daemon.try_exit().is_none(), "{name} still runs");
        let mut b = Wire::connect(gd.addr);
        b.send(EchoReq, &["alive"]);
        assert_eq!(b.expect(EchoRes), ["alive"], "{name}");
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS")
}

/// Each new function name used to keep the whole packet that named it:
/// 60 submits of 10 MiB to new names took RSS up by 600 MiB for good.
#[test]
fn issue_19_new_function_names_do_not_pin_their_packets() {
    let gd = ours(&[]);
    let pid = gd.daemon.pid();
    let data = "x".repeat(10 << 20);
    // Warm up: one big packet, so buffers and allocator arenas exist.
    let mut c = Wire::connect(gd.addr);
    c.send(SubmitJobBg, &["warm", "", &data]);
    c.expect(JobCreated);
    let mut w = Wire::connect(gd.addr);
    w.send(CanDo, &["warm"]);
    w.send(GrabJob, &[]);
    let h = w.expect(JobAssign).remove(0);
    w.send(WorkComplete, &[&h, ""]);
    drop(w);
    let before = rss_kib(pid);
    for i in 0..60 {
        c.send(SubmitJob, &[&format!("name{i}"), "", &data]);
        c.expect(JobCreated);
    }
    drop(c);
    let mut a = Wire::connect(gd.addr);
    // The client left: its foreground jobs are dropped.
    assert!(danga_testkit::wait_for(
        std::time::Duration::from_secs(10),
        || {
            let s = a.admin("status\n", true);
            s.lines()
                .all(|l| l == "." || l.split('\t').nth(1) == Some("0"))
        }
    ));
    let after = rss_kib(pid);
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The next whole minute (its minute-of-hour and its unix time), at least
/// five seconds ahead so the server sees the same minute coming.
pub fn next_minute() -> (u8, u64) {
    let mut now = unix_now();
    if now % 60 >= 55 {
        std::thread::sleep(std::time::Duration::from_secs(61 - now % 60));
        now = unix_now();
    }
    let due = (now / 60 + 1) * 60;
    (u8::try_from(due / 60 % 60).expect("minute"), due)
}

/// Grabs until a job comes or `deadline` (unix) passes; returns the
/// assignment's (handle, data) and when it came.
pub fn grab_until(w: &mut Wire, deadline: u64) -> Option<(Vec<String>, u64)> {
    while unix_now() <= deadline {
        w.send(GrabJob, &[]);
        let p = w.recv().expect("reply");
        if p.kind == JobAssign.code() {
            return Some((p.text(), unix_now()));
        }
        assert_eq!(p.kind, NoJob.code());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    None
}

/// SUBMIT_JOB_SCHED (through the danga client) is held until the next
/// matching minute, and `status` counts it only then.
#[test]
fn issue_19_sched_jobs_fire_at_the_next_matching_minute() {
    use danga_gearman::client::{Client, Config, Sched, Task};
    let gd = ours(&[]);
    let (minute, due) = next_minute();
    let servers = vec![gd.addr.to_string()];
    let sched = Sched {
        minute: Some(minute),
        ..Sched::default()
    };
    super::client::block_on(async {
        let client = Client::new(Config::new(servers));
        client
            .submit_sched(Task::new("cron", "tick"), sched)
            .await
            .expect("submitted");
    });
    let mut w = Wire::connect(gd.addr);
    w.send(CanDo, &["cron"]);
    w.send(EchoReq, &["registered"]);
    w.expect(EchoRes);
    let mut a = Wire::connect(gd.addr);
    assert_eq!(a.admin("status\n", true), "cron\t0\t0\t1\n.\n");
    let (job, at) = grab_until(&mut w, due + 10).expect("the job came");
    assert_eq!(job[1..], ["cron", "tick"]);
    assert!(at >= due, "given at {at}, due {due}");
    // A field out of range: an error, the connection stays.
    let mut c = Wire::connect(gd.addr);
    c.send(SubmitJobSched, &["cron", "", "60", "", "", "", "", "x"]);
    assert_eq!(c.expect(Error)[0], "INVALID_ARGUMENTS");
    c.send(EchoReq, &["still"]);
    assert_eq!(c.expect(EchoRes), ["still"]);
}

/// `-j 2` with a 1 s back-off: a lost job is invisible for 1 s, then the
/// second loss fails it to its client and puts it in the dead-letter
/// list, from where an admin requeues it (same handle) or drops it.
#[test]
fn issue_19_retries_back_off_then_dead_letters_are_listed_requeued_dropped() {
    let gd = ours(&["-j", "2", "--retry-backoff-ms", "1000"]);
    let mut c = Wire::connect(gd.addr);
    let mut a = Wire::connect(gd.addr);
    let mut handles = Vec::new();
    for data in ["first", "second"] {
        c.send(SubmitJob, &["flaky", data, data]);
        let h = c.expect(JobCreated).remove(0);
        let mut w1 = Wire::connect(gd.addr);
        w1.send(CanDo, &["flaky"]);
        w1.send(GrabJob, &[]);
        assert_eq!(w1.expect(JobAssign)[0], h);
        let lost = std::time::SystemTime::now();
        drop(w1);
        let mut w2 = Wire::connect(gd.addr);
        w2.send(CanDo, &["flaky"]);
        let (job, _) = grab_until(&mut w2, unix_now() + 5).expect("retried");
        assert_eq!(job[0], h);
        let waited = lost.elapsed().expect("clock");
        assert!(
            waited >= std::time::Duration::from_millis(900),
            "retried after {waited:?}, before its back-off"
        );
        drop(w2);
        assert_eq!(c.expect(WorkFail), [h.as_str()], "given up after 2");
        handles.push(h);
    }
    let list = a.admin("deadletter list\n", true);
    assert_eq!(
        list,
        format!(
            "{}\tflaky\tfirst\t2\tworker-disconnected\n{}\tflaky\tsecond\t2\tworker-disconnected\n.\n",
            handles[0], handles[1]
        )
    );
    assert_eq!(
        a.admin(&format!("deadletter drop {}\n", handles[1]), false),
        "OK\r\n"
    );
    assert_eq!(
        a.admin(&format!("deadletter requeue {}\n", handles[0]), false),
        "OK\r\n"
    );
    assert_eq!(
        a.admin(&format!("deadletter requeue {}\n", handles[1]), false),
        "ERR UNKNOWN_JOB\r\n"
    );
    assert_eq!(a.admin("deadletter list\n", true), ".\n");
    let mut w = Wire::connect(gd.addr);
    w.send(CanDo, &["flaky"]);
    w.send(GrabJob, &[]);
    assert_eq!(w.expect(JobAssign), [handles[0].as_str(), "flaky", "first"]);
    w.send(WorkComplete, &[&handles[0], "ok"]);
    w.send(EchoReq, &["done"]);
    w.expect(EchoRes);
    assert_eq!(a.admin("status\n", true), "flaky\t0\t0\t1\n.\n");
}

/// `--ssl`: a worker and a client of the danga library run a job over TLS
/// (a certificate made here with rcgen); plaintext gets nothing back.
#[test]
fn issue_19_tls_client_and_worker_and_plaintext_is_refused() {
    use danga_gearman::client::{Client, Config, Task, WorkError, Worker};
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("tempdir");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("certificate");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key");
    let (c, k) = (cert.to_string_lossy(), key.to_string_lossy());
    let gd = ours(&["--ssl", "--ssl-certificate", &c, "--ssl-key", &k]);
    let addr = gd.addr.to_string();
    let tls = danga_gearman::tls::client_config(&cert).expect("client config");
    super::client::block_on(async {
        let mut w = Worker::new([addr.clone()]);
        w.tls(tls.clone());
        w.register("rev", |job| async move {
            Ok::<_, WorkError>(job.data().iter().rev().copied().collect::<Vec<u8>>())
        });
        let running = w.start();
        let mut cfg = Config::new([addr.clone()]);
        cfg.tls = Some(tls);
        cfg.timeout = Some(std::time::Duration::from_secs(10));
        let client = Client::new(cfg);
        let got = client.submit(Task::new("rev", "hello")).await;
        assert_eq!(got.expect("over TLS"), "olleh");
        // Without TLS the library gets no answer to its OPTION_REQ.
        let mut plain = Config::new([addr.clone()]);
        plain.timeout = Some(std::time::Duration::from_secs(3));
        let refused = Client::new(plain).submit(Task::new("rev", "x")).await;
        assert!(refused.is_err(), "plaintext client: {refused:?}");
        running.stop().await;
    });
    // Perl Gearman::Client and Gearman::Worker with use_ssl, trusting the
    // same certificate.
    let perl_ok = std::process::Command::new("perl")
        .args(["-MGearman::Client", "-MIO::Socket::SSL", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if danga_testkit::require("Perl Gearman::Client with IO::Socket::SSL", perl_ok) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/it/gearman/scripts/perl_tls.pl");
        let out = std::process::Command::new("timeout")
            .arg("60")
            .arg("perl")
            .arg(script)
            .args(["127.0.0.1", &gd.addr.port().to_string(), &c])
            .output()
            .expect("perl");
        let got = super::client::check(out, "perl_tls.pl");
        assert_eq!(got, "ok\n");
    }
    // A raw plaintext packet: the connection is closed, nothing comes back.
    let mut s = std::net::TcpStream::connect(gd.addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(&super::req(EchoReq, &["hello"]))
        .expect("write");
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(!got.starts_with(b"\0RES"), "answered in plaintext: {got:?}");
}

/// A function with no worker and no job is forgotten after
/// `--forget-idle-functions` seconds; one with a worker stays.
#[test]
fn issue_19_idle_functions_are_forgotten() {
    let gd = ours(&["--forget-idle-functions", "1"]);
    let mut w = Wire::connect(gd.addr);
    w.send(CanDo, &["kept"]);
    let mut c = Wire::connect(gd.addr);
    c.send(SubmitJob, &["gone", "", "x"]);
    c.expect(JobCreated);
    drop(c);
    let mut a = Wire::connect(gd.addr);
    assert!(a.admin("status\n", true).contains("gone\t"));
    let forgotten = danga_testkit::wait_for(std::time::Duration::from_secs(10), || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        a.admin("status\n", true) == "kept\t0\t0\t1\n.\n"
    });
    assert!(forgotten, "{}", a.admin("status\n", true));
}

/// Over TLS, a result bigger than the socket buffers arrives whole.
#[test]
fn issue_19_tls_carries_big_payloads() {
    use danga_gearman::client::{Client, Config, Task, WorkError, Worker};
    let dir = tempfile::tempdir().expect("tempdir");
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("certificate");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.key_pair.serialize_pem()).expect("write key");
    let (c, k) = (cert.to_string_lossy(), key.to_string_lossy());
    let gd = ours(&["--ssl", "--ssl-certificate", &c, "--ssl-key", &k]);
    let addr = gd.addr.to_string();
    let tls = danga_gearman::tls::client_config(&cert).expect("client config");
    super::client::block_on(async {
        let mut w = Worker::new([addr.clone()]);
        w.tls(tls.clone());
        w.register("grow", |job| async move {
            Ok::<_, WorkError>(job.data().repeat(4 << 20))
        });
        let running = w.start();
        let mut cfg = Config::new([addr]);
        cfg.tls = Some(tls);
        cfg.timeout = Some(std::time::Duration::from_secs(30));
        let client = Client::new(cfg);
        let data = vec![7u8; 2];
        let got = client
            .submit(Task::new("grow", &data))
            .await
            .expect("result");
        assert_eq!(got.len(), 8 << 20);
        assert!(got.iter().all(|&b| b == 7));
        running.stop().await;
    });
}
