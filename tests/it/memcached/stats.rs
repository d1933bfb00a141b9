//! Every counter moves after the command that bumps it; the memory limit
//! and the number of items held in `-m 64`.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;

use super::{num, ours, stats};
use crate::wire::{ask, connect, read_until};

#[test]
fn each_counter_moves_after_its_command() {
    let mc = ours(&["-m", "8", "-c", "100", "-t", "2"]);
    let mut s = connect(mc.addr);
    // (commands, expected reply suffix, counters that must grow by exactly these amounts)
    let steps: &[(&str, &[(&str, i64)])] = &[
        (
            "set a 0 0 1\r\n1\r\n",
            &[("cmd_set", 1), ("curr_items", 1), ("total_items", 1)],
        ),
        ("get a\r\n", &[("cmd_get", 1), ("get_hits", 1)]),
        ("get nope\r\n", &[("cmd_get", 1), ("get_misses", 1)]),
        ("touch a 100\r\n", &[("cmd_touch", 1), ("touch_hits", 1)]),
        (
            "touch nope 100\r\n",
            &[("cmd_touch", 1), ("touch_misses", 1)],
        ),
        ("incr a 1\r\n", &[("incr_hits", 1)]),
        ("incr nope 1\r\n", &[("incr_misses", 1)]),
        ("decr a 1\r\n", &[("decr_hits", 1)]),
        ("decr nope 1\r\n", &[("decr_misses", 1)]),
        (
            "cas a 0 0 1 1\r\nx\r\n",
            &[("cas_badval", 1), ("cmd_set", 1)],
        ),
        ("cas nope 0 0 1 1\r\nx\r\n", &[("cas_misses", 1)]),
        ("delete a\r\n", &[("delete_hits", 1), ("curr_items", -1)]),
        ("delete a\r\n", &[("delete_misses", 1)]),
        ("set e 0 -1 1\r\nx\r\nget e\r\n", &[("get_expired", 1)]),
        ("mn\r\nmg a v\r\n", &[("cmd_meta", 1)]),
        ("flush_all\r\n", &[("cmd_flush", 1)]),
    ];
    for (cmd, deltas) in steps {
        let before = stats(&mut s, "");
        s.write_all(cmd.as_bytes()).expect("write");
        s.write_all(b"mn\r\n").expect("write");
        read_until(&mut s, b"MN\r\n");
        let after = stats(&mut s, "");
        for (name, delta) in *deltas {
            assert_eq!(
                num(&after, name) - num(&before, name),
                *delta,
                "{name} after {cmd:?}"
            );
        }
        assert!(
            num(&after, "bytes_read") > num(&before, "bytes_read"),
            "bytes_read after {cmd:?}"
        );
        assert!(
            num(&after, "bytes_written") > num(&before, "bytes_written"),
            "bytes_written after {cmd:?}"
        );
    }
    let g = stats(&mut s, "");
    for (k, v) in [
        ("version", "1.6.18"),
        ("threads", "2"),
        ("max_connections", "100"),
        ("limit_maxbytes", "8388608"),
    ] {
        assert_eq!(g[k], v, "{k}");
    }
    assert_eq!(num(&g, "pid"), i64::from(mc.daemon.pid()));
    assert_eq!(num(&g, "curr_connections"), 1);
    let settings = stats(&mut s, " settings");
    assert_eq!(settings["maxbytes"], "8388608");
    assert_eq!(settings["evictions"], "on");
    assert_eq!(settings["item_size_max"], "1048576");
    s.write_all(b"set x 0 0 1\r\nx\r\n").expect("write");
    read_until(&mut s, b"\r\n");
    let items = stats(&mut s, " items");
    assert!(
        items
            .keys()
            .any(|k| k.starts_with("items:") && k.ends_with(":number")),
        "{items:?}"
    );
    let slabs = stats(&mut s, " slabs");
    assert_eq!(num(&slabs, "active_slabs"), 1);
    assert_eq!(ask(&mut s, "stats reset\r\n", "\r\n"), "RESET\r\n");
    assert_eq!(num(&stats(&mut s, ""), "cmd_get"), 0);
}

