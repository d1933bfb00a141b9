//! Packet rows: each runs against our gearmand and Debian's gearmand
//! 1.1.20 and must give the same packets on both. Function names carry a
//! per-row prefix, so rows sharing a server do not meet; job handles are
//! read from `JOB_CREATED` (both servers use `H:<hostname>:<n>`).

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};

use danga_gearman::proto::Command::{self, *};

use super::{both, Wire};

struct Row {
    addr: SocketAddr,
    tag: String,
}

impl Row {
    fn conn(&self) -> Wire {
        Wire::connect(self.addr)
    }

    /// A function name private to this row.
    fn f(&self, name: &str) -> String {
        format!("{}_{name}", self.tag)
    }
}

/// Submits and returns the handle.
fn submit(c: &mut Wire, cmd: Command, f: &str, uniq: &str, data: &str) -> String {
    c.send(cmd, &[f, uniq, data]);
    c.expect(JobCreated).remove(0)
}

fn echo(r: &Row) {
    let mut c = r.conn();
    c.raw(&super::req(EchoReq, &["a\0b"]));
    assert_eq!(c.recv().expect("echo").data, b"a\0b");
}

fn background_job_round_trip(r: &Row) {
    let (mut c, mut w) = (r.conn(), r.conn());
    let f = r.f("bg");
    let h = submit(&mut c, SubmitJobBg, &f, "u1", "payload");
    assert!(h.starts_with("H:"), "{h}");
    w.send(CanDo, &[&f]);
    w.send(GrabJobUniq, &[]);
    assert_eq!(w.expect(JobAssignUniq), [h.as_str(), &f, "u1", "payload"]);
    w.send(WorkComplete, &[&h, "done"]);
    // The worker's connection is served in order: once the echo is back,
    // the completion has been handled.
    w.send(EchoReq, &["sync"]);
    w.expect(EchoRes);
    c.send(GetStatus, &[&h]);
    assert_eq!(c.expect(StatusRes), [h.as_str(), "0", "0", "0", "0"]);
    w.send(GrabJob, &[]);
    w.expect(NoJob);
}

fn foreground_job_streams_to_the_client(r: &Row) {
    let (mut c, mut w) = (r.conn(), r.conn());
    let f = r.f("fg");
    let h = submit(&mut c, SubmitJob, &f, "", "in");
    w.send(CanDo, &[&f]);
    w.send(GrabJob, &[]);
    assert_eq!(w.expect(JobAssign), [h.as_str(), &f, "in"]);
    w.send(WorkStatus, &[&h, "3", "10"]);
    assert_eq!(c.expect(WorkStatus), [h.as_str(), "3", "10"]);
    c.send(GetStatus, &[&h]);
    assert_eq!(c.expect(StatusRes), [h.as_str(), "1", "1", "3", "10"]);
    w.raw(&super::req(WorkData, &[&h, "d\0ata"]));
    let p = c.recv().expect("data");
    assert_eq!(
        (p.kind, p.data),
        (WorkData.code(), format!("{h}\0d\0ata").into_bytes())
    );
    w.send(WorkWarning, &[&h, "careful"]);
    assert_eq!(c.expect(WorkWarning), [h.as_str(), "careful"]);
    w.send(WorkComplete, &[&h, "out"]);
    assert_eq!(c.expect(WorkComplete), [h.as_str(), "out"]);
}

fn same_unique_shares_one_job(r: &Row) {
    let (mut c1, mut c2, mut w) = (r.conn(), r.conn(), r.conn());
    let f = r.f("uniq");
    let h1 = submit(&mut c1, SubmitJob, &f, "key", "one");
    let h2 = submit(&mut c2, SubmitJob, &f, "key", "two");
    assert_eq!(h1, h2);
    let h3 = submit(&mut c1, SubmitJobBg, &f, "key", "three");
    assert_eq!(h1, h3);
    c1.send(GetStatusUnique, &["key"]);
    assert_eq!(c1.expect(StatusResUnique), ["key", "1", "0", "0", "0", "2"]);
    w.send(CanDo, &[&f]);
    w.send(GrabJobUniq, &[]);
    assert_eq!(w.expect(JobAssignUniq), [h1.as_str(), &f, "key", "one"]);
    w.send(WorkComplete, &[&h1, "r"]);
    assert_eq!(c1.expect(WorkComplete), [h1.as_str(), "r"]);
    assert_eq!(c2.expect(WorkComplete), [h1.as_str(), "r"]);
}

