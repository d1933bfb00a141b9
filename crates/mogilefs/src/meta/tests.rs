//! The store suite, run against every engine available.

use super::*;

async fn sqlite() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(&dir.path().join("m.sqlite3"))
        .await
        .expect("open");
    (dir, store)
}

fn temp(dmid: i64, key: &str) -> TempFile {
    TempFile {
        fid: 0,
        createtime: 0,
        classid: 0,
        dmid,
        dkey: key.into(),
        devids: "1,2".into(),
    }
}

async fn suite<M: MetaStore>(m: &M) {
    let dmid = m.create_domain("d").await.expect("db").expect("new");
    assert_eq!(m.create_domain("d").await.expect("db"), None);
    assert_eq!(m.domain("d").await.expect("db").map(|d| d.dmid), Some(dmid));
    let c = Class {
        dmid,
        classid: 0,
        classname: "c".into(),
        mindevcount: 2,
        replpolicy: None,
        hashtype: None,
    };
    assert_eq!(m.create_class(&c).await.expect("db"), Some(1));
    assert_eq!(m.create_class(&c).await.expect("db"), None);
    assert!(m
        .update_class(&Class {
            mindevcount: 3,
            ..c.clone()
        })
        .await
        .expect("db"));
    assert_eq!(m.classes(Some(dmid)).await.expect("db")[0].mindevcount, 3);

    let fid = m
        .create_tempfile(&temp(dmid, "k"), None)
        .await
        .expect("db")
        .expect("fid");
    assert_eq!(
        m.create_tempfile(&temp(dmid, "k"), Some(fid))
            .await
            .expect("db"),
        None
    );
    assert_eq!(
        m.close_file(fid, 5, &[1, 2]).await.expect("db"),
        Closed::Stored { replaced: None }
    );
    assert_eq!(
        m.close_file(fid, 5, &[1]).await.expect("db"),
        Closed::NoTempFile
    );
    assert_eq!(m.file_devids(fid).await.expect("db"), vec![1, 2]);
    let (row, on) = m
        .file_with_devids(dmid, "k")
        .await
        .expect("db")
        .expect("file");
    assert_eq!((row.fid, row.length, on), (fid, 5, vec![1, 2]));
    assert_eq!(m.file_with_devids(dmid, "nope").await.expect("db"), None);
    let fid2 = m
        .create_tempfile(&temp(dmid, "k"), None)
        .await
        .expect("db")
        .expect("fid");
    assert!(fid2 > fid);
    assert_eq!(
        m.close_file(fid2, 6, &[2]).await.expect("db"),
        Closed::Stored {
            replaced: Some(fid)
        }
    );
    assert_eq!(m.due_deletes(i64::MAX, 10).await.expect("db"), vec![fid]);
    m.finish_delete(fid).await.expect("db");
    assert!(m.due_deletes(i64::MAX, 10).await.expect("db").is_empty());
    assert!(m.file_devids(fid).await.expect("db").is_empty());

    for k in ["a/2", "a/1", "b", "a/3"] {
        let f = m
            .create_tempfile(&temp(dmid, k), None)
            .await
            .expect("db")
            .expect("fid");
        m.close_file(f, 0, &[1]).await.expect("db");
    }
    assert_eq!(
        m.list_keys(dmid, "a/", None, 10).await.expect("db"),
        ["a/1", "a/2", "a/3"]
    );
    assert_eq!(
        m.list_keys(dmid, "a/", Some("a/1"), 1).await.expect("db"),
        ["a/2"]
    );
    assert_eq!(
        m.rename(dmid, "a/1", "b").await.expect("db"),
        Renamed::KeyExists
    );
    assert_eq!(
        m.rename(dmid, "zz", "y").await.expect("db"),
        Renamed::UnknownKey
    );
    assert_eq!(m.rename(dmid, "a/1", "y").await.expect("db"), Renamed::Done);
    assert_eq!(
        m.file(dmid, "y").await.expect("db").map(|f| f.length),
        Some(0)
    );
    assert!(m.delete_file(dmid, "y").await.expect("db").is_some());
    assert_eq!(m.delete_file(dmid, "y").await.expect("db"), None);
    assert_eq!(m.count_files(dmid, None).await.expect("db"), 4);

    let open = m
        .create_tempfile(&temp(dmid, "never closed"), None)
        .await
        .expect("db")
        .expect("fid");
    assert!(m.expire_tempfiles(0, 10).await.expect("db").is_empty());
    let stale = m.expire_tempfiles(i64::MAX, 10).await.expect("db");
    assert_eq!(
        (stale.len(), stale[0].fid, stale[0].devids.as_str()),
        (1, open, "1,2")
    );
    assert_eq!(m.tempfile(open).await.expect("db"), None);
    let b = m.file(dmid, "b").await.expect("db").expect("b");
    m.set_file_class(b.fid, 1).await.expect("db");
    assert_eq!(
        m.file(dmid, "b").await.expect("db").map(|f| f.classid),
        Some(1)
    );

    let h = Host {
        hostid: 0,
        status: "alive".into(),
        hostname: "h1".into(),
        hostip: "127.0.0.1".into(),
        http_port: 7500,
        http_get_port: None,
        altip: None,
        altmask: None,
    };
    let h1 = m.create_host(&h).await.expect("db");
    let h2 = m
        .create_host(&Host {
            hostname: "h2".into(),
            http_port: 7600,
            ..h.clone()
        })
        .await
        .expect("db");
    assert_ne!(h1, h2, "two hosts on one IP");
    assert!(is_unique_violation(
        &m.create_host(&h).await.expect_err("dup name")
    ));
    let d = Device {
        devid: 1,
        hostid: h1,
        status: "alive".into(),
        weight: 100,
        mb_total: None,
        mb_used: None,
        mb_asof: None,
    };
    assert!(m.create_device(&d).await.expect("db"));
    assert!(!m.create_device(&d).await.expect("db"));
    m.set_device(1, Some("drain"), None).await.expect("db");
    m.set_device(1, None, Some(50)).await.expect("db");
    let devs = m.devices().await.expect("db");
    assert_eq!((devs[0].status.as_str(), devs[0].weight), ("drain", 50));
    admin(m, dmid).await;
}

