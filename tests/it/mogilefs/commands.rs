//! Checksums, file_debug, list_fids, server settings and sleep over the
//! raw protocol against the real binaries. [`checksums`], [`debugging`] and
//! [`settings`] also run on MariaDB (mariadb.rs).

use std::net::TcpStream;
use std::time::Duration;

use super::{admin, call, err, err_text, line, md5_hex, ok, put, store, Cluster};

/// create_open + PUT + create_close with `extra` close arguments; returns
/// the close reply, the fid and the path.
pub fn store_with(
    s: &mut TcpStream,
    key: &str,
    class: &str,
    data: &[u8],
    extra: &[(&str, &str)],
) -> (String, String, String) {
    let open = ok(&call(
        s,
        &line(
            "create_open",
            &[("domain", "d"), ("key", key), ("class", class)],
        ),
    ));
    let fid = open.get("fid").expect("fid").to_owned();
    let devid = open.get("devid").expect("devid").to_owned();
    let path = open.get("path").expect("path").to_owned();
    put(&path, data);
    let size = data.len().to_string();
    let mut args = vec![
        ("domain", "d"),
        ("key", key),
        ("fid", fid.as_str()),
        ("devid", devid.as_str()),
        ("path", path.as_str()),
        ("size", size.as_str()),
    ];
    args.extend_from_slice(extra);
    (call(s, &line("create_close", &args)), fid, path)
}

/// Checksums: stored when the class asks for MD5, verified on request
/// (side channel, or HTTP when the side channel is unreachable), refused
/// when wrong, shown by file_info and file_debug.
pub fn checksums(c: &Cluster) {
    let mut s = c.conn();
    assert!(call(
        &mut s,
        "create_class domain=d&class=md5&mindevcount=1&hashtype=MD5"
    )
    .starts_with("OK "));
    let data = b"checksummed content".to_vec();
    let good = format!("MD5:{}", md5_hex(&data));
    let bad = format!("MD5:{}", md5_hex(b"something else"));

    let (r, fid, _) = store_with(
        &mut s,
        "sum",
        "md5",
        &data,
        &[("checksum", &good), ("checksumverify", "1")],
    );
    assert_eq!(r, "OK \r\n");
    let info = ok(&call(&mut s, "file_info domain=d&key=sum"));
    assert_eq!(info.get("checksum"), Some(good.as_str()));
    let dbg = ok(&call(&mut s, &format!("file_debug fid={fid}")));
    assert_eq!(dbg.get("checksum"), Some(good.as_str()));

    // Wrong digest, verified: refused with the original's code and text.
    let (r, _, path) = store_with(
        &mut s,
        "badsum",
        "md5",
        &data,
        &[("checksum", &bad), ("checksumverify", "1")],
    );
    assert_eq!(err(&r), "checksum_mismatch", "{r}");
    let text = err_text(&r);
    assert!(
        text.starts_with(&format!("Expected: {bad}; actual: {good}; path: {path}")),
        "{text}"
    );
    assert_eq!(
        err(&call(&mut s, "get_paths domain=d&key=badsum")),
        "unknown_key"
    );
    // Not verified: the client's word is taken (the original's default).
    let (r, _, _) = store_with(&mut s, "trusted", "md5", &data, &[("checksum", &bad)]);
    assert_eq!(r, "OK \r\n");
    let (r, _, _) = store_with(&mut s, "fmt", "md5", &data, &[("checksum", "MD5:xyz")]);
    assert_eq!(err(&r), "invalid_checksum_format");
    let (r, _, _) = store_with(&mut s, "alg", "md5", &data, &[("checksum", "CRC:00")]);
    assert_eq!(err(&r), "invalid_checksum_format");

    // A class without a hashtype keeps no checksum, but still verifies.
    let (r, fid, _) = store_with(
        &mut s,
        "plain",
        "c",
        &data,
        &[("checksum", &good), ("checksumverify", "1")],
    );
    assert_eq!(r, "OK \r\n");
    let info = ok(&call(&mut s, "file_info domain=d&key=plain"));
    assert_eq!(info.get("checksum"), None);
    let dbg = ok(&call(&mut s, &format!("file_debug fid={fid}")));
    assert_eq!(dbg.get("checksum"), Some("NONE"));
    let (r, _, _) = store_with(
        &mut s,
        "plainbad",
        "c",
        &data,
        &[("checksum", &bad), ("checksumverify", "1")],
    );
    assert_eq!(err(&r), "checksum_mismatch");

    // Side channels unreachable: verified by reading the file over HTTP.
    let hosts = ok(&call(&mut s, "get_hosts"));
    let n: usize = hosts.get("hosts").expect("hosts").parse().expect("n");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_port = dead.local_addr().expect("addr").port();
    drop(dead);
    for i in 1..=n {
        let id = hosts.get(&format!("host{i}_hostid")).expect("hostid");
        let set = format!("set_server_setting key=mogstored_stream_port_{id}&value={dead_port}");
        assert_eq!(call(&mut s, &set), "OK \r\n");
    }
    let (r, _, _) = store_with(
        &mut s,
        "http",
        "md5",
        &data,
        &[("checksum", &good), ("checksumverify", "1")],
    );
    assert_eq!(r, "OK \r\n");
    let (r, _, _) = store_with(
        &mut s,
        "httpbad",
        "md5",
        &data,
        &[("checksum", &bad), ("checksumverify", "1")],
    );
    assert_eq!(err(&r), "checksum_mismatch");
}

