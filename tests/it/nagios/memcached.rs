//! check_memcached against our memcached and Debian's memcached 1.6.18:
//! OK when healthy, and WARNING then CRITICAL reached through real load on
//! each measure (misses, evictions from a small -m, open connections).

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;

use super::check_at;
use crate::memcached::{original, ours, Mc};
use crate::wire::{ask, connect};

/// Ours, then the original (when installed; required under CI).
fn servers(extra: &[&str]) -> Vec<(&'static str, Mc)> {
    let mut v = vec![("danga", ours(extra))];
    if let Some(o) = original(extra) {
        v.push(("memcached 1.6.18", o));
    }
    v
}

fn stats(s: &mut TcpStream) -> HashMap<String, String> {
    ask(s, "stats\r\n", "END\r\n")
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            if f.next() != Some("STAT") {
                return None;
            }
            Some((f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .collect()
}

fn stat(s: &mut TcpStream, name: &str) -> u64 {
    stats(s)[name].parse().expect("number")
}

#[test]
fn nagios_memcached_ok_against_ours_and_the_original() {
    for (name, mc) in servers(&[]) {
        let r = check_at("check_memcached", mc.addr, &[]);
        r.expect(0);
        assert_eq!(r.service, "MEMCACHED", "{name}");
        assert!(r.text.contains("memcached 1.6.18"), "{name}: {}", r.stdout);
        assert!(r.text.contains("no gets yet"), "{name}: {}", r.stdout);
        for label in [
            "uptime",
            "connections",
            "connections_used",
            "rejected_connections",
            "hit_ratio",
            "get_hits",
            "get_misses",
            "evictions",
            "eviction_rate",
            "curr_items",
            "bytes",
        ] {
            r.item(label);
        }
        let used = r.item("connections_used");
        assert_eq!(
            (used.uom.as_str(), used.warn.as_str(), used.crit.as_str()),
            ("%", "80", "95"),
            "{name}"
        );
        assert_eq!((used.min, used.max), (Some(0.0), Some(100.0)));
        assert_eq!(r.item("connections").max, Some(1024.0), "{name}");
        assert_eq!(r.item("hit_ratio").value, None, "U before any get");
        assert_eq!(r.item("evictions").uom, "c");
        assert_eq!(r.value("evictions"), 0.0);
        assert_eq!(r.item("bytes").uom, "B");
        assert_eq!(r.item("bytes").max, Some(64.0 * 1024.0 * 1024.0), "{name}");
        assert_eq!(r.item("uptime").uom, "s");
    }
}

#[test]
fn nagios_memcached_hit_ratio_warns_then_goes_critical() {
    for (name, mc) in servers(&[]) {
        let mut s = connect(mc.addr);
        assert_eq!(ask(&mut s, "set k 0 0 1\r\nv\r\n", "\r\n"), "STORED\r\n");
        ask(&mut s, "get k\r\n", "END\r\n");
        for miss in ["a", "b", "c"] {
            assert_eq!(
                ask(&mut s, &format!("get {miss}\r\n"), "END\r\n"),
                "END\r\n"
            );
        }
        let args = ["--hit-warning", "50:", "--hit-critical", "10:"];
        let r = check_at("check_memcached", mc.addr, &args);
        r.expect(1);
        assert_eq!(r.value("hit_ratio"), 25.0, "{name}");
        assert_eq!(r.item("hit_ratio").warn, "50:");
        assert!(
            r.text.starts_with("hit ratio 25% (1 of 4 gets)"),
            "{name}: {}",
            r.stdout
        );
        for i in 0..8 {
            ask(&mut s, &format!("get miss{i}\r\n"), "END\r\n");
        }
        let r = check_at("check_memcached", mc.addr, &args);
        r.expect(2);
        assert_eq!(r.value("get_misses"), 11.0, "{name}");
        // Without thresholds on it, the ratio is only reported.
        check_at("check_memcached", mc.addr, &[]).expect(0);
    }
}

#[test]
fn nagios_memcached_evicting_cache_warns_then_goes_critical() {
    for (name, mc) in servers(&["-m", "2"]) {
        let mut s = connect(mc.addr);
        let value = "v".repeat(100);
        let mut written = 0;
        // Fill 2 MB with 100-byte values until the LRU evicts (bounded).
        while stat(&mut s, "evictions") == 0 {
            assert!(
                written < 400_000,
                "{name}: no eviction after {written} sets"
            );
            let mut batch = String::new();
            for i in written..written + 20_000 {
                batch.push_str(&format!("set key:{i:08} 0 0 100 noreply\r\n{value}\r\n"));
            }
            s.write_all(batch.as_bytes()).expect("write");
            written += 20_000;
        }
        let warn = [
            "--evictions-warning",
            "0",
            "--evictions-critical",
            "1000000000",
        ];
        let r = check_at("check_memcached", mc.addr, &warn);
        r.expect(1);
        assert!(r.value("evictions") > 0.0, "{name}");
        assert!(r.value("eviction_rate") > 0.0, "{name}");
        assert_eq!(r.item("eviction_rate").warn, "0");
        assert!(r.text.contains(" evictions ("), "{name}: {}", r.stdout);
        let r = check_at("check_memcached", mc.addr, &["--evictions-critical", "0"]);
        r.expect(2);
    }
}

#[test]
fn nagios_memcached_connection_use_warns_then_goes_critical() {
    for (name, mc) in servers(&["-c", "100"]) {
        let mut control = connect(mc.addr);
        let mut held: Vec<TcpStream> = Vec::new();
        let mut open_until = |held: &mut Vec<TcpStream>, want: u64| {
            while stat(&mut control, "curr_connections") < want {
                assert!(held.len() < 100, "{name}: curr_connections stuck");
                let mut c = connect(mc.addr);
                assert!(ask(&mut c, "version\r\n", "\r\n").starts_with("VERSION"));
                held.push(c);
            }
        };
        let args = ["-w", "50", "-c", "70"];
        // The plugin's own connection makes it 51 of 100.
        open_until(&mut held, 50);
        let r = check_at("check_memcached", mc.addr, &args);
        r.expect(1);
        assert_eq!(r.item("connections").max, Some(100.0), "{name}");
        assert!(r.value("connections_used") > 50.0, "{name}: {}", r.stdout);
        open_until(&mut held, 70);
        let r = check_at("check_memcached", mc.addr, &args);
        r.expect(2);
        assert!(
            r.text.contains("/100 connections ("),
            "{name}: {}",
            r.stdout
        );
        drop(held);
    }
}