/// Settings, usage, checksums and the debugging rows.
async fn admin<M: MetaStore>(m: &M, dmid: i64) {
    m.set_server_setting("enable_rebalance", Some("1"))
        .await
        .expect("db");
    m.set_server_setting("enable_rebalance", Some("0"))
        .await
        .expect("db");
    m.incr_server_setting("slave_version", 1).await.expect("db");
    m.incr_server_setting("slave_version", 2).await.expect("db");
    assert_eq!(
        m.server_setting("slave_version")
            .await
            .expect("db")
            .as_deref(),
        Some("3")
    );
    let all = m.server_settings().await.expect("db");
    let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["enable_rebalance", "schema_version", "slave_version"]
    );
    m.set_server_setting("enable_rebalance", None)
        .await
        .expect("db");
    assert_eq!(
        m.server_setting("enable_rebalance").await.expect("db"),
        None
    );

    m.set_device_usage(1, 1000, 250, 77).await.expect("db");
    let d = &m.devices().await.expect("db")[0];
    assert_eq!(
        (d.mb_total, d.mb_used, d.mb_asof),
        (Some(1000), Some(250), Some(77))
    );

    let b = m.file(dmid, "b").await.expect("db").expect("b");
    let sum = Checksum {
        fid: b.fid,
        hashtype: 1,
        checksum: vec![0, 0xff, 0x10, 0x80],
    };
    m.set_checksum(&sum).await.expect("db");
    assert_eq!(m.checksum(b.fid).await.expect("db"), Some(sum));
    assert_eq!(
        m.file_by_fid(b.fid).await.expect("db").map(|f| f.dkey),
        Some("b".into())
    );
    let fids = m.list_fids(0, 2).await.expect("db");
    assert_eq!(fids.len(), 2);
    assert!(fids[0].fid < fids[1].fid);
    let rest = m.list_fids(fids[1].fid, 100).await.expect("db");
    assert!(rest.iter().all(|f| f.fid > fids[1].fid));
    assert_eq!(m.repl_row(b.fid).await.expect("db"), None);
    assert_eq!(m.delete_row(b.fid).await.expect("db"), None);
    assert_eq!(m.queue_row(b.fid, 1).await.expect("db"), None);

    m.enqueue_replication(b.fid, 100, Some(1))
        .await
        .expect("db");
    m.enqueue_replication(b.fid, 5, None).await.expect("db");
    assert_eq!(m.count_replications().await.expect("db"), 1);
    assert!(m.due_replications(99, 10).await.expect("db").is_empty());
    let due = m.due_replications(100, 10).await.expect("db");
    assert_eq!(
        (due[0].fid, due[0].fromdevid, due[0].failcount),
        (b.fid, Some(1), 0)
    );
    m.retry_replication(b.fid, 500).await.expect("db");
    assert_eq!(m.replicate_now(200).await.expect("db"), 1);
    let due = m.due_replications(200, 10).await.expect("db");
    assert_eq!((due[0].nexttry, due[0].failcount), (200, 1));
    assert_eq!(m.repl_row(b.fid).await.expect("db"), Some(due[0].clone()));
    assert!(m.claim_replication(b.fid, 200, 900).await.expect("db"));
    assert!(!m.claim_replication(b.fid, 200, 900).await.expect("db"));
    assert!(m.due_replications(200, 10).await.expect("db").is_empty());
    m.finish_replication(b.fid).await.expect("db");
    assert_eq!(m.count_replications().await.expect("db"), 0);

    assert!(m.add_replica(b.fid, 7).await.expect("db"));
    assert!(m.add_replica(b.fid, 7).await.expect("db"));
    assert!(!m.add_replica(999_999, 7).await.expect("db"));
    assert!(m
        .fids_on_device(7, 10)
        .await
        .expect("db")
        .iter()
        .all(|&f| f != 999_999));
    assert_eq!(m.file_devids(b.fid).await.expect("db"), vec![1, 7]);
    assert_eq!(
        m.file_by_fid(b.fid).await.expect("db").map(|f| f.devcount),
        Some(2)
    );
    assert_eq!(m.fids_on_device(7, 10).await.expect("db"), vec![b.fid]);
    m.remove_replica(b.fid, 1).await.expect("db");
    assert_eq!(
        m.file_by_fid(b.fid).await.expect("db").map(|f| f.devcount),
        Some(1)
    );
    assert!(m
        .fids_on_device(1, 10)
        .await
        .expect("db")
        .iter()
        .all(|&f| f != b.fid));
}

