//! Commands against an SQLite store, without storage nodes.

use super::*;
use crate::meta::{Files, SqliteStore};

async fn tracker() -> (tempfile::TempDir, Arc<Tracker<SqliteStore>>) {
    let dir = tempfile::tempdir().expect("dir");
    let meta = SqliteStore::open(&dir.path().join("t.sqlite3"))
        .await
        .expect("open");
    (dir, Tracker::new(meta, Settings::default()))
}

async fn say(t: &Tracker<SqliteStore>, line: &str) -> String {
    t.answer(line.as_bytes(), &mut Session::new("127.0.0.1"))
        .await
        .unwrap_or_default()
}

#[tokio::test]
async fn domains_classes_and_errors() {
    let (_d, t) = tracker().await;
    assert_eq!(say(&t, "noop").await, "OK \r\n");
    assert_eq!(say(&t, "NOOP callid=5").await, "OK callid=5\r\n");
    assert_eq!(say(&t, "").await, "");
    assert_eq!(say(&t, "!version").await, "2.73\r\n.\r\n");
    assert_eq!(
        say(&t, "stats").await,
        "ERR unknown_command Unknown+server+command\r\n"
    );
    assert_eq!(say(&t, "create_domain domain=d").await, "OK domain=d\r\n");
    assert!(say(&t, "create_domain domain=d")
        .await
        .starts_with("ERR domain_exists "));
    assert!(say(&t, "create_domain").await.starts_with("ERR no_domain "));
    assert_eq!(
        say(&t, "create_class domain=d&class=c&mindevcount=2").await,
        "OK class=c&mindevcount=2&domain=d\r\n"
    );
    for (line, code) in [
        (
            "create_class domain=d&class=c&mindevcount=2",
            "class_exists",
        ),
        (
            "create_class domain=d&class=e&mindevcount=0",
            "invalid_mindevcount",
        ),
        (
            "create_class domain=d&class=e&mindevcount=1&replpolicy=X",
            "invalid_replpolicy",
        ),
        (
            "create_class domain=d&class=e&mindevcount=1&hashtype=CRC",
            "invalid_hashtype",
        ),
        (
            "create_class domain=x&class=e&mindevcount=1",
            "domain_not_found",
        ),
        (
            "update_class domain=d&class=zz&mindevcount=1",
            "class_not_found",
        ),
        ("delete_class domain=d&class=default", "nodel_default_class"),
        ("delete_domain domain=d", "domain_has_classes"),
        ("delete_domain domain=nope", "domain_not_found"),
        ("create_open domain=d&key=k", "no_devices"),
        ("create_open domain=nope&key=k", "unreg_domain"),
        ("create_open domain=d&key=k&class=nope", "unreg_class"),
        ("get_paths domain=d&key=k", "unknown_key"),
        ("get_paths domain=d", "no_key"),
        ("delete domain=d&key=k", "unknown_key"),
        ("rename domain=d&from_key=a&to_key=b", "unknown_key"),
        ("list_keys domain=d", "none_match"),
        ("list_keys domain=d&prefix=a&after=b", "after_mismatch"),
        (
            "create_close domain=d&key=k&fid=1&devid=1&path=x",
            "no_temp_file",
        ),
        ("create_close domain=d&key=k&devid=1&path=x", "no_fid"),
    ] {
        let got = say(&t, line).await;
        assert!(got.starts_with(&format!("ERR {code} ")), "{line}: {got}");
    }
    assert!(say(&t, "update_class domain=d&class=c&mindevcount=3")
        .await
        .starts_with("OK "));
    let doms = say(&t, "get_domains").await;
    assert!(doms.contains("domain1class2mindevcount=3"), "{doms}");
    assert!(doms.contains("domain1class1name=default"), "{doms}");
    assert!(say(&t, "delete_class domain=d&class=c")
        .await
        .starts_with("OK "));
    assert!(say(&t, "delete_domain domain=d").await.starts_with("OK "));
}