/// file_debug (by fid and by key, tempfiles, unknown fids) and list_fids.
pub fn debugging(c: &Cluster) {
    let mut s = c.conn();
    let mut fids = Vec::new();
    for k in ["l/1", "l/2", "l/3"] {
        fids.push(store(&mut s, k, k.as_bytes()).0);
    }
    // Replication done (class c wants two copies): nothing queued.
    let settled = danga_testkit::wait_for(Duration::from_secs(15), || {
        let d = ok(&call(&mut s, "file_debug domain=d&key=l/2"));
        d.get("replqueue_fid").is_none() && d.get("fid_devcount") == Some("2")
    });
    let dbg = ok(&call(&mut s, "file_debug domain=d&key=l/2"));
    assert!(settled, "{dbg:?}");
    let fid = fids[1].to_string();
    assert_eq!(dbg.get("fid_fid"), Some(fid.as_str()));
    assert_eq!(dbg.get("fid_dkey"), Some("l/2"));
    assert_eq!(dbg.get("fid_domain"), Some("d"));
    assert_eq!(dbg.get("fid_class"), Some("c"));
    assert_eq!(dbg.get("fid_length"), Some("3"));
    assert_eq!(dbg.get("checksum"), Some("NONE"));
    let devids = dbg.get("devids").expect("devids").to_owned();
    assert_eq!(devids.split(',').count(), 2, "{dbg:?}");
    for devid in devids.split(',') {
        let url = dbg
            .get(&format!("devpath_{devid}"))
            .expect("devpath_N")
            .to_owned();
        assert_eq!(super::get(&url).1, b"l/2");
    }
    assert_eq!(ok(&call(&mut s, &format!("file_debug fid={fid}"))), dbg);
    assert_eq!(
        err(&call(&mut s, "file_debug domain=d&key=nope")),
        "unknown_key"
    );
    assert_eq!(err(&call(&mut s, "file_debug domain=d")), "no_key");
    assert_eq!(err(&call(&mut s, "file_debug fid=99999")), "unknown_fid");
    // An open, never closed file: its tempfile row.
    let open = ok(&call(&mut s, "create_open domain=d&key=pending&class=c"));
    let tfid = open.get("fid").expect("fid");
    let dbg = ok(&call(&mut s, &format!("file_debug fid={tfid}")));
    assert_eq!(dbg.get("tempfile_dkey"), Some("pending"));
    assert_eq!(dbg.get("tempfile_devids"), open.get("devid"));
    assert_eq!(dbg.get("fid_fid"), None);

    let r = ok(&call(&mut s, "list_fids"));
    assert_eq!(r.get("fid_count"), Some("3"));
    assert_eq!(r.get("fid_1_key"), Some("l/1"));
    assert_eq!(r.get("fid_3_length"), Some("3"));
    assert_eq!(r.get("fid_2_domain"), Some("d"));
    assert_eq!(r.get("fid_2_class"), Some("c"));
    let from = fids[0].to_string();
    let r = ok(&call(&mut s, &format!("list_fids from={from}&to=1")));
    assert_eq!(r.get("fid_count"), Some("1"));
    assert_eq!(r.get("fid_1_fid"), Some(fid.as_str()));
    let last = fids[2].to_string();
    let r = ok(&call(&mut s, &format!("list_fids from={last}")));
    assert_eq!(r.get("fid_count"), Some("0"));
}