fn dash_unique_keys_on_the_data(r: &Row) {
    let (mut c, mut w) = (r.conn(), r.conn());
    let f = r.f("dash");
    let h1 = submit(&mut c, SubmitJobBg, &f, "-", "same");
    let h2 = submit(&mut c, SubmitJobBg, &f, "-", "same");
    let h3 = submit(&mut c, SubmitJobBg, &f, "-", "other");
    assert_eq!(h1, h2);
    assert_ne!(h1, h3);
    w.send(CanDo, &[&f]);
    w.send(GrabJobUniq, &[]);
    assert_eq!(w.expect(JobAssignUniq), [h1.as_str(), &f, "-", "same"]);
}

fn exceptions_only_to_clients_that_asked(r: &Row) {
    let (mut c1, mut c2, mut w) = (r.conn(), r.conn(), r.conn());
    let f = r.f("exc");
    c1.send(OptionReq, &["exceptions"]);
    assert_eq!(c1.expect(OptionRes), ["exceptions"]);
    let h = submit(&mut c1, SubmitJob, &f, "e", "");
    submit(&mut c2, SubmitJob, &f, "e", "");
    w.send(CanDo, &[&f]);
    w.send(GrabJob, &[]);
    w.expect(JobAssign);
    w.send(WorkException, &[&h, "boom"]);
    assert_eq!(c1.expect(WorkException), [h.as_str(), "boom"]);
    let p = c2.recv().expect("fail");
    assert_eq!(
        (p.kind, p.data),
        (WorkFail.code(), format!("{h}\0").into_bytes())
    );
    c2.send(GetStatus, &[&h]);
    assert_eq!(c2.expect(StatusRes)[1], "0", "an exception ends the job");
}

fn unknown_option(r: &Row) {
    let mut c = r.conn();
    c.send(OptionReq, &["bogus"]);
    assert_eq!(
        c.expect(Error),
        ["UNKNOWN_OPTION", "Server does not recognize given option"]
    );
}

fn priorities_high_normal_low(r: &Row) {
    let (mut c, mut w) = (r.conn(), r.conn());
    let f = r.f("prio");
    submit(&mut c, SubmitJobLowBg, &f, "", "low");
    submit(&mut c, SubmitJobBg, &f, "", "normal1");
    submit(&mut c, SubmitJobHighBg, &f, "", "high");
    submit(&mut c, SubmitJobBg, &f, "", "normal2");
    w.send(CanDo, &[&f]);
    let mut order = Vec::new();
    for _ in 0..4 {
        w.send(GrabJob, &[]);
        let a = w.expect(JobAssign);
        w.send(WorkComplete, &[&a[0], ""]);
        order.push(a[2].clone());
    }
    assert_eq!(order, ["high", "normal1", "normal2", "low"]);
}

fn sleeping_workers_get_a_noop(r: &Row) {
    let (mut c, mut w) = (r.conn(), r.conn());
    let f = r.f("sleep");
    w.send(CanDo, &[&f]);
    w.send(PreSleep, &[]);
    assert!(w.silent(100));
    submit(&mut c, SubmitJobBg, &f, "", "x");
    w.expect(Noop);
    // PRE_SLEEP while a job waits: NOOP at once.
    w.send(PreSleep, &[]);
    w.expect(Noop);
    w.send(GrabJobUniq, &[]);
    w.expect(JobAssignUniq);
    w.send(GrabJob, &[]);
    w.expect(NoJob);
}

