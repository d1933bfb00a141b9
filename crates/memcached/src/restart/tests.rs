//! Save and load through real files in a temporary directory.

use super::*;
use crate::exec::{Engine, Settings as ExecSettings};
use crate::store::{hash_key, Lookup, StoreConfig};

const T0: u64 = 1_800_000_000;

fn engine(mem_mb: usize, unix_now: u64) -> Engine {
    let cfg = StoreConfig {
        mem_limit: mem_mb << 20,
        shards: 4,
        ..StoreConfig::default()
    };
    Engine::new(cfg, ExecSettings::default(), unix_now)
}

/// Stores `key` the way a `set` does: a fresh CAS, `exptime` relative
/// seconds (0 = never).
fn set(e: &Engine, key: &str, value: &[u8], flags: u32, exptime: i64, unix_now: u64) -> u64 {
    let now = e.rel_time(unix_now);
    let cas = e.store.next_cas();
    let item = ItemView {
        key: key.as_bytes(),
        value,
        flags,
        exptime: e.realtime(exptime, now),
        time: now,
        cas,
        state: 0,
    };
    e.store.restore_item(&item, now).expect("store");
    cas
}

/// (value, flags, cas) of a live item.
fn get(e: &Engine, key: &str, unix_now: u64) -> Option<(Vec<u8>, u32, u64)> {
    let now = e.rel_time(unix_now);
    let hash = hash_key(key.as_bytes());
    let mut sh = e.store.shard(hash);
    match sh.find(key.as_bytes(), hash, now, &e.store.flush) {
        Lookup::Hit(id) => Some((sh.value_vec(id), sh.meta(id).flags, sh.meta(id).cas)),
        _ => None,
    }
}

fn restored(l: &Loaded) -> u64 {
    match l {
        Loaded::Restored { items, .. } => *items,
        other => panic!("not restored: {other:?}"),
    }
}

#[test]
fn a_save_comes_back_with_flags_cas_and_absolute_expiry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rf = RestartFile::new(dir.path().join("mc"));
    let a = engine(64, T0);
    let big = vec![b'z'; 900_000];
    let c1 = set(&a, "plain", b"one", 5, 0, T0);
    let c2 = set(&a, "big", &big, 6, 0, T0);
    let c3 = set(&a, "ttl100", b"x", 7, 100, T0);
    set(&a, "ttl10", b"y", 8, 10, T0);
    let saved = rf.save(&a, T0 + 5).expect("save");
    assert_eq!(saved.items, 4);
    assert!(rf.meta_path().exists() && rf.path().exists());

    // Down for 30 s: ttl10 expired meanwhile, ttl100 has 70 s left.
    let b = engine(64, T0 + 35);
    let loaded = rf.load(&b, T0 + 35).expect("load");
    assert_eq!(restored(&loaded), 3);
    assert!(matches!(loaded, Loaded::Restored { expired: 1, .. }));
    assert_eq!(get(&b, "plain", T0 + 35), Some((b"one".to_vec(), 5, c1)));
    assert_eq!(get(&b, "big", T0 + 35), Some((big, 6, c2)));
    assert_eq!(get(&b, "ttl100", T0 + 99), Some((b"x".to_vec(), 7, c3)));
    assert_eq!(
        get(&b, "ttl100", T0 + 100),
        None,
        "expires at the same wall time"
    );
    assert_eq!(get(&b, "ttl10", T0 + 35), None);
    assert!(b.store.next_cas() > c3, "the CAS counter resumes above");
    assert!(
        !rf.meta_path().exists() && !rf.path().exists(),
        "both files are consumed"
    );

    // A second start finds nothing.
    let c = engine(64, T0 + 40);
    assert_eq!(rf.load(&c, T0 + 40).expect("load"), Loaded::Nothing);
}

