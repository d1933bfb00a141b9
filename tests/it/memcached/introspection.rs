//! `stats conns` and `stats detail`, checked against the same exchange on
//! Debian's memcached 1.6.18 where it is installed.

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use super::{original, ours, Mc};
use crate::wire::{ask, connect};

fn conns_rows(mc: &Mc, who: &str) {
    let mut stalled = connect(mc.addr);
    // A storage command waiting for its value: conn_nread.
    stalled.write_all(b"set foo 0 0 6\r\n").expect("write");
    std::thread::sleep(Duration::from_millis(1100));
    let mut s = connect(mc.addr);
    let all = ask(&mut s, "stats conns\r\n", "END\r\n");
    let port = mc.addr.port();
    assert!(
        all.contains(&format!(":addr tcp:127.0.0.1:{port}\r\n")),
        "{who}: {all}"
    );
    let listen_fd = all
        .lines()
        .find(|l| l.ends_with(":state conn_listening"))
        .and_then(|l| l.strip_prefix("STAT "))
        .and_then(|l| l.split(':').next())
        .unwrap_or_else(|| panic!("{who}: no listener in {all}"));
    assert!(
        all.contains(&format!("STAT {listen_fd}:addr tcp:127.0.0.1:{port}\r\n")),
        "{who}: {all}"
    );
    assert!(all.contains(":state conn_nread\r\n"), "{who}: {all}");
    assert!(all.contains(":state conn_parse_cmd\r\n"), "{who}: {all}");
    assert!(
        all.contains(&format!(":listen_addr tcp:127.0.0.1:{port}\r\n")),
        "{who}: {all}"
    );
    // The stalled client has been silent a second.
    assert!(
        all.lines().any(|l| l.contains(":secs_since_last_cmd ")
            && !l.ends_with(" 0")
            && !l.contains(&format!("STAT {listen_fd}:"))),
        "{who}: {all}"
    );
    // Every row: addr, (listen_addr), state, secs_since_last_cmd.
    for l in all.lines().filter(|l| l.starts_with("STAT ")) {
        let field = l.split(' ').nth(1).and_then(|k| k.split_once(':'));
        let Some((fd, name)) = field else {
            panic!("{who}: {l}")
        };
        assert!(fd.parse::<u32>().is_ok(), "{who}: {l}");
        assert!(
            ["addr", "listen_addr", "state", "secs_since_last_cmd"].contains(&name),
            "{who}: {l}"
        );
    }
}

#[test]
fn stats_conns_lists_listeners_and_clients_as_the_original() {
    conns_rows(&ours(&[]), "ours");
    if let Some(orig) = original(&[]) {
        conns_rows(&orig, "original");
    }
}

/// The UDP socket's row in `stats conns`: a `UDP` line, its `udp:`
/// address, state `conn_read`.
fn udp_row(mc: &Mc, udp_port: u16, who: &str) {
    let mut s = connect(mc.addr);
    let all = ask(&mut s, "stats conns\r\n", "END\r\n");
    let addr = format!(":addr udp:127.0.0.1:{udp_port}\r\n");
    let fd = all
        .lines()
        .find(|l| l.ends_with(&addr[..addr.len() - 2]))
        .and_then(|l| l.strip_prefix("STAT "))
        .and_then(|l| l.split(':').next())
        .unwrap_or_else(|| panic!("{who}: no UDP row in {all}"));
    for line in ["UDP UDP", "state conn_read"] {
        assert!(
            all.contains(&format!("STAT {fd}:{line}\r\n")),
            "{who}: {line} in {all}"
        );
    }
    // Counted from the socket's start (a few seconds at most here, even on
    // a loaded machine), as the original counts it.
    let secs = all
        .lines()
        .find_map(|l| l.strip_prefix(&format!("STAT {fd}:secs_since_last_cmd ")))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("{who}: secs_since_last_cmd in {all}"));
    assert!(secs <= 5, "{who}: {secs} in {all}");
}