/// server_setting(s) and set_server_setting with the original's checks.
pub fn settings(c: &Cluster) {
    let mut s = c.conn();
    for (req, code) in [
        ("set_server_setting value=1", "bad_params"),
        (
            "set_server_setting key=schema_version&value=18",
            "not_writable",
        ),
        (
            "set_server_setting key=enable_rebalance&value=maybe",
            "invalid_format",
        ),
        (
            "set_server_setting key=memcache_ttl&value=1h",
            "invalid_format",
        ),
        (
            "set_server_setting key=zone_x&value=300.1.1.1",
            "invalid_format",
        ),
        ("server_setting", "bad_params"),
    ] {
        assert_eq!(err(&call(&mut s, req)), code, "{req}");
    }
    for req in [
        "set_server_setting key=enable_rebalance&value=yes",
        "set_server_setting key=memcache_servers&value=127.0.0.1:11211",
        "set_server_setting key=slave_a&value=DBI:mysql:x",
        "set_server_setting key=zone_near&value=127.0.0.0/8",
    ] {
        assert_eq!(call(&mut s, req), "OK \r\n", "{req}");
    }
    let v = ok(&call(&mut s, "server_setting key=enable_rebalance"));
    assert_eq!(
        (v.get("key"), v.get("value")),
        (Some("enable_rebalance"), Some("1"))
    );
    let v = ok(&call(&mut s, "server_setting key=nothing"));
    assert_eq!(v.get("value"), Some(""));
    let all = ok(&call(&mut s, "server_settings"));
    let n: usize = all.get("key_count").expect("key_count").parse().expect("n");
    let map: std::collections::HashMap<&str, &str> = (1..=n)
        .map(|i| {
            (
                all.get(&format!("key_{i}")).expect("key"),
                all.get(&format!("value_{i}")).expect("value"),
            )
        })
        .collect();
    assert_eq!(map.get("schema_version"), Some(&"17"));
    assert_eq!(map.get("memcache_servers"), Some(&"127.0.0.1:11211"));
    assert_eq!(
        map.get("slave_version"),
        Some(&"1"),
        "slave_* bumps slave_version"
    );
    // A blank slave_* removes it (the original's del_if_blank).
    assert_eq!(
        call(&mut s, "set_server_setting key=slave_a&value="),
        "OK \r\n"
    );
    let v = ok(&call(&mut s, "server_setting key=slave_a"));
    assert_eq!(v.get("value"), Some(""));
    let v = ok(&call(&mut s, "server_setting key=slave_version"));
    assert_eq!(v.get("value"), Some("2"));
}

#[test]
fn mogilefs_checksums_stored_verified_and_refused() {
    checksums(&Cluster::start(2));
}

#[test]
fn mogilefs_file_debug_and_list_fids() {
    debugging(&Cluster::start(1));
}

#[test]
fn mogilefs_server_settings() {
    settings(&Cluster::start(1));
}

#[test]
// Blocking test code without a tokio runtime: std's clock.
#[allow(clippy::disallowed_types)]
fn mogilefs_sleep_holds_a_query_worker_and_queue_shows_the_waiting() {
    use std::time::Instant;
    let c = Cluster::with_tracker_on_sqlite(&["-w", "1"], 1);
    let mut sleeper = c.conn();
    let mut waiter = c.conn();
    let mut adm = c.conn();
    let t0 = Instant::now();
    use std::io::Write;
    sleeper.write_all(b"sleep duration=2\r\n").expect("write");
    std::thread::sleep(Duration::from_millis(300));
    waiter.write_all(b"noop callid=w\r\n").expect("write");
    let queued = danga_testkit::wait_for(Duration::from_secs(2), || {
        admin(&mut adm, "!queue")
            .iter()
            .any(|l| l == "127.0.0.1 noop callid=w")
    });
    assert!(queued, "!queue: {:?}", admin(&mut adm, "!queue"));
    let stats = admin(&mut adm, "!stats");
    assert!(stats.contains(&"pending_queries 1".to_owned()), "{stats:?}");
    assert!(
        stats.contains(&"processing_queries 1".to_owned()),
        "{stats:?}"
    );
    assert!(
        stats.contains(&"bored_queryworkers 0".to_owned()),
        "{stats:?}"
    );
    assert_eq!(crate::wire::read_until(&mut sleeper, b"\r\n"), "OK \r\n");
    assert!(t0.elapsed() >= Duration::from_secs(2));
    assert_eq!(
        crate::wire::read_until(&mut waiter, b"\r\n"),
        "OK callid=w\r\n"
    );
    let stats = admin(&mut adm, "!stats");
    assert!(
        stats
            .iter()
            .any(|l| l.starts_with("times_out_of_qworkers ")),
        "{stats:?}"
    );
    assert!(admin(&mut adm, "!queue").is_empty());
}
