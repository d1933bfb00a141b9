//! Storing, finding, renaming, listing and deleting over the raw protocol.

use std::time::Duration;

use danga_testkit::wait_for;

use super::{call, err, get, line, ok, put, store, Cluster};

#[test]
fn mogilefs_store_get_paths_and_layout() {
    let c = Cluster::start(3);
    let mut s = c.conn();
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let (fid, path) = store(&mut s, "k1", &data);
    assert!(
        path.ends_with(&format!("/0/000/000/{fid:010}.fid")),
        "{path}"
    );
    // The copy written, and once replicated (class c: two), the other one:
    // same layout under another device, same bytes.
    let two = danga_testkit::wait_for(Duration::from_secs(15), || {
        ok(&call(&mut s, "get_paths domain=d&key=k1&noverify=1")).get("paths") == Some("2")
    });
    assert!(two, "not replicated");
    let r = ok(&call(&mut s, "get_paths domain=d&key=k1&noverify=1"));
    let urls = [
        r.get("path1").expect("path1"),
        r.get("path2").expect("path2"),
    ];
    assert!(urls.contains(&path.as_str()), "{urls:?}");
    for p in urls {
        assert!(p.ends_with(&format!("/0/000/000/{fid:010}.fid")), "{p}");
        assert_eq!(get(p), (200, data.clone()));
        assert_eq!(std::fs::read(c.file_of(p)).expect("on disk"), data);
    }
    let info = ok(&call(&mut s, "file_info domain=d&key=k1&devices=1"));
    assert_eq!(info.get("length"), Some("5000"));
    assert_eq!(info.get("class"), Some("c"));
    assert_eq!(info.get("fid"), Some(fid.to_string().as_str()));
}

#[test]
fn mogilefs_multi_dest_uses_one_device_per_host() {
    let c = Cluster::start(3);
    let mut s = c.conn();
    let r = ok(&call(&mut s, "create_open domain=d&key=m&multi_dest=1"));
    assert_eq!(r.get("dev_count"), Some("3"));
    let mut ports: Vec<&str> = (1..=3)
        .map(|i| r.get(&format!("path_{i}")).expect("path_N"))
        .map(|p| p.split('/').nth(2).expect("host:port"))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3, "three hosts on one IP");
}

#[test]
fn mogilefs_create_close_refusals() {
    let c = Cluster::start(2);
    let mut s = c.conn();
    let open = ok(&call(&mut s, "create_open domain=d&key=x"));
    let (fid, devid, path) = (
        open.get("fid").expect("fid").to_owned(),
        open.get("devid").expect("devid").to_owned(),
        open.get("path").expect("path").to_owned(),
    );
    let close = |size: &str, p: &str| {
        line(
            "create_close",
            &[
                ("domain", "d"),
                ("key", "x"),
                ("fid", &fid),
                ("devid", &devid),
                ("path", p),
                ("size", size),
            ],
        )
    };
    // Nothing uploaded yet.
    assert_eq!(err(&call(&mut s, &close("3", &path))), "size_verify_error");
    put(&path, b"abc");
    assert_eq!(err(&call(&mut s, &close("4", &path))), "size_mismatch");
    let foreign = format!("{path}.other");
    assert_eq!(err(&call(&mut s, &close("3", &foreign))), "bogus_args");
    assert_eq!(call(&mut s, &close("3", &path)), "OK \r\n");
    assert_eq!(err(&call(&mut s, &close("3", &path))), "no_temp_file");
    // Stored (and soon replicated: one path or two).
    let r = ok(&call(&mut s, "get_paths domain=d&key=x"));
    assert!(matches!(r.get("paths"), Some("1" | "2")), "{r:?}");
    assert_eq!(get(r.get("path1").expect("path1")).1, b"abc");
}