#[test]
fn stats_conns_lists_the_udp_socket_as_the_original() {
    let port = super::binary::free_udp_port();
    let daemon = danga_testkit::Spawn::new("memcached")
        .args(["-p", "-1", "-l", "127.0.0.1", "-U", &port.to_string()])
        .start();
    let addr = daemon.addr("memcached");
    udp_row(&Mc { daemon, addr }, port, "ours");
    let port = super::binary::free_udp_port();
    if let Some(orig) = original(&["-U", &port.to_string()]) {
        udp_row(&orig, port, "original");
    }
}

fn detail_exchange(mc: &Mc) -> String {
    let mut s = connect(mc.addr);
    let mut log = String::new();
    for req in [
        "stats detail dump\r\n",
        "stats detail on\r\n",
        "set foo:123 0 0 6\r\nfooval\r\n",
        "stats detail dump\r\n",
        "get foo:123\r\n",
        "get foo:124 bar:1 plain\r\n",
        "delete foo:125\r\n",
        "stats detail dump\r\n",
        "stats reset\r\n",
        "stats detail dump\r\n",
        "get foo:123\r\n",
        "stats detail off\r\n",
        "get foo:123\r\n",
        "stats detail dump\r\n",
        "stats detail bogus\r\n",
    ] {
        let end = if req.starts_with("get") || req.starts_with("stats detail dump") {
            "END\r\n"
        } else {
            "\r\n"
        };
        log.push_str(&ask(&mut s, req, end));
    }
    log
}

#[test]
fn stats_detail_counts_by_prefix() {
    let got = detail_exchange(&ours(&[]));
    let want = "END\r\nOK\r\nSTORED\r\n\
        PREFIX foo get 0 hit 0 set 1 del 0\r\nEND\r\n\
        VALUE foo:123 0 6\r\nfooval\r\nEND\r\nEND\r\nNOT_FOUND\r\n\
        PREFIX bar get 1 hit 0 set 0 del 0\r\nPREFIX foo get 2 hit 1 set 1 del 1\r\nEND\r\n\
        RESET\r\nEND\r\nVALUE foo:123 0 6\r\nfooval\r\nEND\r\nOK\r\n\
        VALUE foo:123 0 6\r\nfooval\r\nEND\r\n\
        PREFIX foo get 1 hit 1 set 0 del 0\r\nEND\r\n\
        CLIENT_ERROR usage: stats detail on|off|dump\r\n";
    assert_eq!(got, want);
    if let Some(orig) = original(&[]) {
        // The original lists prefixes in hash order: compare as sets of lines.
        let theirs = detail_exchange(&orig);
        let mut a: Vec<&str> = theirs.lines().collect();
        let mut b: Vec<&str> = want.lines().collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "original");
    }
}

/// Reads one `\n`-terminated line (empty at end of stream).
fn line(r: &mut BufReader<std::net::TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).expect("read a log line");
    l
}

/// The fields of a log line after `ts=… gid=…`, checking those two.
fn fields(l: &str, who: &str) -> Vec<String> {
    let mut it = l.trim_end().split(' ');
    let ts = it.next().unwrap_or_default();
    let gid = it.next().unwrap_or_default();
    assert!(
        ts.strip_prefix("ts=")
            .and_then(|t| t.split_once('.'))
            .is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.parse::<u32>().is_ok()),
        "{who}: {l}"
    );
    assert!(
        gid.strip_prefix("gid=")
            .is_some_and(|g| g.parse::<u64>().is_ok()),
        "{who}: {l}"
    );
    it.map(str::to_owned).collect()
}

