//! The tracker on MariaDB (`DANGA_MYSQL_URL`): the same store flow, and a
//! file row written as MogileFS 2.73 would write it, served by get_paths.

use danga_testkit::TestDb;

use super::{call, get, ok, put, store, Cluster};

pub(super) fn dsn(db: &TestDb) -> String {
    // TestDb URLs are mysql://user[:pass]@host:port/name.
    format!("--dsn={}", db.url())
}

#[test]
fn mogilefs_mariadb_store_rename_delete() {
    let Some(db) = TestDb::create("mogilefs_flow") else {
        return;
    };
    let c = Cluster::with_tracker(&[&dsn(&db)], 2);
    let mut s = c.conn();
    let (_, path) = store(&mut s, "a b&c", b"hello");
    let r = ok(&call(&mut s, "get_paths domain=d&key=a+b%26c"));
    assert_eq!(r.get("path1"), Some(path.as_str()));
    assert_eq!(get(&path).1, b"hello");
    assert_eq!(
        call(&mut s, "rename domain=d&from_key=a+b%26c&to_key=Z"),
        "OK \r\n"
    );
    let r = ok(&call(&mut s, "list_keys domain=d"));
    assert_eq!((r.get("key_count"), r.get("key_1")), (Some("1"), Some("Z")));
    assert_eq!(call(&mut s, "delete domain=d&key=Z"), "OK \r\n");
    let gone = danga_testkit::wait_for(std::time::Duration::from_secs(10), || {
        !c.file_of(&path).exists()
    });
    assert!(gone, "{path} still on disk");
    // Then the queue row goes too.
    let forgotten = danga_testkit::wait_for(std::time::Duration::from_secs(10), || {
        db.sql_in("SELECT COUNT(*) FROM file_to_delete2")
            .is_ok_and(|n| n.trim() == "0")
    });
    assert!(forgotten, "file_to_delete2 not emptied");
}

#[test]
fn mogilefs_mariadb_serves_a_file_row_written_by_mogilefs_2_73() {
    let Some(db) = TestDb::create("mogilefs_legacy") else {
        return;
    };
    // The tracker creates the v17 tables; one storage node registers.
    let c = Cluster::with_tracker(&[&dsn(&db)], 1);
    let mut s = c.conn();
    let port = c.nodes[0].daemon.addr("http").port();
    // Rows as MogileFS 2.73 inserts them on create_close.
    db.sql_in(
        "INSERT INTO domain (dmid, namespace) VALUES (9, 'legacy'); \
         INSERT INTO file (fid, dmid, dkey, length, classid, devcount) \
             VALUES (123, 9, 'old/key', 4, 0, 1); \
         INSERT INTO file_on (fid, devid) VALUES (123, 1);",
    )
    .expect("insert as 2.73");
    let url = format!("http://127.0.0.1:{port}/dev1/0/000/000/0000000123.fid");
    put(&url, b"v2.7");
    let r = ok(&call(&mut s, "get_paths domain=legacy&key=old/key"));
    assert_eq!(r.get("paths"), Some("1"));
    assert_eq!(r.get("path1"), Some(url.as_str()));
    let info = ok(&call(&mut s, "file_info domain=legacy&key=old/key"));
    assert_eq!(
        (info.get("fid"), info.get("length")),
        (Some("123"), Some("4"))
    );
}

#[test]
fn mogilefs_mariadb_checksums_file_debug_list_fids_and_settings() {
    let Some(db) = TestDb::create("mogilefs_cmds") else {
        return;
    };
    let c = Cluster::with_tracker(&[&dsn(&db)], 2);
    super::commands::debugging(&c);
    super::commands::settings(&c);
    super::commands::checksums(&c);
    // The checksum row as 2.73 keeps it: hashtype 1, 16 raw bytes.
    let rows = db
        .sql_in("SELECT hashtype, LENGTH(checksum) FROM checksum")
        .expect("select");
    assert!(
        rows.lines()
            .all(|l| l.split_whitespace().collect::<Vec<_>>() == ["1", "16"]),
        "{rows}"
    );
    assert!(!rows.trim().is_empty());
}

#[test]
fn mogilefs_mariadb_replication_and_the_reaper() {
    let Some(db) = TestDb::create("mogilefs_repl") else {
        return;
    };
    let dsn = dsn(&db);
    let mut args = vec![dsn.as_str()];
    args.extend_from_slice(&super::replication::QUICK_REAPER);
    let c = Cluster::with_tracker(&args, 3);
    super::replication::dead_device(&c);
    let queued = db
        .sql_in("SELECT COUNT(*) FROM file_to_replicate")
        .expect("count");
    assert_eq!(queued.trim(), "0");
    let devcounts = db
        .sql_in("SELECT COUNT(*) FROM file WHERE devcount <> 2")
        .expect("count");
    assert_eq!(devcounts.trim(), "0");
}

#[test]
fn mogilefs_mariadb_two_trackers_share_one_database_and_queue() {
    let Some(db) = TestDb::create("mogilefs_two") else {
        return;
    };
    let dsn = dsn(&db);
    let c = Cluster::with_tracker(&[&dsn], 3);
    let second = danga_testkit::Daemon::start(
        "mogilefsd",
        &["-s", "-l", "127.0.0.1:0", "--monitor_interval=0.5", &dsn],
    );
    let mut a = c.conn();
    let mut b = crate::wire::connect(second.addr("mogilefsd"));
    let mut keys = Vec::new();
    for i in 0..10 {
        let data = format!("shared {i}").into_bytes();
        let s = if i % 2 == 0 { &mut a } else { &mut b };
        let key = format!("s{i}");
        let (r, _, _) = super::commands::store_with(s, &key, "c", &data, &[]);
        assert_eq!(r, "OK \r\n", "{key}");
        keys.push((key, data));
    }
    let settled = danga_testkit::wait_for(std::time::Duration::from_secs(20), || {
        db.sql_in("SELECT COUNT(*) FROM file_to_replicate")
            .is_ok_and(|n| n.trim() == "0")
            && db
                .sql_in("SELECT COUNT(*) FROM file WHERE devcount <> 2")
                .is_ok_and(|n| n.trim() == "0")
    });
    assert!(settled, "{:?}", db.sql_in("SELECT fid, devcount FROM file"));
    // Each copy is where file_on says, read through either tracker.
    for (i, (key, data)) in keys.iter().enumerate() {
        let s = if i % 2 == 0 { &mut b } else { &mut a };
        let r = ok(&call(
            s,
            &super::line("get_paths", &[("domain", "d"), ("key", key)]),
        ));
        assert_eq!(r.get("paths"), Some("2"), "{key}");
        for p in ["path1", "path2"] {
            assert_eq!(&get(r.get(p).expect("path")).1, data, "{key}");
        }
    }
}
