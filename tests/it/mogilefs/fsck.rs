//! fsck through the real binaries: a replica deleted behind the tracker's
//! back is logged MISS and restored; a replica corrupted on disk is logged
//! BSUM and repaired from the good copy; the commands answer as the
//! original's.

use std::net::TcpStream;
use std::time::Duration;

use danga_testkit::wait_for;

use super::{call, err, md5_hex, ok, store, Cluster};

fn status(s: &mut TcpStream) -> super::Args {
    ok(&call(s, "fsck_status"))
}

/// Event codes logged, in order.
fn log_codes(s: &mut TcpStream) -> Vec<(String, Option<String>)> {
    let log = ok(&call(s, "fsck_getlog"));
    let n: usize = log
        .get("row_count")
        .and_then(|n| n.parse().ok())
        .expect("row_count");
    (1..=n)
        .map(|i| {
            (
                log.get(&format!("row_{i}_evcode"))
                    .expect("evcode")
                    .to_owned(),
                log.get(&format!("row_{i}_devid")).map(str::to_owned),
            )
        })
        .collect()
}

fn full_fsck(s: &mut TcpStream) {
    assert_eq!(call(s, "fsck_stop"), "OK \r\n");
    assert_eq!(call(s, "fsck_clearlog"), "OK \r\n");
    assert_eq!(call(s, "fsck_reset"), "OK \r\n");
    assert_eq!(call(s, "fsck_start"), "OK \r\n");
}

/// Fids with a row in the fsck queue (`fsckqueue_*` of file_debug).
fn queued(s: &mut TcpStream) -> Vec<String> {
    let list = ok(&call(s, "list_fids from=0&to=500"));
    let n: usize = list
        .get("fid_count")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (1..=n)
        .filter_map(|i| list.get(&format!("fid_{i}_fid")).map(str::to_owned))
        .filter(|fid| {
            ok(&call(s, &format!("file_debug fid={fid}")))
                .get("fsckqueue_fid")
                .is_some()
        })
        .collect()
}

/// Waits until the run has queued every fid (`running` 0, as the
/// original's `fsck_host` cleared) and the fsck worker has checked them.
fn wait_done(s: &mut TcpStream) {
    let done = wait_for(Duration::from_secs(30), || {
        status(s).get("running") == Some("0") && queued(s).is_empty()
    });
    assert!(done, "{:?} {:?}", status(s), queued(s));
}

fn devids(s: &mut TcpStream, key: &str) -> Vec<String> {
    let info = ok(&call(s, &format!("file_info domain=d&key={key}&devices=1")));
    info.get("devids")
        .unwrap_or_default()
        .split(',')
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect()
}

fn paths(s: &mut TcpStream, key: &str) -> Vec<String> {
    let p = ok(&call(
        s,
        &format!("get_paths domain=d&key={key}&noverify=1"),
    ));
    let n: usize = p.get("paths").and_then(|n| n.parse().ok()).unwrap_or(0);
    (1..=n)
        .filter_map(|i| p.get(&format!("path{i}")).map(str::to_owned))
        .collect()
}

