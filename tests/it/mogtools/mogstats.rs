//! mogstats against the tracker's own database, on SQLite and on MariaDB:
//! three files stored and replicated, queue rows that never come due, and
//! 2.30's tables read back.

use std::time::Duration;

use danga_mogilefs::meta::{FsckLog, Replication, SqliteStore};
use danga_testkit::{wait_for, TestDb};

use super::{tool, Out};
use crate::mogilefs::{store, Cluster};

/// `nexttry` of a row left for an operator (never due).
const ENDOFTIME: i64 = 2_147_483_647;

fn mogstats(home: &std::path::Path, dsn: &str, stats: &str) -> Out {
    let dsn = format!("--db_dsn={dsn}");
    let stats = format!("--stats={stats}");
    tool(home, "mogstats", &[&dsn, &stats])
}

/// Stores three 1 MiB files in d/c (mindevcount 2) and waits until both
/// replicas of each are recorded.
fn three_replicated_files(c: &Cluster, home: &std::path::Path, dsn: &str) {
    let mut s = c.conn();
    let data = vec![7u8; 1 << 20];
    for key in ["a", "b", "c"] {
        store(&mut s, key, &data);
    }
    let want = "  d                    c                   2          3\n";
    let mut last = String::new();
    let done = wait_for(Duration::from_secs(60), || {
        last = mogstats(home, dsn, "replication").ok().to_owned();
        last.contains(want)
    });
    assert!(done, "not replicated in time:\n{last}");
}

/// The tables every engine must show after [`three_replicated_files`] and
/// the queue rows (replication: one manual, one deferred; fsck: one manual).
fn check_tables(home: &std::path::Path, dsn: &str) -> String {
    let all = mogstats(home, dsn, "all");
    let text = all.ok();
    assert!(text.starts_with("Fetching statistics... (all)\n"), "{text}");
    assert!(text.ends_with("\ndone\n"), "{text}");

    let devices: Vec<&str> = text
        .split("\nStatistics for devices...\n")
        .nth(1)
        .expect("devices section")
        .lines()
        .skip(2)
        .take_while(|l| !l.starts_with("  ---"))
        .collect();
    assert!(text.contains(
        "  device     host                   files     status\n  ---------- ---------------- ------------ ----------\n"
    ), "{text}");
    let mut total = 0;
    for line in &devices {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 4, "{line}");
        assert!(f[0].starts_with("dev") && f[1].starts_with('s'), "{line}");
        assert_eq!(f[3], "alive", "{line}");
        total += f[2].parse::<i64>().expect("files");
    }
    assert_eq!(total, 6, "two replicas of three files:\n{text}");

    assert!(text.contains(
        "\nStatistics for files...\n  domain               class           files    size (m)  fullsize (m)\n  -------------------- ----------- ---------- ----------- -------------\n  d                    c                   3           3             6\n  -------------------- ----------- ---------- ----------- -------------\n"
    ), "{text}");
    assert!(text.contains(
        "\nStatistics for replication queue...\n  status                      count\n  -------------------- ------------\n  deferred                        1\n  manual                          1\n  -------------------- ------------\n"
    ), "{text}");
    assert!(text.contains(
        "\nStatistics for general queues...\n  queue           status                      count\n  --------------- -------------------- ------------\n  FSCK_QUEUE      manual                          1\n  --------------- -------------------- ------------\n"
    ), "{text}");
    assert!(
        !text.contains("Statistics for domains"),
        "files covers it:\n{text}"
    );

    let domains = mogstats(home, dsn, "domains");
    assert_eq!(
        domains.ok(),
        "Fetching statistics... (domains)\n\nStatistics for domains...\n  domain               class           files\n  -------------------- ----------- ----------\n  d                    c                   3\n  -------------------- ----------- ----------\n\ndone\n"
    );
    let bad = mogstats(home, dsn, "devices,bogus");
    assert_eq!(bad.code, 1);
    assert!(
        bad.stdout
            .starts_with("ERROR: Invalid stat bogus\n\nUsage:\n"),
        "{bad:?}"
    );
    text.to_owned()
}

#[test]
fn mogstats_tables_on_sqlite() {
    let dir = tempfile::tempdir().expect("db dir");
    let path = dir.path().join("mogilefs.sqlite3");
    let dsn = format!("DBI:SQLite:dbname={}", path.display());
    let c = Cluster::with_tracker(&[&format!("--dsn={dsn}")], 2);
    let home = tempfile::tempdir().expect("home");
    three_replicated_files(&c, home.path(), &dsn);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let m = SqliteStore::open(&path).await.expect("open");
        m.enqueue_replication(999_999, ENDOFTIME, None)
            .await
            .expect("manual row");
        m.enqueue_replication(999_998, ENDOFTIME - 1, None)
            .await
            .expect("deferred row");
        m.enqueue_fsck(vec![999_997], ENDOFTIME)
            .await
            .expect("fsck row");
    });
    let text = check_tables(home.path(), &dsn);
    assert!(text.contains("\n  Max file id: 3\n"), "{text}");
}

#[test]
fn mogstats_tables_on_mariadb() {
    let Some(db) = TestDb::create("mogstats") else {
        return;
    };
    let c = Cluster::with_tracker(&[&format!("--dsn={}", db.url())], 2);
    let home = tempfile::tempdir().expect("home");
    three_replicated_files(&c, home.path(), db.url());
    db.sql_in(&format!(
        "INSERT INTO file_to_replicate (fid, nexttry) VALUES (999999, {ENDOFTIME}), (999998, {}); \
         INSERT INTO file_to_queue (fid, type, nexttry) VALUES (999997, 1, {ENDOFTIME}); \
         INSERT INTO file_to_delete2 (fid, nexttry) VALUES (999996, {ENDOFTIME})",
        ENDOFTIME - 1
    ))
    .expect("queue rows");
    let text = check_tables(home.path(), db.url());
    assert!(text.contains(
        "\nStatistics for delete queue...\n  status                      count\n  -------------------- ------------\n  manual                          1\n  -------------------- ------------\n"
    ), "{text}");
}
