//! Durable background jobs: `kill -9` straight after the last
//! `JOB_CREATED`, restart on the same store, and every acknowledged
//! background job runs; finished jobs' rows are deleted. SQLite and
//! MariaDB (tests named `mariadb` run one at a time under nextest).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use danga_gearman::proto::Command::*;
use danga_testkit::{have_command, require, wait_for, TestDb};
use nix::sys::signal::Signal;

use super::{ours, Wire};

const N: usize = 60;

/// Submits N background jobs of every kind (and one foreground job, which
/// is never stored), kills the server with SIGKILL right after the last
/// `JOB_CREATED`, restarts it and runs what it replays.
/// `rows` counts the stored rows (`None`: cannot tell).
fn kill9_then_every_job_runs(args: &[&str], rows: impl Fn() -> Option<usize>) {
    let mut gd = ours(args);
    let mut c = Wire::connect(gd.addr);
    let mut fg = Wire::connect(gd.addr);
    fg.send(SubmitJob, &["dur", "", "foreground"]);
    fg.expect(JobCreated);
    let past = "1000000000";
    let mut want = BTreeSet::new();
    for i in 0..N {
        let data = format!("job{i}");
        let uniq = if i % 2 == 0 {
            format!("u{i}")
        } else {
            String::new()
        };
        match i % 4 {
            0 => c.send(SubmitJobBg, &["dur", &uniq, &data]),
            1 => c.send(SubmitJobHighBg, &["dur", &uniq, &data]),
            2 => c.send(SubmitJobLowBg, &["dur", &uniq, &data]),
            _ => c.send(SubmitJobEpoch, &["dur", &uniq, past, &data]),
        }
        want.insert(data);
    }
    // A duplicate unique: same job, one more row.
    c.send(SubmitJobBg, &["dur", "u0", "job0-again"]);
    // Two jobs not due yet: an epoch job and a SUBMIT_JOB_SCHED one.
    let (minute, sched_due) = super::issue19::next_minute();
    let epoch_due = super::issue19::unix_now() + 4;
    c.send(
        SubmitJobEpoch,
        &["dur", "", &epoch_due.to_string(), "later-epoch"],
    );
    c.send(
        SubmitJobSched,
        &[
            "dur",
            "",
            &minute.to_string(),
            "",
            "",
            "",
            "",
            "later-sched",
        ],
    );
    for _ in 0..N + 3 {
        c.expect(JobCreated);
    }
    gd.daemon.signal(Signal::SIGKILL);
    assert!(wait_for(Duration::from_secs(10), || gd
        .daemon
        .try_exit()
        .is_some()));

    if let Some(n) = rows() {
        assert_eq!(
            n,
            N + 3,
            "one row per background submit, none for the foreground job"
        );
    }
    let gd = ours(args);
    let mut w = Wire::connect(gd.addr);
    w.send(CanDo, &["dur"]);
    let mut got = BTreeSet::new();
    let mut later = Vec::new();
    loop {
        w.send(GrabJobUniq, &[]);
        let p = w.recv().expect("reply");
        if p.kind == NoJob.code() {
            break;
        }
        assert_eq!(p.kind, JobAssignUniq.code());
        let a = p.text();
        if a[3].starts_with("later-") {
            // Came due while the others ran (a slow restart).
            let due = if a[3] == "later-epoch" {
                epoch_due
            } else {
                sched_due
            };
            assert!(super::issue19::unix_now() >= due, "{} early", a[3]);
            w.send(WorkComplete, &[&a[0], "done"]);
            later.push(a[3].clone());
            continue;
        }
        assert!(got.insert(a[3].clone()), "{} ran twice", a[3]);
        w.send(WorkComplete, &[&a[0], "done"]);
    }
    assert_eq!(
        got, want,
        "every acknowledged background job, and only those"
    );
    // The scheduled ones come when due, not before.
    while later.len() < 2 {
        let (job, at) = super::issue19::grab_until(&mut w, sched_due + 10).expect("scheduled job");
        let due = if job[2] == "later-epoch" {
            epoch_due
        } else {
            sched_due
        };
        assert!(at >= due, "{} given at {at}, due {due}", job[2]);
        w.send(WorkComplete, &[&job[0], "done"]);
        later.push(job[2].clone());
    }
    later.sort();
    assert_eq!(later, ["later-epoch", "later-sched"]);
    assert!(
        wait_for(Duration::from_secs(10), || rows().is_none_or(|n| n == 0)),
        "finished jobs' rows are deleted: {:?} left",
        rows()
    );
}

fn python_sqlite_count(db: &std::path::Path) -> Option<usize> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from gearman_queue').fetchone()[0])",
        ])
        .arg(db)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

#[test]
fn sqlite_background_jobs_survive_kill_9() {
    if !require("python3 (reads the SQLite file)", have_command("python3")) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("queue.db");
    let db_arg = db.to_string_lossy().into_owned();
    kill9_then_every_job_runs(&["-q", "libsqlite3", "--libsqlite3-db", &db_arg], || {
        let n = python_sqlite_count(&db);
        assert!(n.is_some(), "counting rows in {}", db.display());
        n
    });
}

#[test]
fn mariadb_background_jobs_survive_kill_9() {
    let Some(db) = TestDb::create("gearman_kill9") else {
        return;
    };
    let mut args = super::mysql_queue_args(&db);
    args.extend(["--mysql-table".to_owned(), "gq".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kill9_then_every_job_runs(&args, || {
        let n = db.sql_in("SELECT COUNT(*) FROM gq");
        Some(n.expect("counting rows").trim().parse().expect("a number"))
    });
}

#[test]
fn a_queue_that_cannot_open_stops_the_start_with_a_reason() {
    let bin = danga_testkit::bin_path("gearmand");
    let out = Command::new(&bin)
        .args(["-p", "0", "-L", "127.0.0.1"])
        .args([
            "-q",
            "libsqlite3",
            "--libsqlite3-db",
            "/nonexistent/dir/q.db",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dir/q.db"));
    let out = Command::new(&bin)
        .args(["-p", "0", "-q", "libsqlite3"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(64), "no --libsqlite3-db");
}