#[test]
fn mogilefs_fsck_logs_miss_and_bsum_and_repairs_from_good_copies() {
    let c = Cluster::start(3);
    let mut s = c.conn();
    assert!(call(&mut s, "update_class domain=d&class=c&hashtype=MD5").starts_with("OK "));
    let data = b"fsck me, please";
    store(&mut s, "k", data);
    let two = wait_for(Duration::from_secs(20), || devids(&mut s, "k").len() == 2);
    assert!(two, "{:?}", devids(&mut s, "k"));

    // A clean run logs nothing (replication stored the checksum the
    // client did not send).
    let st = status(&mut s);
    assert_eq!(st.get("running"), Some("0"));
    full_fsck(&mut s);
    assert_eq!(
        err(&call(&mut s, "fsck_start")).as_str(),
        "fsck_running",
        "a second start while it runs"
    );
    wait_done(&mut s);
    assert_eq!(log_codes(&mut s), []);
    let info = ok(&call(&mut s, "file_info domain=d&key=k"));
    let want = format!("MD5:{}", md5_hex(data));
    assert_eq!(info.get("checksum"), Some(want.as_str()));
    let st = status(&mut s);
    assert!(
        st.get("max_fid_checked").is_some_and(|f| f != "0"),
        "{st:?}"
    );

    // One replica deleted behind the tracker's back: MISS, then REPL, and
    // the file is back at two copies.
    let p = paths(&mut s, "k");
    let gone = c.file_of(&p[0]);
    std::fs::remove_file(&gone).expect("remove replica");
    full_fsck(&mut s);
    wait_done(&mut s);
    let codes = log_codes(&mut s);
    assert_eq!(codes.len(), 2, "{codes:?}");
    assert_eq!(codes[0].0, "MISS");
    assert!(codes[0].1.is_some(), "MISS names the device");
    assert_eq!(codes[1].0, "REPL");
    let back = wait_for(Duration::from_secs(20), || devids(&mut s, "k").len() == 2);
    assert!(back, "{:?}", devids(&mut s, "k"));

    // One replica corrupted on disk (same length) while the other matches
    // the stored checksum: it is forgotten without a BSUM (as the
    // original), REPL, and every copy reads back right afterwards.
    let p = paths(&mut s, "k");
    let bad = c.file_of(&p[1]);
    std::fs::write(&bad, b"fsck me, PLEASE").expect("corrupt");
    full_fsck(&mut s);
    wait_done(&mut s);
    let codes: Vec<String> = log_codes(&mut s).into_iter().map(|c| c.0).collect();
    assert_eq!(codes, ["REPL"]);
    let healed = wait_for(Duration::from_secs(20), || {
        let p = paths(&mut s, "k");
        p.len() == 2 && p.iter().all(|u| super::get(u) == (200, data.to_vec()))
    });
    assert!(healed, "{:?}", paths(&mut s, "k"));

    // Every replica corrupted alike: no good copy to repair from, BSUM.
    for u in paths(&mut s, "k") {
        std::fs::write(c.file_of(&u), b"fsck me, PLEASE").expect("corrupt");
    }
    full_fsck(&mut s);
    wait_done(&mut s);
    let codes: Vec<String> = log_codes(&mut s).into_iter().map(|c| c.0).collect();
    assert_eq!(codes, ["BSUM"]);
    assert_eq!(status(&mut s).get("num_BSUM"), Some("1"));
}

#[test]
fn mogilefs_fsck_nsum_povi_gone_and_reset_position() {
    let c = Cluster::start(2);
    let mut s = c.conn();
    // Replication held: one copy of a two-copy class with MD5 and no
    // checksum. fsck stores the checksum (NSUM) and asks for the second
    // copy (POVI, REPL).
    assert_eq!(
        super::admin(&mut s, "!want 0 replicate"),
        ["Now desiring 0 children doing 'replicate'."]
    );
    assert!(call(&mut s, "update_class domain=d&class=c&hashtype=MD5").starts_with("OK "));
    store(&mut s, "lazy", b"lazy");
    full_fsck(&mut s);
    wait_done(&mut s);
    let codes: Vec<String> = log_codes(&mut s).into_iter().map(|c| c.0).collect();
    assert_eq!(codes, ["POVI", "NSUM", "REPL"]);
    let info = ok(&call(&mut s, "file_info domain=d&key=lazy"));
    let want = format!("MD5:{}", md5_hex(b"lazy"));
    assert_eq!(info.get("checksum"), Some(want.as_str()));
    super::admin(&mut s, "!want 1 replicate");
    let two = wait_for(Duration::from_secs(20), || {
        devids(&mut s, "lazy").len() == 2
    });
    assert!(two);
    assert_eq!(call(&mut s, "delete domain=d&key=lazy"), "OK \r\n");

    // Every replica deleted: MISS twice, the search, and GONE.
    let data = b"only copy";
    store(&mut s, "k", data);
    let two = wait_for(Duration::from_secs(20), || devids(&mut s, "k").len() == 2);
    assert!(two);
    for p in paths(&mut s, "k") {
        std::fs::remove_file(c.file_of(&p)).expect("remove");
    }
    full_fsck(&mut s);
    wait_done(&mut s);
    let codes: Vec<String> = log_codes(&mut s).into_iter().map(|c| c.0).collect();
    assert_eq!(codes, ["MISS", "MISS", "SRCH", "GONE"]);
    let st = status(&mut s);
    assert_eq!(st.get("num_MISS"), Some("2"), "{st:?}");
    assert_eq!(st.get("num_GONE"), Some("1"), "{st:?}");
    // After a stop, a start goes on from where the run was.
    assert_eq!(call(&mut s, "fsck_stop"), "OK \r\n");
    let at = status(&mut s).get("max_fid_checked").map(str::to_owned);
    assert_eq!(call(&mut s, "fsck_reset startpos=1"), "OK \r\n");
    assert_eq!(status(&mut s).get("max_fid_checked"), Some("1"));
    assert!(at.is_some());
}

