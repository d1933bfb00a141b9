//! The memory limit as the original keeps it: a slab class always gets
//! its first page (even over `-m`), and never loses its last one.

use super::{original, ours, Mc};
use crate::wire::{ask, connect};

/// Fills `-m 64` with large items, then stores items in two classes no
/// page holds yet; none may push out the other.
fn first_page_per_class(mc: &Mc, who: &str) {
    let mut s = connect(mc.addr);
    let big = "b".repeat(590 * 1024);
    for i in 0..100 {
        assert_eq!(
            ask(
                &mut s,
                &format!("set big{i} 0 0 {}\r\n{big}\r\n", big.len()),
                "\r\n"
            ),
            "STORED\r\n",
            "{who}: big{i}"
        );
    }
    // Then, as the original's binary.t, pairs of sets into two classes
    // whose pages land in different shards: each item must survive the
    // next set.
    for i in 1900..2000 {
        let v = "v".repeat(i);
        let k = format!("test_key_{i}");
        let set = format!("set {k} 0 0 {i}\r\n{v}\r\nset alt_{k} 0 0 4\r\nabcd\r\n");
        assert_eq!(
            ask(&mut s, &set, "STORED\r\nSTORED\r\n"),
            "STORED\r\nSTORED\r\n",
            "{who}"
        );
        assert_eq!(
            ask(&mut s, &format!("get {k}\r\n"), "END\r\n"),
            format!("VALUE {k} 0 {i}\r\n{v}\r\nEND\r\n"),
            "{who}: {k} was evicted though its class has free chunks"
        );
        assert_eq!(
            ask(&mut s, &format!("get alt_{k}\r\n"), "END\r\n"),
            format!("VALUE alt_{k} 0 4\r\nabcd\r\nEND\r\n"),
            "{who}"
        );
    }
}

#[test]
fn a_new_class_gets_its_first_page_without_evicting_another_class() {
    first_page_per_class(&ours(&["-m", "64"]), "ours");
    if let Some(mc) = original(&["-m", "64"]) {
        first_page_per_class(&mc, "original");
    }
}

/// Under `-M` a new class still starts in a full store, and nothing is
/// evicted for it.
#[test]
fn dash_m_starts_a_new_class_without_evicting() {
    let mc = ours(&["-m", "2", "-M"]);
    let mut s = connect(mc.addr);
    let value = "m".repeat(100_000);
    let mut stored = 0;
    for i in 0..40 {
        let r = ask(
            &mut s,
            &format!("set k{i} 0 0 {}\r\n{value}\r\n", value.len()),
            "\r\n",
        );
        if r == "STORED\r\n" {
            stored += 1;
        } else {
            assert_eq!(r, "SERVER_ERROR out of memory storing object\r\n");
        }
    }
    assert!(stored > 0 && stored < 40, "{stored} stored");
    for (i, len) in [10usize, 1000, 30_000].into_iter().enumerate() {
        let v = "n".repeat(len);
        assert_eq!(
            ask(&mut s, &format!("set new{i} 0 0 {len}\r\n{v}\r\n"), "\r\n"),
            "STORED\r\n",
            "a {len}-byte value's class starts"
        );
    }
    let stats = ask(&mut s, "stats\r\n", "END\r\n");
    assert!(stats.contains("STAT evictions 0\r\n"), "{stats}");
    assert!(
        stats.contains(&format!("STAT curr_items {}\r\n", stored + 3)),
        "{stats}"
    );
}

/// Large items go oldest first across the whole store (the original's
/// lru.t): 101 near-1 MB items in `-m 64` evict exactly the first 37.
fn large_items_oldest_first(mc: &Mc, who: &str) {
    let mut s = connect(mc.addr);
    let big = "x".repeat(1024 * 1024 - 250);
    for i in 0..101 {
        assert_eq!(
            ask(
                &mut s,
                &format!("set item_{i} 0 0 {}\r\n{big}\r\n", big.len()),
                "\r\n"
            ),
            "STORED\r\n",
            "{who}: item_{i}"
        );
    }
    let stats = ask(&mut s, "stats\r\n", "END\r\n");
    assert!(stats.contains("STAT evictions 37\r\n"), "{who}: {stats}");
    for i in 0..101 {
        let got = ask(&mut s, &format!("get item_{i}\r\n"), "END\r\n");
        assert_eq!(got.starts_with("VALUE "), i >= 37, "{who}: item_{i}");
    }
}

#[test]
fn large_items_are_evicted_oldest_first_across_shards() {
    large_items_oldest_first(&ours(&["-o", "no_modern"]), "ours");
    if let Some(mc) = original(&["-o", "no_modern"]) {
        large_items_oldest_first(&mc, "original");
    }
}