fn watch_exchange(mc: &Mc, who: &str) {
    let mut w = connect(mc.addr);
    assert_eq!(ask(&mut w, "watch bogus\r\n", "\r\n"), "ERROR\r\n", "{who}");
    assert_eq!(
        ask(&mut w, "watch fetchers mutations connevents\r\n", "\r\n"),
        "OK\r\n",
        "{who}"
    );
    let mut w = BufReader::new(w);
    // The original turns logging on in its worker threads a little later.
    std::thread::sleep(Duration::from_millis(500));
    let mut c = connect(mc.addr);
    let new = fields(&line(&mut w), who);
    assert_eq!(new[0], "type=conn_new", "{who}");
    assert_eq!(new[3], "transport=tcp", "{who}");
    let cfd = new[4].clone();
    assert!(cfd.starts_with("cfd="), "{who}: {new:?}");
    let key = "a b".replace(' ', "#");
    assert_eq!(
        ask(&mut c, &format!("set {key} 0 0 2\r\nhi\r\n"), "\r\n"),
        "STORED\r\n"
    );
    let get = fields(&line(&mut w), who);
    assert_eq!(
        get[..3],
        ["type=item_get", "key=a%23b", "status=not_found"],
        "{who}"
    );
    assert_eq!(get[4], cfd, "{who}");
    let store = fields(&line(&mut w), who);
    assert_eq!(
        store[..4],
        ["type=item_store", "key=a%23b", "status=stored", "cmd=set"],
        "{who}"
    );
    assert_eq!(store[6], cfd, "{who}");
    assert_eq!(store[7], "size=2", "{who}");
    assert_eq!(
        ask(&mut c, &format!("get {key}\r\n"), "END\r\n"),
        format!("VALUE {key} 0 2\r\nhi\r\nEND\r\n")
    );
    let hit = fields(&line(&mut w), who);
    assert_eq!(hit[2], "status=found", "{who}");
    assert_eq!(hit[5], "size=2", "{who}");
    // A protocol error closes with reason=error.
    c.write_all(b"GET / HTTP/1.1\r\n").expect("write");
    let close = fields(&line(&mut w), who);
    assert_eq!(close[0], "type=conn_close", "{who}");
    assert_eq!(close[4], "reason=error", "{who}");
    assert_eq!(close[5], cfd, "{who}");
}

#[test]
fn watch_streams_fetches_mutations_and_connection_events() {
    watch_exchange(&ours(&[]), "ours");
    if let Some(orig) = original(&[]) {
        watch_exchange(&orig, "original");
    }
    let no_watch = ours(&["-W"]);
    let mut s = connect(no_watch.addr);
    assert_eq!(
        ask(&mut s, "watch\r\n", "\r\n"),
        "CLIENT_ERROR watch commands not allowed\r\n"
    );
}

#[test]
fn a_slow_watcher_loses_lines_not_memory() {
    let mc = ours(&["-o", "watcher_logbuf_size=8"]);
    let mut w = connect(mc.addr);
    assert_eq!(ask(&mut w, "watch\r\n", "\r\n"), "OK\r\n");
    let mut w = BufReader::new(w);
    let mut c = connect(mc.addr);
    let pad = "X".repeat(180);
    // Far more log than the socket buffers and the 8 KB queue hold.
    let mut batch = String::new();
    for i in 0..40_000 {
        batch.push_str(&format!("get k{i}{pad}\r\n"));
        if i % 1000 == 999 {
            c.write_all(batch.as_bytes()).expect("write");
            let want = "END\r\n".repeat(1000);
            assert_eq!(crate::wire::read_until(&mut c, want.as_bytes()), want);
            batch.clear();
        }
    }
    let mut skipped = false;
    for _ in 0..100_000 {
        let l = line(&mut w);
        assert!(!l.is_empty(), "watcher closed");
        if l.starts_with("skipped=") {
            skipped = true;
            break;
        }
    }
    assert!(skipped);
    // The first `skipped=` read may be an early one while the watcher's
    // queue is still full of later lines, so one more fetch can itself be
    // skipped: fetch fresh keys until one is logged (the queue drains).
    w.get_ref()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut seen = false;
    'tries: for n in 0..100 {
        assert_eq!(
            ask(&mut c, &format!("get after{n}\r\n"), "END\r\n"),
            "END\r\n"
        );
        loop {
            let mut l = String::new();
            match w.read_line(&mut l) {
                Ok(0) => panic!("watcher closed"),
                Ok(_) if l.contains(" key=after") => {
                    seen = true;
                    break 'tries;
                }
                Ok(_) => {}
                Err(_) => continue 'tries,
            }
        }
    }
    assert!(seen, "no fetch was logged after the queue drained");
}

