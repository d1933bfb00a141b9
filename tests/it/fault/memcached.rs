//! memcached under memory pressure, with and without `-M`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::memcached::{ours, stats};
use crate::wire::connect;

const KEYS: u64 = 1500;
const SIZES: [usize; 5] = [40, 900, 7_000, 60_000, 300_000];

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `<checksum hex>:<key>|<writer>|<n>|<filler>`, about `size` bytes.
fn value(key: &str, writer: usize, n: u64, size: usize) -> Vec<u8> {
    let mut payload = format!("{key}|{writer}|{n}|").into_bytes();
    let mut x = n.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(3);
    while payload.len() < size {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        payload.push(b'a' + (x >> 59) as u8);
    }
    let mut v = format!("{:016x}:", fnv(&payload)).into_bytes();
    v.extend_from_slice(&payload);
    v
}

/// Why a value read back is not one some writer stored under `key`.
fn corrupt(key: &str, v: &[u8]) -> Option<String> {
    if v.len() < 17 || v[16] != b':' {
        return Some(format!("no checksum header ({} bytes)", v.len()));
    }
    let want = std::str::from_utf8(&v[..16])
        .ok()
        .and_then(|h| u64::from_str_radix(h, 16).ok());
    let payload = &v[17..];
    if want != Some(fnv(payload)) {
        return Some(format!("checksum mismatch ({} bytes)", v.len()));
    }
    if !payload.starts_with(format!("{key}|").as_bytes()) {
        return Some(format!(
            "another key's value: {:?}",
            String::from_utf8_lossy(&payload[..payload.len().min(40)])
        ));
    }
    None
}

/// Reads a `get` reply: each (key, value) until `END`.
fn read_values(rd: &mut BufReader<TcpStream>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for _ in 0..1000 {
        let mut line = String::new();
        rd.read_line(&mut line).expect("reply line");
        if line == "END\r\n" {
            return out;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        assert!(f.len() >= 4 && f[0] == "VALUE", "bad reply line {line:?}");
        let len: usize = f[3].parse().expect("length");
        let mut data = vec![0; len + 2];
        rd.read_exact(&mut data).expect("value");
        assert_eq!(&data[len..], b"\r\n", "value of {} not ended by CRLF", f[1]);
        data.truncate(len);
        out.push((f[1].to_owned(), data));
    }
    panic!("no END after 1000 lines");
}

/// Counts from one run.
#[derive(Debug, Default)]
struct Run {
    stored: AtomicU64,
    out_of_memory: AtomicU64,
    hits: AtomicU64,
}

/// Four writers and four readers for `secs` seconds on `addr`; panics on
/// any corrupted value or unexpected reply.
fn pressure(addr: SocketAddr, secs: u64) -> Run {
    let run = Arc::new(Run::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for w in 0..4 {
        let (run, stop) = (run.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let s = connect(addr);
            let mut wr = s.try_clone().expect("clone");
            let mut rd = BufReader::new(s);
            for n in 0..10_000_000u64 {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let k = (n * 7 + w as u64 * 13) % KEYS;
                let key = format!("k{k}");
                let size = SIZES[((n + k) % SIZES.len() as u64) as usize];
                let v = value(&key, w, n, size);
                let mut req = format!("set {key} {w} 0 {}\r\n", v.len()).into_bytes();
                req.extend_from_slice(&v);
                req.extend_from_slice(b"\r\n");
                wr.write_all(&req).expect("set");
                let mut line = String::new();
                rd.read_line(&mut line).expect("set reply");
                match line.as_str() {
                    "STORED\r\n" => run.stored.fetch_add(1, Ordering::Relaxed),
                    "SERVER_ERROR out of memory storing object\r\n" => {
                        run.out_of_memory.fetch_add(1, Ordering::Relaxed)
                    }
                    other => panic!("set {key} ({} bytes): {other:?}", v.len()),
                };
            }
        }));
    }
    for r in 0..4u64 {
        let (run, stop) = (run.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let s = connect(addr);
            let mut wr = s.try_clone().expect("clone");
            let mut rd = BufReader::new(s);
            for n in 0..10_000_000u64 {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let keys: Vec<String> = (0..5)
                    .map(|i| format!("k{}", (n * 11 + r * 5 + i * 97) % KEYS))
                    .collect();
                wr.write_all(format!("get {}\r\n", keys.join(" ")).as_bytes())
                    .expect("get");
                for (key, v) in read_values(&mut rd) {
                    assert!(keys.contains(&key), "asked {keys:?}, got {key}");
                    if let Some(why) = corrupt(&key, &v) {
                        panic!("{key}: {why}");
                    }
                    run.hits.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().expect("load thread");
    }
    Arc::into_inner(run).expect("threads done")
}

/// Promise: in a small memory limit (`-m 8`) with values of five sizes
/// from 40 B to 300 KB, writers racing readers on shared keys never make
/// a reader see a corrupted or foreign value (each value carries its
/// checksum and key); items are evicted to make room.
#[test]
fn fault_memcached_memory_pressure_never_corrupts_a_value() {
    let mc = ours(&["-m", "8"]);
    let run = pressure(mc.addr, 5);
    let st = stats(&mut connect(mc.addr), "");
    let evictions = crate::memcached::num(&st, "evictions");
    eprintln!("{run:?}, evictions {evictions}");
    assert!(run.hits.load(Ordering::Relaxed) > 0, "no reads hit");
    assert!(evictions > 0, "no memory pressure: nothing evicted");
}

/// Promise: under `-M` the same load never evicts: a set that does not
/// fit is answered `SERVER_ERROR out of memory storing object`, no value
/// read is corrupted, and what was stored stays readable.
#[test]
fn fault_memcached_dash_m_refuses_instead_of_evicting_and_never_corrupts() {
    let mc = ours(&["-m", "8", "-M"]);
    let run = pressure(mc.addr, 5);
    let st = stats(&mut connect(mc.addr), "");
    let evictions = crate::memcached::num(&st, "evictions");
    eprintln!("{run:?}, evictions {evictions}");
    assert_eq!(evictions, 0, "-M evicted");
    assert!(
        run.out_of_memory.load(Ordering::Relaxed) > 0,
        "the store never filled"
    );
    assert!(run.hits.load(Ordering::Relaxed) > 0, "no reads hit");
    // Everything still there reads back whole.
    let s = connect(mc.addr);
    let mut wr = s.try_clone().expect("clone");
    let mut rd = BufReader::new(s);
    let mut found = 0;
    for k in 0..KEYS {
        let key = format!("k{k}");
        wr.write_all(format!("get {key}\r\n").as_bytes())
            .expect("get");
        for (got, v) in read_values(&mut rd) {
            assert_eq!(got, key);
            assert_eq!(corrupt(&key, &v), None, "{key}");
            found += 1;
        }
    }
    assert_eq!(
        i64::from(found),
        crate::memcached::num(&st, "curr_items"),
        "every item counted is readable"
    );
}