/// fsck's log and counters, and the `default` class row (classid 0).
async fn fsck_and_default_class<M: MetaStore>(m: &M) {
    let dmid = m.create_domain("fsckd").await.expect("db").expect("new");
    let default = Class {
        dmid,
        classid: 0,
        classname: DEFAULT_CLASS.into(),
        mindevcount: 3,
        replpolicy: None,
        hashtype: None,
    };
    assert_eq!(m.create_class(&default).await.expect("db"), Some(0));
    let other = Class {
        classname: "x".into(),
        ..default.clone()
    };
    assert_eq!(m.create_class(&other).await.expect("db"), Some(1));
    m.delete_domain(dmid).await.expect("db");
    assert!(
        m.classes(Some(dmid)).await.expect("db").is_empty(),
        "class rows go with their domain"
    );

    m.clear_fsck_log().await.expect("db");
    assert_eq!(m.max_fsck_logid().await.expect("db"), 0);
    m.add_fsck_event(10, Some(5), "MISS", Some(2))
        .await
        .expect("db");
    m.add_fsck_event(11, Some(5), "REPL", None)
        .await
        .expect("db");
    m.add_fsck_event(12, None, "MISS", Some(3))
        .await
        .expect("db");
    let all = m.fsck_events(0, 100).await.expect("db");
    assert_eq!(all.len(), 3);
    assert_eq!(
        (all[0].fid, all[0].evcode.as_str(), all[0].devid),
        (Some(5), "MISS", Some(2))
    );
    assert_eq!((all[2].fid, all[2].devid), (None, Some(3)));
    let first = all[0].logid;
    assert_eq!(m.fsck_events(first, 1).await.expect("db").len(), 1);
    assert_eq!(
        m.fsck_event_counts(first).await.expect("db"),
        [("MISS".to_owned(), 1), ("REPL".to_owned(), 1)]
    );
    assert_eq!(m.max_fsck_logid().await.expect("db"), all[2].logid);
    m.clear_fsck_log().await.expect("db");
    assert!(m.fsck_events(0, 100).await.expect("db").is_empty());
    assert!(m.max_fid().await.expect("db") >= 0);
    fsck_queue(m).await;
}

/// The fsck queue: fids between two bounds, queued once, taken with a
/// lease, removed when checked.
async fn fsck_queue<M: MetaStore>(m: &M) {
    let max = m.max_fid().await.expect("db");
    let listed: Vec<i64> = m
        .list_fids(0, 1000)
        .await
        .expect("db")
        .iter()
        .map(|f| f.fid)
        .collect();
    assert_eq!(m.fids_between(0, max, 1000).await.expect("db"), listed);
    if let Some(&first) = listed.first() {
        assert_eq!(m.fids_between(0, max, 1).await.expect("db"), [first]);
        assert!(m
            .fids_between(first, first, 10)
            .await
            .expect("db")
            .is_empty());
    }

    assert_eq!(m.fsck_queue_len().await.expect("db"), 0);
    m.enqueue_fsck(vec![901, 902, 903], 100).await.expect("db");
    // Queued already: the row (and its nexttry) stays.
    m.enqueue_fsck(vec![902], 500).await.expect("db");
    m.enqueue_fsck(Vec::new(), 100).await.expect("db");
    assert_eq!(m.fsck_queue_len().await.expect("db"), 3);
    let row = m
        .queue_row(902, FSCK_QUEUE)
        .await
        .expect("db")
        .expect("row");
    assert_eq!((row.nexttry, row.qtype), (100, FSCK_QUEUE));
    assert!(m.due_fsck(99, 10).await.expect("db").is_empty());
    let due = m.due_fsck(100, 2).await.expect("db");
    assert_eq!(due, [(901, 100), (902, 100)]);
    assert!(m.claim_fsck(901, 100, 1100).await.expect("db"));
    // Taken by someone else meanwhile.
    assert!(!m.claim_fsck(901, 100, 1100).await.expect("db"));
    assert_eq!(
        m.due_fsck(200, 10).await.expect("db"),
        [(902, 100), (903, 100)]
    );
    m.finish_fsck(902).await.expect("db");
    assert_eq!(m.fsck_queue_len().await.expect("db"), 2);
    assert_eq!(
        m.due_fsck(2000, 10).await.expect("db"),
        [(903, 100), (901, 1100)]
    );
    m.finish_fsck(901).await.expect("db");
    m.finish_fsck(903).await.expect("db");
    assert_eq!(m.fsck_queue_len().await.expect("db"), 0);
}

