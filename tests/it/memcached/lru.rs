//! The segmented LRU (HOT/WARM/COLD/TEMP with its maintainer and the `lru`
//! command) and the slab page mover (`slabs reassign`, `slabs automove`),
//! through the network, against Debian's memcached 1.6.18 where it is
//! installed. Waits poll the stats with a bound; nothing depends on how
//! fast the machine is.

use std::collections::HashMap;
use std::net::TcpStream;
use std::time::Duration;

use super::{num, original, ours, stats, Mc};
use crate::wire::{ask, connect};

/// Polls `stats{which}` (every 200 ms, at most 30 s) until `ok` holds.
fn wait_for(
    s: &mut TcpStream,
    which: &str,
    ok: impl Fn(&HashMap<String, String>) -> bool,
) -> HashMap<String, String> {
    let mut m = stats(s, which);
    for _ in 0..150 {
        if ok(&m) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        m = stats(s, which);
    }
    m
}

fn set(s: &mut TcpStream, key: &str, ttl: u32, value: &str) {
    assert_eq!(
        ask(
            s,
            &format!("set {key} 0 {ttl} {}\r\n{value}\r\n", value.len()),
            "\r\n"
        ),
        "STORED\r\n",
        "set {key}"
    );
}

fn get(s: &mut TcpStream, key: &str) -> Option<String> {
    let r = ask(s, &format!("get {key}\r\n"), "END\r\n");
    let (_, rest) = r.split_once("\r\n")?;
    rest.strip_suffix("\r\nEND\r\n").map(str::to_owned)
}

/// Items age from HOT into COLD; a second hit in COLD moves one to WARM,
/// where evictions in COLD do not reach it.
fn segmented(mc: &Mc, who: &str) {
    let mut s = connect(mc.addr);
    let value = "B".repeat(66_560);
    set(&mut s, "canary", 0, &value);
    for i in 0..30 {
        set(&mut s, &format!("key{i}"), 0, &value);
    }
    let items = wait_for(&mut s, " items", |m| {
        m.get("items:31:moves_to_cold").is_some_and(|v| v != "0")
    });
    assert!(
        num(&items, "items:31:moves_to_cold") > 0,
        "{who}: {items:?}"
    );
    let segs: i64 = ["hot", "warm", "cold"]
        .iter()
        .map(|k| num(&items, &format!("items:31:number_{k}")))
        .sum();
    assert_eq!(segs, num(&items, "items:31:number"), "{who}");
    assert_eq!(get(&mut s, "canary").as_deref(), Some(value.as_str()));
    assert_eq!(get(&mut s, "canary").as_deref(), Some(value.as_str()));
    let items = wait_for(&mut s, " items", |m| {
        m.get("items:31:moves_to_warm").is_some_and(|v| v != "0")
    });
    assert!(
        num(&items, "items:31:moves_to_warm") > 0,
        "{who}: {items:?}"
    );
    for i in 30..100 {
        set(&mut s, &format!("key{i}"), 0, &value);
    }
    let st = stats(&mut s, "");
    assert!(num(&st, "evictions") > 0, "{who}");
    assert!(num(&st, "moves_to_cold") > 0, "{who}");
    assert!(num(&st, "lru_maintainer_juggles") > 0, "{who}");
    assert_eq!(
        get(&mut s, "canary").as_deref(),
        Some(value.as_str()),
        "{who}: WARM kept the canary"
    );
}

#[test]
fn a_twice_fetched_item_survives_in_warm_while_cold_evicts() {
    let args = ["-m", "6", "-o", "lru_maintainer,lru_crawler"];
    segmented(&ours(&args), "ours");
    if let Some(mc) = original(&args) {
        segmented(&mc, "original");
    }
}

/// A short TTL sends an item to TEMP: never evicted, never in HOT.
fn temp_lru(mc: &Mc, who: &str) {
    let mut s = connect(mc.addr);
    let settings = stats(&mut s, " settings");
    assert_eq!(settings["temp_lru"], "yes", "{who}");
    assert_eq!(settings["temporary_ttl"], "61", "{who}");
    let value = "B".repeat(66_560);
    set(&mut s, "canary", 30, &value);
    let items = stats(&mut s, " items");
    assert_eq!(num(&items, "items:31:number_hot"), 0, "{who}");
    assert_eq!(num(&items, "items:31:number_temp"), 1, "{who}");
    for i in 0..100 {
        set(&mut s, &format!("key{i}"), 3600, &value);
    }
    let items = stats(&mut s, " items");
    assert!(num(&items, "items:31:evicted") > 0, "{who}");
    assert!(num(&items, "items:31:number_hot") > 0, "{who}");
    assert_eq!(num(&items, "items:31:number_temp"), 1, "{who}");
    assert_eq!(get(&mut s, "canary").as_deref(), Some(value.as_str()));
}