fn work_results_for_unknown_jobs(r: &Row) {
    let mut w = r.conn();
    w.send(WorkComplete, &["H:nowhere:1", "x"]);
    assert_eq!(
        w.expect(Error),
        ["JOB_NOT_FOUND", "Job given in work result not found"]
    );
    w.send(WorkData, &["H:nowhere:1", "x"]);
    assert_eq!(
        w.expect(Error),
        ["JOB_NOT_FOUND", "Job does not exist on server"]
    );
    w.send(WorkException, &["H:nowhere:1", "x"]);
    assert_eq!(
        w.expect(Error),
        [
            "JOB_NOT_FOUND",
            "An exception was received for a job that does not exist"
        ]
    );
    w.send(GetStatus, &["H:nowhere:1"]);
    assert_eq!(w.expect(StatusRes), ["H:nowhere:1", "0", "0", "0", "0"]);
    w.send(GetStatusUnique, &["nothing"]);
    assert_eq!(
        w.expect(StatusResUnique),
        ["nothing", "0", "0", "0", "0", "0"]
    );
}

fn errors_for_unexpected_packets(r: &Row) {
    let mut c = r.conn();
    let mut res = super::req(EchoReq, &["x"]);
    res[1..4].copy_from_slice(b"RES");
    c.raw(&res);
    assert_eq!(c.expect(Error), ["INVALID_MAGIC", "Request magic expected"]);
    for cmd in [AllYours, NoJob] {
        c.send(cmd, &[]);
        assert_eq!(c.expect(Error), ["INVALID_COMMAND", "Command not expected"]);
    }
    c.send(SubmitJob, &["f", &"u".repeat(65), "d"]);
    assert_eq!(
        c.expect(Error),
        ["ARGUMENT_TOO_LARGE", "Unique value too large"]
    );
    c.send(EchoReq, &["still open"]);
    assert_eq!(c.expect(EchoRes), ["still open"]);
}

fn maxqueue_refuses_with_queue_error(r: &Row) {
    let (mut c, mut a) = (r.conn(), r.conn());
    let f = r.f("mq");
    assert_eq!(
        a.admin(&format!("create function {f}\r\n"), false),
        "OK\r\n"
    );
    assert_eq!(a.admin(&format!("maxqueue {f} 1\n"), false), "OK\r\n");
    submit(&mut c, SubmitJobBg, &f, "", "1");
    c.send(SubmitJobBg, &[&f, "", "2"]);
    assert_eq!(c.expect(Error), ["QUEUE_ERROR", "Job queue is full"]);
}

fn admin_text_replies(r: &Row) {
    let mut a = r.conn();
    let f = r.f("adm");
    assert!(a.admin("version\n", false).starts_with("OK 1.1.20"));
    assert_eq!(
        a.admin("maxqueue\n", false),
        "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue\r\n"
    );
    assert_eq!(
        a.admin("bogus\n", false),
        "ERR UNKNOWN_COMMAND Unknown+server+commandbogus\r\n"
    );
    assert_eq!(
        a.admin(&format!("drop function {f}\n"), false),
        "ERR function not found\r\n"
    );
    assert_eq!(
        a.admin(&format!("create function {f}\r\n"), false),
        "OK\r\n"
    );
    let status = a.admin("status\n", true);
    assert!(
        status.lines().any(|l| l == format!("{f}\t0\t0\t0")),
        "{status}"
    );
    let mut w = r.conn();
    w.send(CanDo, &[&f]);
    w.send(EchoReq, &["sync"]);
    w.expect(EchoRes);
    assert_eq!(
        a.admin(&format!("drop function {f}\n"), false),
        "ERR there are still connected workers or executing clients\r\n"
    );
    let status = a.admin("status\n", true);
    assert!(
        status.lines().any(|l| l == format!("{f}\t0\t0\t1")),
        "{status}"
    );
    let workers = a.admin("workers\n", true);
    assert!(
        workers
            .lines()
            .any(|l| l.ends_with(&format!(" 127.0.0.1 - : {f}"))),
        "{workers}"
    );
    assert_eq!(
        a.admin("cancel job H:nowhere:1\n", false),
        "ERR UNKNOWN_JOB\r\n"
    );
    let mut c = r.conn();
    let h = submit(&mut c, SubmitJobLowBg, &f, "uu", "");
    let jobs = a.admin("show jobs\n", true);
    assert!(jobs.lines().any(|l| l == format!("{h}\t0\t0\t1")), "{jobs}");
    let uniq = a.admin("show unique jobs\n", true);
    assert!(uniq.lines().any(|l| l == "uu"), "{uniq}");
    let prio = a.admin("prioritystatus\n", true);
    assert!(
        prio.lines().any(|l| l == format!("{f}\t0\t0\t1\t1")),
        "{prio}"
    );
}