#[tokio::test]
async fn sqlite_suite() {
    let (_dir, m) = sqlite().await;
    suite(&m).await;
    fsck_and_default_class(&m).await;
}

/// A taken unique key is a [`MetaError::Duplicate`] on every engine (the
/// tracker answers `host_exists` to it).
async fn duplicates<M: MetaStore>(m: &M) {
    let h = Host {
        hostid: 0,
        status: "alive".into(),
        hostname: "dup".into(),
        hostip: "10.0.0.1".into(),
        http_port: 7500,
        http_get_port: None,
        altip: None,
        altmask: None,
    };
    m.create_host(&h).await.expect("first");
    let e = m.create_host(&h).await.expect_err("same name");
    assert!(matches!(e, MetaError::Duplicate(_)), "{e:?}");
    assert!(is_unique_violation(&e));
    assert!(!e.is_retryable());
    assert_eq!(m.hosts().await.expect("db").len(), 1);
}

#[tokio::test]
async fn sqlite_duplicates() {
    let (_dir, m) = sqlite().await;
    duplicates(&m).await;
}

#[tokio::test]
async fn sqlite_schema_is_v17_and_reopens() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("m.sqlite3");
    let m = SqliteStore::open(&path).await.expect("open");
    m.create_domain("d").await.expect("db");
    drop(m);
    let m = SqliteStore::open(&path).await.expect("reopen");
    assert_eq!(m.domains().await.expect("db").len(), 1);
    let v: String = m
        .read(|c| {
            c.query_row(
                "SELECT value FROM server_settings WHERE field = 'schema_version'",
                [],
                |r| r.get(0),
            )
        })
        .await
        .expect("version");
    assert_eq!(v, "17");
}

/// A fresh MariaDB database (`DANGA_MYSQL_URL`), or `None` when skipped.
async fn mariadb(label: &str) -> Option<(danga_testkit::TestDb, MysqlStore)> {
    let db = danga_testkit::TestDb::create(label)?;
    let Ok(Dsn::Mysql {
        database,
        host,
        port,
        ..
    }) = Dsn::parse(db.url())
    else {
        panic!("not a mysql URL: {}", db.url());
    };
    let settings = MysqlSettings {
        host,
        port,
        database,
        user: "root".into(),
        password: String::new(),
    };
    let store = MysqlStore::open(&settings).await.expect("open mariadb");
    Some((db, store))
}

#[tokio::test]
async fn mariadb_suite() {
    let Some((_db, m)) = mariadb("meta_suite").await else {
        return;
    };
    suite(&m).await;
    fsck_and_default_class(&m).await;
}

#[tokio::test]
async fn mariadb_duplicates() {
    let Some((_db, m)) = mariadb("meta_dup").await else {
        return;
    };
    duplicates(&m).await;
}

#[tokio::test]
async fn mariadb_reads_a_file_row_written_as_mogilefs_2_73_would() {
    let Some((db, m)) = mariadb("meta_v17").await else {
        return;
    };
    db.sql_in(
        "INSERT INTO domain VALUES (3, 'old'); \
         INSERT INTO file VALUES (4000000000, 3, 'legacy', 12, 0, 1); \
         INSERT INTO file_on VALUES (4000000000, 7);",
    )
    .expect("insert as 2.73");
    let d = m.domain("old").await.expect("db").expect("domain");
    let f = m.file(d.dmid, "legacy").await.expect("db").expect("file");
    assert_eq!((f.fid, f.length, f.devcount), (4_000_000_000, 12, 1));
    assert_eq!(m.file_devids(f.fid).await.expect("db"), vec![7]);
    let (row, on) = m
        .file_with_devids(d.dmid, "legacy")
        .await
        .expect("db")
        .expect("file");
    assert_eq!((row.fid, on), (4_000_000_000, vec![7]));
    assert_eq!(
        m.list_keys(d.dmid, "LEG", None, 10).await.expect("db"),
        Vec::<String>::new()
    );
}