#[tokio::test]
async fn hosts_and_devices() {
    let (_d, t) = tracker().await;
    assert_eq!(
        say(&t, "create_host host=a&ip=127.0.0.1&port=7500&status=alive").await,
        "OK hostid=1&hostname=a\r\n"
    );
    assert_eq!(
        say(&t, "create_host host=b&ip=127.0.0.1&port=7600").await,
        "OK hostid=2&hostname=b\r\n"
    );
    for (line, code) in [
        ("create_host host=a&ip=127.0.0.1&port=1", "host_exists"),
        ("create_host host=c&port=1", "no_ip"),
        ("create_host host=c&ip=1.2.3.4", "no_port"),
        (
            "create_host host=c&ip=1.2.3.4&port=1&status=x",
            "unknown_state",
        ),
        ("update_host host=zz&port=1", "host_not_found"),
        ("create_device hostname=a&devid=x", "invalid_devid"),
        ("create_device hostname=zz&devid=1", "unknown_host"),
        ("create_device hostid=9&devid=1", "unknown_hostid"),
        ("create_device hostname=a&devid=1&state=x", "invalid_state"),
    ] {
        let got = say(&t, line).await;
        assert!(got.starts_with(&format!("ERR {code} ")), "{line}: {got}");
    }
    assert_eq!(say(&t, "create_device hostname=a&devid=1").await, "OK \r\n");
    assert!(say(&t, "create_device hostid=2&devid=1")
        .await
        .starts_with("ERR existing_devid "));
    assert!(say(&t, "delete_host host=a")
        .await
        .starts_with("ERR host_not_empty "));
    assert!(say(&t, "set_state host=b&device=1&state=down")
        .await
        .starts_with("ERR host_mismatch "));
    assert!(say(&t, "set_state host=a&device=9&state=down")
        .await
        .starts_with("ERR no_device "));
    assert_eq!(
        say(&t, "set_state host=a&device=1&state=dead").await,
        "OK \r\n"
    );
    assert!(say(&t, "set_state host=a&device=1&state=alive")
        .await
        .starts_with("ERR state_too_high "));
    assert_eq!(
        say(&t, "set_weight host=a&device=1&weight=7").await,
        "OK \r\n"
    );
    assert!(say(&t, "set_weight host=a&device=1&weight=x")
        .await
        .starts_with("ERR bad_params "));
    let devs = say(&t, "get_devices").await;
    assert!(
        devs.contains("dev1_status=dead") && devs.contains("dev1_weight=7"),
        "{devs}"
    );
    assert!(say(&t, "update_host host=b&status=alive")
        .await
        .starts_with("OK "));
    let hosts = say(&t, "get_hosts hostid=2").await;
    assert!(
        hosts.contains("hosts=1") && hosts.contains("host1_status=alive"),
        "{hosts}"
    );
    assert!(say(&t, "delete_host host=b").await.starts_with("OK "));
    assert!(say(&t, "delete_host host=b")
        .await
        .starts_with("ERR unknown_host "));
}

#[tokio::test]
async fn open_picks_one_device_per_host() {
    let (_d, t) = tracker().await;
    say(&t, "create_domain domain=d").await;
    for (h, port) in [("a", 7500), ("b", 7600)] {
        say(
            &t,
            &format!("create_host host={h}&ip=127.0.0.1&port={port}&status=alive"),
        )
        .await;
    }
    for (dev, h) in [(1, "a"), (2, "a"), (3, "b")] {
        say(&t, &format!("create_device hostname={h}&devid={dev}")).await;
    }
    let r = say(&t, "create_open domain=d&key=k&multi_dest=1").await;
    assert!(r.starts_with("OK fid=1&dev_count=2&"), "{r}");
    assert!(r.contains("dev3/0/000/000/0000000001.fid"), "{r}");
    let r = say(&t, "create_open domain=d&key=k&fid=1").await;
    assert!(r.starts_with("ERR fid_in_use "), "{r}");
    let r = say(&t, "create_open domain=d&key=k").await;
    assert!(
        r.starts_with("OK fid=2&devid=") && r.contains("&path=http://127.0.0.1:"),
        "{r}"
    );
    let r = say(
        &t,
        "create_close domain=d&key=k&fid=2&devid=3&path=http://elsewhere/x",
    )
    .await;
    assert!(r.starts_with("ERR "), "{r}");
}

#[tokio::test]
async fn abandoned_tempfiles_expire_and_updateclass() {
    let dir = tempfile::tempdir().expect("dir");
    let meta = SqliteStore::open(&dir.path().join("t.sqlite3"))
        .await
        .expect("open");
    let settings = Settings {
        tempfile_max_age: Duration::ZERO,
        node_timeout: Duration::from_millis(200),
        ..Settings::default()
    };
    let t = Tracker::new(meta, settings);
    say(&t, "create_domain domain=d").await;
    // Port 1: nothing listens, the cleanup's DELETE fails fast.
    say(&t, "create_host host=a&ip=127.0.0.1&port=1&status=alive").await;
    say(&t, "create_device hostname=a&devid=1").await;
    let r = say(&t, "create_open domain=d&key=k").await;
    assert!(r.starts_with("OK fid=1&"), "{r}");
    assert_eq!(t.expire_tempfiles().await.expect("expire"), 1);
    assert_eq!(t.expire_tempfiles().await.expect("expire"), 0);
    let path = "http://127.0.0.1:1/dev1/0/000/000/0000000001.fid";
    let r = say(
        &t,
        &format!("create_close domain=d&key=k&fid=1&devid=1&path={path}"),
    )
    .await;
    assert!(r.starts_with("ERR no_temp_file "), "{r}");

    // updateclass on a file stored without storage nodes (row by row).
    say(&t, "create_class domain=d&class=c&mindevcount=1").await;
    let temp = crate::meta::TempFile {
        fid: 0,
        createtime: 0,
        classid: 0,
        dmid: 1,
        dkey: "f".into(),
        devids: "1".into(),
    };
    let fid = t
        .meta()
        .create_tempfile(&temp, None)
        .await
        .expect("db")
        .expect("fid");
    t.meta().close_file(fid, 1, &[1]).await.expect("db");
    for (line, code) in [
        ("updateclass domain=d&class=c", "no_key"),
        ("updateclass domain=d&key=f", "no_class"),
        ("updateclass domain=d&key=f&class=zz", "class_not_found"),
        ("updateclass domain=d&key=nope&class=c", "invalid_key"),
    ] {
        let got = say(&t, line).await;
        assert!(got.starts_with(&format!("ERR {code} ")), "{line}: {got}");
    }
    assert_eq!(
        say(&t, "updateclass domain=d&key=f&class=c").await,
        "OK \r\n"
    );
    let info = say(&t, "file_info domain=d&key=f").await;
    assert!(info.contains("class=c&"), "{info}");
}