#[test]
fn mogilefs_overwrite_gives_a_new_fid_and_deletes_the_old_file() {
    let c = Cluster::start(2);
    let mut s = c.conn();
    let (old, old_path) = store(&mut s, "same", b"first");
    let (new, _) = store(&mut s, "same", b"second!");
    assert!(new > old);
    let r = ok(&call(&mut s, "get_paths domain=d&key=same"));
    assert_eq!(get(r.get("path1").expect("path1")).1, b"second!");
    let gone = wait_for(Duration::from_secs(10), || !c.file_of(&old_path).exists());
    assert!(gone, "old fid {old} still on disk");
}

#[test]
fn mogilefs_delete_rename_and_list_keys() {
    let c = Cluster::start(2);
    let mut s = c.conn();
    for k in ["b/2", "a/1", "a/3", "a/2"] {
        store(&mut s, k, k.as_bytes());
    }
    let r = ok(&call(&mut s, "list_keys domain=d&prefix=a/&limit=2"));
    assert_eq!(
        (
            r.get("key_count"),
            r.get("key_1"),
            r.get("key_2"),
            r.get("next_after")
        ),
        (Some("2"), Some("a/1"), Some("a/2"), Some("a/2"))
    );
    let r = ok(&call(&mut s, "list_keys domain=d&prefix=a/&after=a/2"));
    assert_eq!(
        (r.get("key_count"), r.get("key_1")),
        (Some("1"), Some("a/3"))
    );
    assert_eq!(
        err(&call(&mut s, "list_keys domain=d&prefix=zz")),
        "none_match"
    );

    assert_eq!(
        err(&call(&mut s, "rename domain=d&from_key=a/1&to_key=b/2")),
        "key_exists"
    );
    // No stray OK after the refusal: the next reply is the noop's.
    assert_eq!(call(&mut s, "noop"), "OK \r\n");
    assert_eq!(
        call(&mut s, "rename domain=d&from_key=a/1&to_key=z"),
        "OK \r\n"
    );
    assert_eq!(
        err(&call(&mut s, "get_paths domain=d&key=a/1")),
        "unknown_key"
    );
    let p = ok(&call(&mut s, "get_paths domain=d&key=z"));
    let path = p.get("path1").expect("path1").to_owned();
    assert_eq!(get(&path).1, b"a/1");

    assert_eq!(
        call(&mut s, "updateclass domain=d&key=z&class=default"),
        "OK \r\n"
    );
    let info = ok(&call(&mut s, "file_info domain=d&key=z"));
    assert_eq!(info.get("class"), Some("default"));
    assert_eq!(
        err(&call(&mut s, "updateclass domain=d&key=nope&class=c")),
        "invalid_key"
    );
    assert_eq!(call(&mut s, "delete domain=d&key=z"), "OK \r\n");
    assert_eq!(
        err(&call(&mut s, "get_paths domain=d&key=z")),
        "unknown_key"
    );
    assert_eq!(err(&call(&mut s, "delete domain=d&key=z")), "unknown_key");
    let gone = wait_for(Duration::from_secs(10), || !c.file_of(&path).exists());
    assert!(gone, "{path} still on disk");
    assert_eq!(get(&path).0, 404);
}

#[test]
fn mogilefs_odd_keys_round_trip() {
    let c = Cluster::start(2);
    let mut s = c.conn();
    let keys = ["with space", "a&b=c", "100%+plus", "ünïcødé/日本", "x%41y"];
    for k in keys {
        store(&mut s, k, k.as_bytes());
    }
    for k in keys {
        let r = ok(&call(
            &mut s,
            &line("get_paths", &[("domain", "d"), ("key", k)]),
        ));
        assert_eq!(get(r.get("path1").expect("path1")).1, k.as_bytes(), "{k}");
        let info = ok(&call(
            &mut s,
            &line("file_info", &[("domain", "d"), ("key", k)]),
        ));
        assert_eq!(info.get("key"), Some(k));
    }
    let r = ok(&call(&mut s, "list_keys domain=d"));
    let listed: Vec<&str> = (1..=keys.len())
        .map(|i| r.get(&format!("key_{i}")).expect("key"))
        .collect();
    let mut want = keys.to_vec();
    want.sort_unstable();
    assert_eq!(listed, want, "sorted");
}
