//! `stats conns` and `stats detail`, checked against the same exchange on
//! Debian's memcached 1.6.18 where it is installed.

use std::io::Write;
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