#[test]
fn a_settings_mismatch_starts_empty_and_consumes_the_save() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rf = RestartFile::new(dir.path().join("mc"));
    let a = engine(64, T0);
    set(&a, "k", b"v", 0, 0, T0);
    rf.save(&a, T0).expect("save");
    let b = engine(128, T0 + 1);
    match rf.load(&b, T0 + 1).expect("load") {
        Loaded::Discarded(why) => assert!(why.contains("maxbytes"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(get(&b, "k", T0 + 1), None);
    assert!(!rf.meta_path().exists() && !rf.path().exists());
}

#[test]
fn a_damaged_items_file_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rf = RestartFile::new(dir.path().join("mc"));
    let a = engine(64, T0);
    for i in 0..50 {
        set(&a, &format!("k{i}"), b"value", 0, 0, T0);
    }
    // One flipped byte near the end, then a cut: neither loads anything.
    rf.save(&a, T0).expect("save");
    let mut bytes = std::fs::read(rf.path()).expect("read");
    let at = bytes.len() - 20;
    bytes[at] ^= 1;
    std::fs::write(rf.path(), &bytes).expect("write");
    let b = engine(64, T0 + 1);
    assert!(matches!(rf.load(&b, T0 + 1), Ok(Loaded::Discarded(_))));
    assert_eq!(b.store.stats(1).curr_items, 0);

    rf.save(&a, T0).expect("save");
    let len = std::fs::metadata(rf.path()).expect("meta").len();
    File::options()
        .write(true)
        .open(rf.path())
        .and_then(|f| f.set_len(len / 2))
        .expect("truncate");
    let c = engine(64, T0 + 1);
    assert!(matches!(rf.load(&c, T0 + 1), Ok(Loaded::Discarded(_))));
    assert_eq!(c.store.stats(1).curr_items, 0);
}

#[test]
fn an_empty_meta_file_refuses_the_start_and_the_originals_is_set_aside() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rf = RestartFile::new(dir.path().join("mc"));
    std::fs::write(rf.meta_path(), b"").expect("write");
    let e = engine(64, T0);
    assert!(rf.load(&e, T0).is_err());
    assert!(rf.meta_path().exists(), "left for the operator");

    std::fs::write(rf.meta_path(), b"Tmain\nKmaxbytes 67108864\n").expect("write");
    std::fs::write(rf.path(), vec![0u8; 4096]).expect("write");
    match rf.load(&e, T0).expect("load") {
        Loaded::Discarded(why) => assert!(why.contains("\"main\""), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(!rf.meta_path().exists(), "consumed");
    assert!(
        rf.path().exists(),
        "the original's memory file is not ours to remove"
    );
}

#[test]
fn a_clock_that_went_back_discards_the_save() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rf = RestartFile::new(dir.path().join("mc"));
    let a = engine(64, T0);
    set(&a, "k", b"v", 0, 0, T0);
    rf.save(&a, T0 + 100).expect("save");
    let b = engine(64, T0);
    assert!(matches!(rf.load(&b, T0), Ok(Loaded::Discarded(_))));
}

#[test]
fn a_pending_flush_carries_over_and_a_passed_one_applies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rf = RestartFile::new(dir.path().join("mc"));
    let a = engine(64, T0);
    set(&a, "k", b"v", 0, 0, T0);
    // flush_all 60: items touched before T0 + 60 go at T0 + 60.
    let at = a.rel_time(T0 + 60);
    a.store.flush.oldest_live.store(at, Ordering::Release);
    rf.save(&a, T0 + 1).expect("save");
    let b = engine(64, T0 + 10);
    assert_eq!(restored(&rf.load(&b, T0 + 10).expect("load")), 1);
    assert!(get(&b, "k", T0 + 59).is_some());
    assert_eq!(get(&b, "k", T0 + 61), None, "the flush still happens");

    rf.save(&a, T0 + 1).expect("save");
    let c = engine(64, T0 + 70);
    let l = rf.load(&c, T0 + 70).expect("load");
    assert!(
        matches!(
            l,
            Loaded::Restored {
                items: 0,
                expired: 1,
                ..
            }
        ),
        "{l:?}"
    );
}

#[test]
fn an_items_file_without_its_header_is_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rf = RestartFile::new(dir.path().join("mc"));
    let a = engine(64, T0);
    set(&a, "k", b"v", 0, 0, T0);
    rf.save(&a, T0).expect("save");
    std::fs::remove_file(rf.meta_path()).expect("rm");
    assert_eq!(rf.load(&a, T0).expect("load"), Loaded::Nothing);
    assert!(!rf.path().exists());
}

#[test]
fn a_failed_save_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // FILE is a directory: the rename onto it fails after the items are written.
    let path = dir.path().join("mc");
    std::fs::create_dir(&path).expect("mkdir");
    let rf = RestartFile::new(&path);
    let a = engine(64, T0);
    set(&a, "k", b"v", 0, 0, T0);
    assert!(rf.save(&a, T0).is_err());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("mc")]);
}