#[test]
fn sixty_four_megabytes_hold_more_items_than_the_original() {
    // The original holds 349,504 items of 14-byte keys and 100-byte values
    // in -m 64 before its first eviction; 360,000 must fit here untouched.
    const ITEMS: usize = 360_000;
    let mc = ours(&["-m", "64"]);
    let mut s = connect(mc.addr);
    let value = "v".repeat(100);
    let mut batch = String::new();
    for i in 0..ITEMS {
        batch.push_str(&format!("set key:{i:010} 0 0 100 noreply\r\n{value}\r\n"));
        if batch.len() > 1 << 20 || i + 1 == ITEMS {
            s.write_all(batch.as_bytes()).expect("write");
            batch.clear();
        }
    }
    let g = stats(&mut s, "");
    assert_eq!(num(&g, "evictions"), 0, "no eviction yet");
    assert_eq!(num(&g, "curr_items"), ITEMS as i64);
    let slabs = stats(&mut s, " slabs");
    assert!(
        num(&slabs, "total_malloced") <= 64 << 20,
        "item memory within -m: {}",
        slabs["total_malloced"]
    );
    let reply = ask(&mut s, "get key:0000000000 key:0000359999\r\n", "END\r\n");
    assert_eq!(
        reply.matches("VALUE").count(),
        2,
        "first and last still there"
    );
}

#[test]
fn t_memd_initial_malloc_counts_as_allocated() {
    // The original's test hook (64bit.t): 2^32 + 32 bytes counted as taken
    // from a 4098 MB limit leave one page.
    let daemon = danga_testkit::Spawn::new("memcached")
        .args(["-p", "-1", "-l", "127.0.0.1", "-U", "0", "-m", "4098", "-M"])
        .env("T_MEMD_INITIAL_MALLOC", "4294967328")
        .start();
    let mut s = crate::wire::connect(daemon.addr("memcached"));
    let slabs = stats(&mut s, " slabs");
    assert_eq!(num(&slabs, "total_malloced"), 4_294_967_328);
    assert_eq!(num(&slabs, "active_slabs"), 0);
    let general = stats(&mut s, "");
    assert_eq!(num(&general, "limit_maxbytes"), 4_297_064_448);
}

fn class_sum(items: &HashMap<String, String>, field: &str) -> i64 {
    items
        .iter()
        .filter(|(k, _)| k.starts_with("items:") && k.ends_with(&format!(":{field}")))
        .filter_map(|(_, v)| v.parse::<i64>().ok())
        .sum()
}

fn evictions_per_class_and_reset(mc: &super::Mc, who: &str) {
    let mut s = connect(mc.addr);
    let value = "B".repeat(66_560);
    let set_all = |s: &mut TcpStream, from: usize| {
        for k in from..from + 40 {
            let r = ask(s, &format!("set key{k} 0 0 66560\r\n{value}\r\n"), "\r\n");
            assert_eq!(r, "STORED\r\n", "{who} key{k}");
        }
    };
    set_all(&mut s, 0);
    assert!(class_sum(&stats(&mut s, " items"), "evicted") > 0, "{who}");
    assert_eq!(ask(&mut s, "stats reset\r\n", "\r\n"), "RESET\r\n");
    let items = stats(&mut s, " items");
    assert_eq!(class_sum(&items, "evicted"), 0, "{who}");
    assert_eq!(num(&stats(&mut s, ""), "evictions"), 0, "{who}");
    set_all(&mut s, 40);
    assert_eq!(class_sum(&stats(&mut s, " items"), "evicted"), 40, "{who}");
}

#[test]
fn evictions_count_per_class_and_stats_reset_zeroes_them() {
    evictions_per_class_and_reset(&ours(&["-m", "3"]), "ours");
    if let Some(orig) = super::original(&["-m", "3"]) {
        evictions_per_class_and_reset(&orig, "original");
    }
}

fn expired_items_are_reclaimed(mc: &super::Mc, who: &str) {
    let mut s = connect(mc.addr);
    let value = "A".repeat(66_560);
    assert_eq!(
        ask(&mut s, &format!("set key 0 1 66560\r\n{value}\r\n"), "\r\n"),
        "STORED\r\n"
    );
    std::thread::sleep(std::time::Duration::from_secs(3));
    // Gone before anyone asked for it: the background pass freed it.
    assert_eq!(num(&stats(&mut s, ""), "curr_items"), 0, "{who}");
    // (A class is listed by `stats items` while it holds an item.)
    assert_eq!(
        ask(
            &mut s,
            &format!("set other 0 0 66560\r\n{value}\r\n"),
            "\r\n"
        ),
        "STORED\r\n"
    );
    let items = stats(&mut s, " items");
    assert_eq!(class_sum(&items, "reclaimed"), 1, "{who}: {items:?}");
    assert_eq!(class_sum(&items, "number"), 1, "{who}");
}

