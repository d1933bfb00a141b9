//! gearmand's durable queue under a crash in the middle of a burst and
//! under a full disk.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use danga_gearman::proto::Command::*;
use danga_testkit::{wait_for, TestDb};
use nix::sys::signal::Signal;

use super::Tmpfs;
use crate::gearman::{ours, Wire};

/// Submitters running at once, and how many requests each keeps in flight.
const CLIENTS: usize = 4;
const WINDOW: usize = 16;

/// Every job a restarted server on `args` replays, by data (drained by one
/// worker; each completed so its row goes).
fn drain(args: &[&str], func: &str) -> BTreeSet<String> {
    let gd = ours(args);
    let mut w = Wire::connect(gd.addr);
    w.send(CanDo, &[func]);
    let mut got = BTreeSet::new();
    for _ in 0..1_000_000 {
        w.send(GrabJobUniq, &[]);
        let p = w.recv().expect("reply to GRAB_JOB_UNIQ");
        if p.kind == NoJob.code() {
            break;
        }
        assert_eq!(p.kind, JobAssignUniq.code(), "{:?}", p.text());
        let a = p.text();
        got.insert(a[3].clone());
        w.send(WorkComplete, &[&a[0], ""]);
    }
    got
}

/// Promise: with a durable queue, a `kill -9` while clients are in the
/// middle of a burst of pipelined SUBMIT_JOB_BG loses no job whose
/// `JOB_CREATED` reached its client: after the restart every
/// acknowledged job is handed to a worker (jobs stored but not yet
/// acknowledged may run too: at least once).
fn kill9_mid_burst_loses_no_acknowledged_job(args: &[&str]) {
    let mut gd = ours(args);
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let total = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for c in 0..CLIENTS {
        let (acked, total, addr) = (acked.clone(), total.clone(), gd.addr);
        threads.push(std::thread::spawn(move || {
            let mut w = Wire::connect(addr);
            // Bounded: the server is killed long before this many.
            for round in 0..100_000 {
                let batch: Vec<String> =
                    (0..WINDOW).map(|i| format!("c{c}-r{round}-j{i}")).collect();
                let mut bytes = Vec::new();
                for data in &batch {
                    bytes.extend(crate::gearman::req(SubmitJobBg, &["burst", "", data]));
                }
                if w.try_raw(&bytes).is_err() {
                    return;
                }
                // Replies come in request order on one connection.
                for data in batch {
                    match w.recv() {
                        Some(p) if p.kind == JobCreated.code() => {
                            acked.lock().expect("acked").insert(data);
                            total.fetch_add(1, Ordering::SeqCst);
                        }
                        Some(p) => panic!("SUBMIT_JOB_BG answered {:?}", p.text()),
                        None => return,
                    }
                }
            }
        }));
    }
    // Kill once the burst is well under way.
    assert!(
        wait_for(Duration::from_secs(60), || total.load(Ordering::SeqCst)
            >= 1500),
        "only {} jobs acknowledged in 60 s",
        total.load(Ordering::SeqCst)
    );
    gd.daemon.signal(Signal::SIGKILL);
    assert!(wait_for(Duration::from_secs(10), || gd
        .daemon
        .try_exit()
        .is_some()));
    for t in threads {
        t.join().expect("submitter");
    }
    let acked = std::mem::take(&mut *acked.lock().expect("acked"));
    let replayed = drain(args, "burst");
    let lost: Vec<&String> = acked.difference(&replayed).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged jobs lost after kill -9, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    eprintln!(
        "{} acknowledged, {} replayed ({} stored but unacknowledged)",
        acked.len(),
        replayed.len(),
        replayed.len() - acked.len()
    );
}

#[test]
fn fault_gearman_sqlite_kill9_mid_burst_loses_no_acknowledged_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("q.db");
    let db = db.to_string_lossy().into_owned();
    kill9_mid_burst_loses_no_acknowledged_job(&["-q", "libsqlite3", "--libsqlite3-db", &db]);
}

#[test]
fn fault_gearman_mariadb_kill9_mid_burst_loses_no_acknowledged_job() {
    let Some(db) = TestDb::create("gearman_burst") else {
        return;
    };
    let args = crate::gearman::mysql_queue_args(&db);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kill9_mid_burst_loses_no_acknowledged_job(&args);
}

/// Promise: when the SQLite queue's disk is full, a SUBMIT_JOB_BG that
/// cannot be stored is answered with an ERROR packet, never JOB_CREATED,
/// and the connection stays usable; every job that was acknowledged
/// survives a restart (on the still-full disk).
#[test]
fn fault_gearman_sqlite_disk_full_refuses_instead_of_acknowledging() {
    let Some(fs) = Tmpfs::new(512) else {
        return;
    };
    let db = fs.path().join("q.db");
    let db = db.to_string_lossy().into_owned();
    let args = ["-q", "libsqlite3", "--libsqlite3-db", &db];
    let mut gd = ours(&args);
    let mut w = Wire::connect(gd.addr);
    let mut acked = BTreeSet::new();
    let mut refused = 0;
    // 8 KiB each: 512 KiB fills within ~60 jobs; stop after some refusals.
    let pad = "x".repeat(8 * 1024);
    for i in 0..400 {
        let data = format!("full{i}-{pad}");
        w.send(SubmitJobBg, &["full", "", &data]);
        let p = w.recv().expect("a reply, not a closed connection");
        if p.kind == JobCreated.code() {
            acked.insert(data);
        } else {
            assert_eq!(p.kind, Error.code(), "{:?}", p.text());
            refused += 1;
            if refused >= 20 {
                break;
            }
        }
    }
    assert!(
        refused > 0,
        "the disk never filled ({} stored)",
        acked.len()
    );
    assert!(!acked.is_empty(), "nothing stored before the disk filled");
    // Foreground jobs are not stored and still work.
    w.send(SubmitJob, &["full", "", "fg"]);
    w.expect(JobCreated);
    gd.daemon.signal(Signal::SIGKILL);
    assert!(wait_for(Duration::from_secs(10), || gd
        .daemon
        .try_exit()
        .is_some()));
    drop(w);
    let replayed = drain(&args, "full");
    let lost = acked.difference(&replayed).count();
    assert_eq!(lost, 0, "{lost} of {} acknowledged jobs lost", acked.len());
    assert!(
        replayed.is_subset(&acked),
        "a refused job ran after the restart"
    );
}