#[test]
fn short_ttl_items_live_in_the_temp_lru() {
    let args = [
        "-m",
        "2",
        "-o",
        "lru_maintainer,lru_crawler,temporary_ttl=61",
    ];
    temp_lru(&ours(&args), "ours");
    if let Some(mc) = original(&args) {
        temp_lru(&mc, "original");
    }
}

/// `lru tune|mode|temp_ttl`: replies and the settings they change.
fn lru_command(mc: &Mc, who: &str) {
    let mut s = connect(mc.addr);
    let st = stats(&mut s, " settings");
    assert_eq!(
        (
            st["lru_maintainer_thread"].as_str(),
            st["lru_segmented"].as_str(),
            st["hot_lru_pct"].as_str(),
            st["warm_lru_pct"].as_str(),
            st["hot_max_factor"].as_str(),
            st["warm_max_factor"].as_str(),
            st["temp_lru"].as_str(),
        ),
        ("yes", "yes", "20", "40", "0.20", "2.00", "no"),
        "{who}"
    );
    let exchanges = [
        ("lru tune 10 30 0.5 3\r\n", "OK\r\n"),
        (
            "lru tune 50 31 0.5 3\r\n",
            "ERROR hot and warm pcts must not exceed 80\r\n",
        ),
        (
            "lru tune 10 30 0 3\r\n",
            "ERROR hot/warm age factors must be greater than 0\r\n",
        ),
        ("lru tune 10 x 1 1\r\n", "ERROR\r\n"),
        ("lru mode flat\r\n", "OK\r\n"),
        ("lru mode sideways\r\n", "ERROR\r\n"),
        ("lru temp_ttl 45\r\n", "OK\r\n"),
        ("lru bogus\r\n", "ERROR\r\n"),
    ];
    for (req, want) in exchanges {
        assert_eq!(ask(&mut s, req, "\r\n"), want, "{who}: {req:?}");
    }
    let st = stats(&mut s, " settings");
    assert_eq!(
        (
            st["lru_segmented"].as_str(),
            st["hot_lru_pct"].as_str(),
            st["warm_lru_pct"].as_str(),
            st["hot_max_factor"].as_str(),
            st["warm_max_factor"].as_str(),
            st["temp_lru"].as_str(),
            st["temporary_ttl"].as_str(),
        ),
        ("no", "10", "30", "0.50", "3.00", "yes", "45"),
        "{who}"
    );
    // Flat: new items go to COLD.
    set(&mut s, "k", 0, "v");
    let items = stats(&mut s, " items");
    assert_eq!(num(&items, "items:1:number_cold"), 1, "{who}");
}

#[test]
fn the_lru_command_tunes_the_segments() {
    lru_command(&ours(&[]), "ours");
    if let Some(mc) = original(&[]) {
        lru_command(&mc, "original");
    }
}

fn class_pages(s: &mut TcpStream, class: u32) -> i64 {
    stats(s, " slabs")
        .get(&format!("{class}:total_pages"))
        .map_or(0, |v| v.parse().unwrap_or(0))
}

