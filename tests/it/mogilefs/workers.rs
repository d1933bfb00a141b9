//! The background jobs as supervised workers, as MogileFS-Server 2.73's
//! `60-fsck.t` drives them: `!to <job> :shutdown` ends a job and it is
//! started again (`Job fsck has only 0, wants 1, making 1.` on `!watch`),
//! each job has a process of its own whose pid `!jobs` shows (stopping it
//! holds the job, killing it restarts the job), and fsck's work flows
//! through `file_to_queue`: a fid whose device cannot be asked keeps its
//! queue row.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use danga_testkit::wait_for;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::replication::QUICK_REAPER;
use super::{admin, call, ok, store, Cluster};

/// The pid `!jobs` shows for `job`.
fn job_pid(s: &mut TcpStream, job: &str) -> Option<u32> {
    let prefix = format!("{job} pids ");
    admin(s, "!jobs")
        .iter()
        .find_map(|l| l.strip_prefix(&prefix).and_then(|n| n.trim().parse().ok()))
}

/// A `!watch`ing connection.
fn watcher(c: &Cluster) -> TcpStream {
    let mut w = c.conn();
    assert_eq!(admin(&mut w, "!watch"), ["Added you to watcher list."]);
    w.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    w
}

/// Reads `w` until a line contains `want` (at most `limit`); what was
/// read, and whether it came.
fn watch_for(w: &mut TcpStream, want: &str, limit: Duration) -> (bool, String) {
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let found = wait_for(limit, || {
        if let Ok(n) = w.read(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        seen.lines().any(|l| l.contains(want))
    });
    (found, seen)
}

fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
            st.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
}

#[test]
fn mogilefs_to_shutdown_ends_a_job_and_it_is_started_again() {
    let c = Cluster::start(1);
    let mut s = c.conn();
    let tracker = c.tracker.pid();
    let first = job_pid(&mut s, "fsck").expect("fsck pid");
    assert_ne!(first, tracker, "each job has a process of its own");
    assert!(alive(first));

    let mut w = watcher(&c);
    assert_eq!(
        admin(&mut s, "!to fsck :shutdown"),
        ["Message sent to 1 children."]
    );
    let (respawned, seen) = watch_for(
        &mut w,
        "Job fsck has only 0, wants 1, making 1.",
        Duration::from_secs(20),
    );
    assert!(respawned, "{seen}");
    let second = wait_for(Duration::from_secs(10), || {
        job_pid(&mut s, "fsck").is_some_and(|p| p != first)
    });
    assert!(second, "{:?}", admin(&mut s, "!jobs"));
    let gone = wait_for(Duration::from_secs(10), || !alive(first));
    assert!(gone, "the old process ends");

    // Killing a job's process ends the job too; it comes back.
    let job_master = job_pid(&mut s, "job_master").expect("job_master pid");
    kill(Pid::from_raw(job_master as i32), Signal::SIGKILL).expect("kill");
    let (respawned, seen) = watch_for(
        &mut w,
        "Job job_master has only 0, wants 1, making 1.",
        Duration::from_secs(20),
    );
    assert!(respawned, "{seen}");

    assert_eq!(
        admin(&mut s, "!to fsck :wake_up"),
        ["Message sent to 1 children."]
    );
    assert_eq!(
        admin(&mut s, "!to queryworker :shutdown"),
        ["Message sent to 0 children."]
    );
    assert_eq!(
        admin(&mut s, "!to nosuchjob :shutdown"),
        ["Message sent to 0 children."]
    );
    assert_eq!(
        admin(&mut s, "!to fsck"),
        ["ERROR: usage: !to <jobclass> <message>"]
    );
    // Held by `!want 0`: no worker to send to.
    admin(&mut s, "!want 0 fsck");
    assert_eq!(
        admin(&mut s, "!to fsck :shutdown"),
        ["Message sent to 0 children."]
    );
    assert_eq!(call(&mut s, "noop"), "OK \r\n");
}

#[test]
fn mogilefs_stopped_reaper_process_holds_the_reaper() {
    let c = Cluster::with_tracker_on_sqlite(&QUICK_REAPER, 2);
    let mut s = c.conn();
    store(&mut s, "k", b"reap me later");
    let devids = |s: &mut TcpStream| -> Vec<String> {
        let info = ok(&call(s, "file_info domain=d&key=k&devices=1"));
        info.get("devids")
            .unwrap_or_default()
            .split(',')
            .filter(|d| !d.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let two = wait_for(Duration::from_secs(30), || devids(&mut s).len() == 2);
    assert!(two, "{:?}", devids(&mut s));
    let reaper = job_pid(&mut s, "reaper").expect("reaper pid");
    kill(Pid::from_raw(reaper as i32), Signal::SIGSTOP).expect("stop");
    // Let a reaper round that was under way finish before the device dies.
    std::thread::sleep(Duration::from_secs(1));
    let dead = devids(&mut s)[0].clone();
    let host = (dead.parse::<u32>().expect("devid") - 1) / 2;
    assert_eq!(
        call(
            &mut s,
            &format!("set_state host=s{host}&device={dead}&state=dead")
        ),
        "OK \r\n"
    );
    // Held: rounds every 0.3 s would have forgotten the replica by now.
    std::thread::sleep(Duration::from_secs(3));
    assert!(devids(&mut s).contains(&dead), "{:?}", devids(&mut s));
    kill(Pid::from_raw(reaper as i32), Signal::SIGCONT).expect("cont");
    let reaped = wait_for(Duration::from_secs(30), || !devids(&mut s).contains(&dead));
    assert!(reaped, "{:?}", devids(&mut s));
}

#[test]
fn mogilefs_fsck_stalled_fid_keeps_its_queue_row() {
    let c = Cluster::start(2);
    let mut s = c.conn();
    let (fid, _) = store(&mut s, "k", b"stall me");
    let two = wait_for(Duration::from_secs(30), || {
        ok(&call(&mut s, "file_info domain=d&key=k")).get("devcount") == Some("2")
    });
    assert!(two);
    let mut w = watcher(&c);
    c.nodes[0].daemon.signal(Signal::SIGSTOP);
    for cmd in ["fsck_stop", "fsck_clearlog", "fsck_reset", "fsck_start"] {
        assert_eq!(call(&mut s, cmd), "OK \r\n");
    }
    let (stalled, seen) = watch_for(
        &mut w,
        "Connectivity problem reaching device",
        Duration::from_secs(30),
    );
    c.nodes[0].daemon.signal(Signal::SIGCONT);
    assert!(stalled, "{seen}");
    assert!(
        seen.lines()
            .any(|l| l.starts_with(":: [fsck(") && l.contains("Connectivity problem")),
        "{seen}"
    );
    // Queued, all queued: the run's queueing ends while the stalled fid
    // keeps its row, taken for 1000 s.
    let done = wait_for(Duration::from_secs(20), || {
        ok(&call(&mut s, "fsck_status")).get("running") == Some("0")
    });
    assert!(done);
    let dbg = ok(&call(&mut s, &format!("file_debug fid={fid}")));
    assert_eq!(dbg.get("fsckqueue_type"), Some("1"), "{dbg:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let next: u64 = dbg
        .get("fsckqueue_nexttry")
        .and_then(|n| n.parse().ok())
        .expect("nexttry");
    assert!(next > now + 500, "leased: {next} vs {now}");
    // Nothing logged: the fid was not checked.
    let log = ok(&call(&mut s, "fsck_getlog"));
    assert_eq!(log.get("row_count"), Some("0"), "{log:?}");
    drop(w.write_all(b"!watch\r\n"));
}