fn a_dead_worker_hands_the_job_to_another(r: &Row) {
    let (mut c, mut w1, mut w2) = (r.conn(), r.conn(), r.conn());
    let f = r.f("dead");
    let h = submit(&mut c, SubmitJob, &f, "", "job");
    w1.send(CanDo, &[&f]);
    w1.send(GrabJob, &[]);
    w1.expect(JobAssign);
    w2.send(CanDo, &[&f]);
    w2.send(PreSleep, &[]);
    drop(w1);
    w2.expect(Noop);
    w2.send(GrabJob, &[]);
    assert_eq!(w2.expect(JobAssign), [h.as_str(), &f, "job"]);
    w2.send(WorkComplete, &[&h, "ok"]);
    assert_eq!(c.expect(WorkComplete), [h.as_str(), "ok"]);
}

fn future_epoch_jobs_wait(r: &Row) {
    let (mut c, mut w) = (r.conn(), r.conn());
    let f = r.f("epoch");
    let later = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600)
        .to_string();
    c.send(SubmitJobEpoch, &[&f, "", &later, "x"]);
    c.expect(JobCreated);
    w.send(CanDo, &[&f]);
    w.send(GrabJob, &[]);
    w.expect(NoJob);
}

/// A row: its name and its script.
type RowFn = (&'static str, fn(&Row));

const ROWS: &[RowFn] = &[
    ("echo", echo),
    ("background job round trip", background_job_round_trip),
    (
        "foreground job streams to the client",
        foreground_job_streams_to_the_client,
    ),
    ("same unique shares one job", same_unique_shares_one_job),
    ("dash unique keys on the data", dash_unique_keys_on_the_data),
    (
        "exceptions only to clients that asked",
        exceptions_only_to_clients_that_asked,
    ),
    ("unknown option", unknown_option),
    ("priorities high normal low", priorities_high_normal_low),
    ("sleeping workers get a noop", sleeping_workers_get_a_noop),
    (
        "work results for unknown jobs",
        work_results_for_unknown_jobs,
    ),
    (
        "errors for unexpected packets",
        errors_for_unexpected_packets,
    ),
    (
        "maxqueue refuses with QUEUE_ERROR",
        maxqueue_refuses_with_queue_error,
    ),
    ("admin text replies", admin_text_replies),
    (
        "a dead worker hands the job to another",
        a_dead_worker_hands_the_job_to_another,
    ),
    ("future epoch jobs wait", future_epoch_jobs_wait),
];

#[test]
fn packet_rows_match_the_original() {
    let mut failures = Vec::new();
    for (server, gd) in both() {
        for (i, (name, row)) in ROWS.iter().enumerate() {
            let r = Row {
                addr: gd.addr,
                tag: format!("r{i}"),
            };
            if let Err(e) = catch_unwind(AssertUnwindSafe(|| row(&r))) {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                failures.push(format!("{server}: row {name:?}: {msg}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} row(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