fn crawler_commands(mc: &Mc, who: &str) {
    let mut s = connect(mc.addr);
    for (req, want) in [
        (
            "lru_crawler crawl 1\r\n",
            "CLIENT_ERROR lru crawler disabled\r\n",
        ),
        (
            "lru_crawler metadump all\r\n",
            "CLIENT_ERROR lru crawler disabled\r\n",
        ),
        ("lru_crawler enable\r\n", "OK\r\n"),
        ("lru_crawler crawl 99\r\n", "BADCLASS invalid class id\r\n"),
        (
            "lru_crawler crawl bogus\r\n",
            "BADCLASS invalid class id\r\n",
        ),
        (
            "lru_crawler sleep 2000000\r\n",
            "CLIENT_ERROR sleep must be one second or less\r\n",
        ),
        ("lru_crawler sleep 100\r\n", "OK\r\n"),
        (
            "lru_crawler tocrawl x\r\n",
            "CLIENT_ERROR bad command line format\r\n",
        ),
        ("lru_crawler tocrawl 0\r\n", "OK\r\n"),
        ("lru_crawler bogus\r\n", "ERROR\r\n"),
        (
            "mg foo v\r\nlru_crawler metadump all\r\n",
            "EN\r\nERROR cannot pipeline other commands before metadump\r\n",
        ),
    ] {
        let end = if req.starts_with("mg") {
            "metadump\r\n"
        } else {
            "\r\n"
        };
        assert_eq!(ask(&mut s, req, end), want, "{who}: {req:?}");
    }
    // One item that stays, so that `stats items` keeps listing class 1.
    assert_eq!(
        ask(&mut s, "set keep 0 0 2\r\nok\r\n", "\r\n"),
        "STORED\r\n"
    );
    for i in 0..30 {
        assert_eq!(
            ask(&mut s, &format!("set sfoo{i} 0 1 2\r\nok\r\n"), "\r\n"),
            "STORED\r\n"
        );
    }
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        ask(&mut s, "lru_crawler crawl 1\r\n", "\r\n"),
        "OK\r\n",
        "{who}"
    );
    let mut reclaimed = 0;
    for _ in 0..50 {
        let items = ask(&mut s, "stats items\r\n", "END\r\n");
        reclaimed = items
            .lines()
            .find_map(|l| l.strip_prefix("STAT items:1:crawler_reclaimed "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if reclaimed == 30 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(reclaimed, 30, "{who}");
    assert_eq!(ask(&mut s, "lru_crawler disable\r\n", "\r\n"), "OK\r\n");
    // The original's crawler thread stops on its own time: the setting
    // flips once it has (bounded wait).
    let mut settings = String::new();
    for _ in 0..50 {
        settings = ask(&mut s, "stats settings\r\n", "END\r\n");
        if settings.contains("STAT lru_crawler no\r\n") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(settings.contains("STAT lru_crawler no\r\n"), "{who}");
}

#[test]
fn lru_crawler_commands_answer_and_crawl_as_the_original() {
    crawler_commands(&ours(&["-o", "no_modern"]), "ours");
    if let Some(orig) = original(&["-o", "no_modern"]) {
        crawler_commands(&orig, "original");
    }
}

/// The keys a metadump reply lists, in order.
fn dumped_keys(reply: &str) -> Vec<String> {
    let mut keys: Vec<String> = reply
        .lines()
        .filter_map(|l| l.strip_prefix("key="))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys
}

#[test]
fn issue_759_metadump_filters_by_key_prefix_and_ends_with_end() {
    let mc = ours(&[]);
    let mut s = connect(mc.addr);
    let big = "v".repeat(5000);
    for (k, v) in [
        ("user:1", "a"),
        ("user:2", "b"),
        ("user:big", big.as_str()),
        ("session:1", "c"),
        ("us", "d"),
    ] {
        assert_eq!(
            ask(
                &mut s,
                &format!("set {k} 0 0 {}\r\n{v}\r\n", v.len()),
                "\r\n"
            ),
            "STORED\r\n"
        );
    }
    let dump = |s: &mut std::net::TcpStream, args: &str| {
        let reply = ask(s, &format!("lru_crawler metadump {args}\r\n"), "END\r\n");
        assert!(reply.ends_with("END\r\n"), "{args}: {reply:?}");
        reply
    };
    assert_eq!(
        dumped_keys(&dump(&mut s, "all")),
        ["session%3A1", "us", "user%3A1", "user%3A2", "user%3Abig"]
    );
    assert_eq!(
        dumped_keys(&dump(&mut s, "all prefix=user:")),
        ["user%3A1", "user%3A2", "user%3Abig"]
    );
    assert_eq!(
        dumped_keys(&dump(&mut s, "hash prefix=session")),
        ["session%3A1"]
    );
    assert_eq!(dump(&mut s, "all prefix=nothing"), "END\r\n");
    // The class list and the prefix together: the big value is in a
    // class of its own.
    let big_class = dump(&mut s, "all prefix=user:big")
        .split(" cls=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect("cls")
        .to_owned();
    assert_eq!(
        dumped_keys(&dump(&mut s, &format!("{big_class} prefix=user:"))),
        ["user%3Abig"]
    );
    // Other words stay what the original answers.
    assert_eq!(
        ask(&mut s, "lru_crawler metadump all extra\r\n", "\r\n"),
        "ERROR\r\n"
    );
    assert_eq!(
        ask(&mut s, "lru_crawler metadump 99 prefix=u\r\n", "\r\n"),
        "BADCLASS invalid class id\r\n"
    );
}

/// The resident set of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_metadump_of_a_large_cache_is_sent_in_flat_memory() {
    let mc = ours(&["-m", "128"]);
    let mut s = connect(mc.addr);
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    // 200-byte keys, mostly `:`, which the dump writes as `%3A`: each line
    // is about 680 bytes, 80,000 of them about 54 MB, from 24 MB of items.
    let items = 80_000usize;
    let pad = ":".repeat(190);
    let key = |i: usize| format!("k{i:08}{pad}");
    for chunk in (0..items).collect::<Vec<_>>().chunks(2000) {
        let mut batch = String::new();
        for &i in chunk {
            batch.push_str(&format!("set {} 0 0 1 noreply\r\nv\r\n", key(i)));
        }
        s.write_all(batch.as_bytes()).expect("write");
    }
    assert_eq!(ask(&mut s, "mn\r\n", "\r\n"), "MN\r\n");
    let curr = super::num(&super::stats(&mut s, ""), "curr_items");
    assert_eq!(curr, items as i64, "every set is held");
    let before = rss_kb(mc.daemon.pid());

    s.write_all(b"lru_crawler metadump all\r\n").expect("write");
    let mut reply = Vec::with_capacity(64 << 20);
    let mut buf = vec![0u8; 256 * 1024];
    let mut peak = before;
    let mut next_sample = 0usize;
    while !reply.ends_with(b"\r\nEND\r\n") {
        assert!(reply.len() < 256 << 20, "runaway reply");
        let n = s.read(&mut buf).expect("read");
        assert!(n > 0, "closed after {} bytes", reply.len());
        reply.extend_from_slice(&buf[..n]);
        if reply.len() >= next_sample {
            peak = peak.max(rss_kb(mc.daemon.pid()));
            next_sample = reply.len() + (1 << 20);
        }
    }
    peak = peak.max(rss_kb(mc.daemon.pid()));
    let text = String::from_utf8(reply).expect("ascii");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"END"));
    let mut keys: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("key="))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(keys.len(), items, "one line per item");
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), items, "no item twice");
    let encoded = format!("k{:08}{}", 123, "%3A".repeat(190));
    assert!(keys.binary_search(&encoded.as_str()).is_ok());
    let dump_kb = (text.len() / 1024) as u64;
    assert!(dump_kb > 45 * 1024, "a {dump_kb} kB dump");
    // Flat: the server never held the reply whole (nor a tenth of it).
    let grew = peak.saturating_sub(before);
    eprintln!("metadump: {dump_kb} kB sent, RSS {before} -> {peak} kB");
    assert!(
        grew < dump_kb / 10,
        "RSS grew by {grew} kB ({before} -> {peak}) for a {dump_kb} kB dump"
    );
    // The connection goes on.
    assert_eq!(ask(&mut s, "mn\r\n", "\r\n"), "MN\r\n");
}