#[test]
fn mogilefs_fsck_checksum_off_ignores_the_class_hashtype() {
    let c = Cluster::start(2);
    let mut s = c.conn();
    // Two copies, no checksum stored (the class had no hashtype then).
    store(&mut s, "plain", b"plain");
    let two = wait_for(Duration::from_secs(20), || {
        devids(&mut s, "plain").len() == 2
    });
    assert!(two);
    assert!(call(&mut s, "update_class domain=d&class=c&hashtype=MD5").starts_with("OK "));
    assert!(
        call(&mut s, "set_server_setting key=fsck_checksum&value=off").starts_with("OK"),
        "fsck_checksum=off"
    );
    full_fsck(&mut s);
    wait_done(&mut s);
    // As the original: with checksums off, a missing one is no event.
    assert_eq!(log_codes(&mut s), Vec::<(String, Option<String>)>::new());
}

#[test]
fn mogilefs_fsck_run_survives_a_tracker_restart() {
    use danga_testkit::Daemon;
    let mut c = Cluster::start(2);
    let mut s = c.conn();
    for i in 0..3 {
        store(&mut s, &format!("r{i}"), b"restart me");
    }
    // Held: the run is on, nothing queued yet (the job master queues).
    super::admin(&mut s, "!want 0 job_master");
    full_fsck(&mut s);
    let st = status(&mut s);
    assert_eq!(st.get("running"), Some("1"), "{st:?}");
    assert_eq!(st.get("max_fid_checked"), Some("0"), "{st:?}");
    let end = st.get("end_fid").map(str::to_owned);

    // A new tracker on the same database goes on with the run.
    let db = c
        ._db
        .as_ref()
        .expect("sqlite dir")
        .path()
        .join("mogilefs.sqlite3");
    let dsn = format!("--dsn=DBI:SQLite:dbname={}", db.display());
    drop(s);
    c.tracker.signal(nix::sys::signal::Signal::SIGTERM);
    let stopped = wait_for(Duration::from_secs(10), || c.tracker.try_exit().is_some());
    assert!(stopped);
    c.tracker = Daemon::start(
        "mogilefsd",
        &["-s", "-l", "127.0.0.1:0", "--monitor_interval=0.5", &dsn],
    );
    c.addr = c.tracker.addr("mogilefsd");
    let mut s = c.conn();
    wait_done(&mut s);
    let st = status(&mut s);
    assert_eq!(st.get("max_fid_checked").map(str::to_owned), end, "{st:?}");
    assert!(st.get("stop_time").is_some_and(|t| t != "0"), "{st:?}");
}

/// The same queue on MariaDB: a replica deleted behind the tracker's
/// back is found (MISS), the fid's queue row goes once checked, and the
/// replica comes back.
#[test]
fn mogilefs_fsck_queue_on_mariadb_logs_miss_and_restores() {
    let Some(db) = danga_testkit::TestDb::create("mogilefs_fsck") else {
        return;
    };
    let c = Cluster::with_tracker(&[&super::mariadb::dsn(&db)], 3);
    let mut s = c.conn();
    store(&mut s, "k", b"checked on mariadb");
    let two = wait_for(Duration::from_secs(20), || devids(&mut s, "k").len() == 2);
    assert!(two, "{:?}", devids(&mut s, "k"));
    let p = paths(&mut s, "k");
    std::fs::remove_file(c.file_of(&p[0])).expect("remove replica");
    full_fsck(&mut s);
    wait_done(&mut s);
    let codes: Vec<String> = log_codes(&mut s).into_iter().map(|c| c.0).collect();
    assert_eq!(codes, ["MISS", "REPL"]);
    let back = wait_for(Duration::from_secs(20), || devids(&mut s, "k").len() == 2);
    assert!(back, "{:?}", devids(&mut s, "k"));
    assert_eq!(status(&mut s).get("num_MISS"), Some("1"));
}