/// `slabs reassign` moves a page between classes (its items rescued or
/// dropped) and answers as the original.
fn reassign(mc: &Mc, who: &str) {
    let mut s = connect(mc.addr);
    let big = "x".repeat(70_000);
    let small = "y".repeat(20_000);
    for i in 0..60 {
        set(&mut s, &format!("bfoo{i}"), 0, &big);
    }
    for i in 0..60 {
        set(&mut s, &format!("sfoo{i}"), 0, &small);
    }
    let (b31, b25) = (class_pages(&mut s, 31), class_pages(&mut s, 25));
    let replies = [
        (
            "slabs reassign invalid1 invalid2\r\n",
            "CLIENT_ERROR bad command line format\r\n",
        ),
        (
            "slabs reassign 31 31\r\n",
            "SAME src and dst class are identical\r\n",
        ),
        (
            "slabs reassign 31 99\r\n",
            "BADCLASS invalid src or dst class id\r\n",
        ),
        (
            "slabs reassign 3 25\r\n",
            "NOSPARE source class has no spare pages\r\n",
        ),
        ("slabs reassign 31 25\r\n", "OK\r\n"),
    ];
    for (req, want) in replies {
        assert_eq!(ask(&mut s, req, "\r\n"), want, "{who}: {req:?}");
    }
    let st = wait_for(&mut s, "", |m| {
        m.get("slabs_moved").is_some_and(|v| v != "0")
    });
    assert_eq!(num(&st, "slabs_moved"), 1, "{who}");
    let moved = wait_for(&mut s, " slabs", |m| {
        m.get("25:total_pages")
            .is_some_and(|v| v.parse::<i64>().unwrap_or(0) > b25)
    });
    assert_eq!(num(&moved, "31:total_pages"), b31 - 1, "{who}");
    assert_eq!(num(&moved, "25:total_pages"), b25 + 1, "{who}");
    set(&mut s, "bfoo_after", 0, &big);
    set(&mut s, "sfoo_after", 0, &small);
    assert_eq!(get(&mut s, "sfoo_after").as_deref(), Some(small.as_str()));
}

#[test]
fn slabs_reassign_moves_a_page_between_classes() {
    let args = ["-m", "4", "-o", "slab_reassign,slab_automove=0"];
    reassign(&ours(&args), "ours");
    if let Some(mc) = original(&args) {
        reassign(&mc, "original");
    }
}

#[test]
fn slabs_reassign_is_refused_without_slab_reassign() {
    let mc = ours(&["-o", "no_modern"]);
    let mut s = connect(mc.addr);
    assert_eq!(
        ask(&mut s, "slabs reassign 1 2\r\n", "\r\n"),
        "CLIENT_ERROR slab reassignment disabled\r\n"
    );
    assert_eq!(stats(&mut s, " settings")["slab_reassign"], "no");
}

/// With the automover on, a class whose items were deleted gives its
/// pages back to the global pool, and the items left are all still there.
fn automove(mc: &Mc, who: &str) {
    let mut s = connect(mc.addr);
    let value = "B".repeat(11_000);
    let n = 1200;
    for i in 0..n {
        set(&mut s, &format!("nfoo{i}"), 0, &value);
    }
    let st = stats(&mut s, "");
    assert_eq!(num(&st, "evictions"), 0, "{who}: 1200 items fit in 16 MB");
    let mut kept = Vec::new();
    for i in 0..n {
        if i % 4 == 0 {
            kept.push(i);
        } else {
            ask(&mut s, &format!("delete nfoo{i}\r\n"), "\r\n");
        }
    }
    let st = wait_for(&mut s, "", |m| {
        m.get("slab_global_page_pool")
            .is_some_and(|v| v.parse::<i64>().unwrap_or(0) > 2)
    });
    assert!(num(&st, "slab_global_page_pool") > 2, "{who}: {st:?}");
    assert!(num(&st, "slabs_moved") > 2, "{who}");
    assert_eq!(stats(&mut s, " settings")["slab_automove"], "1", "{who}");
    let hits = kept
        .iter()
        .filter(|i| get(&mut s, &format!("nfoo{i}")).as_deref() == Some(value.as_str()))
        .count();
    assert_eq!(
        hits,
        kept.len(),
        "{who}: every item left survived the moves"
    );
    assert_eq!(ask(&mut s, "slabs automove 0\r\n", "\r\n"), "OK\r\n");
    assert_eq!(stats(&mut s, " settings")["slab_automove"], "0", "{who}");
    assert_eq!(
        ask(&mut s, "slabs automove 3\r\n", "\r\n"),
        "ERROR\r\n",
        "{who}"
    );
}

#[test]
fn the_automover_gives_emptied_pages_back_to_the_pool() {
    let args = ["-m", "16", "-o", "slab_automove=1,slab_automove_window=3"];
    automove(&ours(&args), "ours");
    if let Some(mc) = original(&args) {
        automove(&mc, "original");
    }
}