#[test]
fn the_lru_maintainer_reclaims_expired_items_into_their_class() {
    expired_items_are_reclaimed(&ours(&[]), "ours");
    if let Some(orig) = super::original(&[]) {
        expired_items_are_reclaimed(&orig, "original");
    }
}

fn memlimit_moves(mc: &super::Mc, who: &str) {
    let mut s = connect(mc.addr);
    let value = "B".repeat(66_560);
    let set = |s: &mut TcpStream, k: usize| {
        let r = ask(s, &format!("set key{k} 0 0 66560\r\n{value}\r\n"), "\r\n");
        assert_eq!(r, "STORED\r\n", "{who} key{k}");
    };
    for k in 0..40 {
        set(&mut s, k);
    }
    let evicted = num(&stats(&mut s, ""), "evictions");
    assert!(evicted > 0, "{who}");
    assert_eq!(
        ask(&mut s, "cache_memlimit 7\r\n", "\r\n"),
        "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n",
        "{who}"
    );
    assert_eq!(ask(&mut s, "cache_memlimit 8\r\n", "\r\n"), "OK\r\n");
    assert_eq!(
        num(&stats(&mut s, " settings"), "maxbytes"),
        8 << 20,
        "{who}"
    );
    assert_eq!(num(&stats(&mut s, ""), "limit_maxbytes"), 8 << 20, "{who}");
    let before = num(&stats(&mut s, " slabs"), "total_malloced");
    set(&mut s, 1000);
    assert!(
        num(&stats(&mut s, " slabs"), "total_malloced") > before,
        "{who}: the new room is used"
    );
    assert_eq!(num(&stats(&mut s, ""), "evictions"), evicted, "{who}");
    assert_eq!(ask(&mut s, "cache_memlimit 16\r\n", "\r\n"), "OK\r\n");
    for k in 40..150 {
        set(&mut s, k);
    }
    let full = num(&stats(&mut s, " slabs"), "total_malloced");
    assert_eq!(ask(&mut s, "cache_memlimit 8\r\n", "\r\n"), "OK\r\n");
    for k in (0..150).chain([1000]) {
        ask(&mut s, &format!("delete key{k}\r\n"), "\r\n");
    }
    // Emptied pages go back until the lower limit holds.
    let mut now = full;
    for _ in 0..100 {
        now = num(&stats(&mut s, " slabs"), "total_malloced");
        if now < full {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(now < full, "{who}: total_malloced stayed at {full}");
}

#[test]
fn cache_memlimit_grows_and_shrinks_the_limit() {
    // (The original gives pages back through its slab automover, whose
    // window the upstream test shortens the same way.)
    let flags = ["-m", "3", "-o", "modern,slab_automove_window=3"];
    memlimit_moves(&ours(&flags), "ours");
    if let Some(orig) = super::original(&flags) {
        memlimit_moves(&orig, "original");
    }
}

fn flat_lru_reclaims_on_alloc(mc: &super::Mc, who: &str) {
    let mut s = connect(mc.addr);
    assert_eq!(ask(&mut s, "set key 0 0 1\r\n1\r\n", "\r\n"), "STORED\r\n");
    assert_eq!(num(&stats(&mut s, ""), "reclaimed"), 0, "{who}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(ask(&mut s, "flush_all\r\n", "\r\n"), "OK\r\n");
    assert_eq!(ask(&mut s, "set key 0 0 1\r\n1\r\n", "\r\n"), "STORED\r\n");
    assert_eq!(num(&stats(&mut s, ""), "reclaimed"), 1, "{who}");
}

#[test]
fn with_no_modern_an_allocation_reclaims_the_flushed_tail() {
    flat_lru_reclaims_on_alloc(&ours(&["-o", "no_modern"]), "ours");
    if let Some(orig) = super::original(&["-o", "no_modern"]) {
        flat_lru_reclaims_on_alloc(&orig, "original");
    }
}

/// The `items:<class>:<name>` names of a `stats items` reply, in order, for
/// the first class listed.
fn item_names(reply: &str) -> Vec<String> {
    let mut class = None;
    reply
        .lines()
        .filter_map(|l| l.strip_prefix("STAT items:"))
        .filter_map(|l| l.split_once(':'))
        .filter(|(c, _)| *class.get_or_insert(c.to_owned()) == *c)
        .filter_map(|(_, rest)| rest.split(' ').next())
        .map(str::to_owned)
        .collect()
}

fn eviction_details_and_crawler_checks(mc: &super::Mc, who: &str) -> Vec<String> {
    let mut s = connect(mc.addr);
    let value = "B".repeat(66_560);
    let set = |s: &mut TcpStream, k: usize, exptime: u32| {
        let r = ask(
            s,
            &format!("set key{k} 0 {exptime} 66560\r\n{value}\r\n"),
            "\r\n",
        );
        assert_eq!(r, "STORED\r\n", "{who} key{k}");
    };
    // Items with an expiry, until the first is evicted.
    let mut k = 0;
    while class_sum(&stats(&mut s, " items"), "evicted") == 0 {
        assert!(k < 200, "{who}: no eviction after {k} sets");
        set(&mut s, k, 3600);
        k += 1;
    }
    let items = stats(&mut s, " items");
    assert!(
        class_sum(&items, "evicted_nonzero") >= 1,
        "{who}: {items:?}"
    );
    assert_eq!(
        class_sum(&items, "evicted_nonzero"),
        class_sum(&items, "evicted"),
        "{who}: every evicted item had an expiry"
    );
    assert_eq!(ask(&mut s, "stats reset\r\n", "\r\n"), "RESET\r\n");
    let items = stats(&mut s, " items");
    for field in ["evicted", "evicted_nonzero", "evicted_time"] {
        assert_eq!(class_sum(&items, field), 0, "{who}: {field} after reset");
    }
    // The next eviction takes an item last touched over two seconds ago.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    set(&mut s, k, 0);
    let items = stats(&mut s, " items");
    assert_eq!(class_sum(&items, "evicted"), 1, "{who}");
    assert_eq!(class_sum(&items, "evicted_nonzero"), 1, "{who}");
    let idle = class_sum(&items, "evicted_time");
    assert!((2..=30).contains(&idle), "{who}: evicted_time {idle}");
    // No reference counts here, and none held by the original now.
    assert_eq!(class_sum(&items, "tailrepairs"), 0, "{who}");
    assert_eq!(class_sum(&items, "lrutail_reflocked"), 0, "{who}");
    // A crawl looks at the class's items (the original's crawler runs
    // in the background: a bounded wait).
    assert_eq!(ask(&mut s, "lru_crawler crawl all\r\n", "\r\n"), "OK\r\n");
    let mut checked = 0;
    for _ in 0..50 {
        checked = class_sum(&stats(&mut s, " items"), "crawler_items_checked");
        if checked > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(checked > 0, "{who}: crawler_items_checked {checked}");
    item_names(&ask(&mut s, "stats items\r\n", "END\r\n"))
}

#[test]
fn stats_items_counts_evictions_with_an_expiry_their_idle_time_and_crawler_checks() {
    let names = eviction_details_and_crawler_checks(&ours(&["-m", "3"]), "ours");
    let mut want = vec![
        "number",
        "number_hot",
        "number_warm",
        "number_cold",
        "age_hot",
        "age_warm",
        "age",
        "mem_requested",
        "evicted",
        "evicted_nonzero",
        "evicted_time",
        "outofmemory",
        "tailrepairs",
        "reclaimed",
        "expired_unfetched",
        "evicted_unfetched",
        "evicted_active",
        "crawler_reclaimed",
        "crawler_items_checked",
        "lrutail_reflocked",
    ];
    want.extend([
        "moves_to_cold",
        "moves_to_warm",
        "moves_within_lru",
        "direct_reclaims",
        "hits_to_hot",
        "hits_to_warm",
        "hits_to_cold",
        "hits_to_temp",
    ]);
    assert_eq!(names, want);
    if let Some(orig) = super::original(&["-m", "3"]) {
        let theirs = eviction_details_and_crawler_checks(&orig, "original");
        assert_eq!(names, theirs, "the original's names and order");
    }
}