/// With a bad argument and a failed lookup in one request, the error the
/// original gives first comes first: some argument errors are found while
/// decoding, others (typed `proto::Arg` fields) once the lookup is made.
#[tokio::test]
async fn argument_and_lookup_errors_keep_their_order() {
    let (_d, t) = tracker().await;
    say(&t, "create_domain domain=d").await;
    say(&t, "create_host host=a&ip=127.0.0.1&port=7500&status=alive").await;
    say(&t, "create_device hostname=a&devid=1").await;
    let md5 = "MD5:0123456789abcdef0123456789abcdef";
    for (line, code) in [
        // The domain's lookup, then the key.
        ("get_paths domain=nope", "unreg_domain"),
        ("get_paths domain=d", "no_key"),
        ("delete domain=nope", "unreg_domain"),
        ("file_info domain=nope", "unreg_domain"),
        ("file_debug domain=nope", "unreg_domain"),
        ("file_debug domain=d", "no_key"),
        ("rename domain=nope&to_key=b", "unreg_domain"),
        ("rename domain=d&to_key=b", "no_key"),
        ("updateclass domain=nope", "unreg_domain"),
        ("list_keys domain=nope&prefix=a&after=b", "unreg_domain"),
        ("list_keys domain=d&prefix=a&after=b", "after_mismatch"),
        // A missing domain before anything looked up.
        ("get_paths key=k", "no_domain"),
        ("create_close fid=1&devid=1&path=x", "no_domain"),
        // create_close: the domain, then the checksum's format, then the
        // tempfile, then the size.
        (
            "create_close fid=1&devid=1&path=x&domain=nope&checksum=MD5:00",
            "unreg_domain",
        ),
        (
            "create_close fid=1&devid=1&path=x&domain=d&checksum=MD5:00",
            "invalid_checksum_format",
        ),
        (
            &format!("create_close fid=1&devid=1&path=x&domain=d&checksum={md5}&size=x"),
            "no_temp_file",
        ),
        // create_class: the domain's lookup before the values' checks.
        (
            "create_class domain=nope&class=c&mindevcount=0",
            "domain_not_found",
        ),
        (
            "create_class domain=d&class=c&mindevcount=1&replpolicy=X&hashtype=CRC",
            "invalid_replpolicy",
        ),
        (
            "create_class domain=d&class=c&mindevcount=1&hashtype=CRC&durable=x",
            "invalid_hashtype",
        ),
        (
            "create_class domain=d&class=c&mindevcount=1&durable=2",
            "invalid_durable",
        ),
        // Hosts: the state before the name's clash, the name's clash
        // before the address.
        ("create_host host=a&status=x", "unknown_state"),
        ("create_host host=a&port=x", "host_exists"),
        ("update_host host=zz&port=x", "host_not_found"),
        ("update_host host=a&port=x", "no_port"),
        // Devices: the device and its host before the new state or weight.
        ("set_state host=a&device=9", "no_device"),
        ("set_state host=b&device=1&state=x", "host_mismatch"),
        ("set_state host=a&device=1", "bad_params"),
        ("set_state host=a&device=1&state=x", "invalid_state"),
        ("set_weight host=a&device=9&weight=-1", "no_device"),
        ("set_weight host=a&device=1&weight=-1", "bad_params"),
        ("create_device devid=2", "unknown_hostid"),
        ("httpcopy fid=1", "copy_err"),
    ] {
        let got = say(&t, line).await;
        assert!(got.starts_with(&format!("ERR {code} ")), "{line}: {got}");
    }
    assert_eq!(
        say(&t, "httpcopy fid=1&callid=4").await,
        "ERR copy_err sdevid,+ddevid+and+fid+are+required 4\r\n"
    );
    assert_eq!(
        say(&t, "test crash=1").await,
        "ERR failure Crashed+on+purpose\r\n"
    );
}
