//! Wire rows: bytes in, the exact bytes out. Every row runs against our
//! server and Debian's memcached 1.6.18 in the same test; both must give
//! the expected reply. `{k}` in a row becomes a key unique to that row;
//! `{n}` in an expected reply matches any (possibly negative) number, for
//! values that differ between servers (CAS uniques). Each request is
//! followed by `mn`, whose `MN` marks the end of the reply.

use std::io::Write;
use std::net::TcpStream;

use super::{original, ours};
use crate::wire::{connect, read_until};

/// (name, request, expected reply)
const ROWS: &[(&str, &str, &str)] = &[
    ("version", "version\r\n", "VERSION 1.6.18\r\n"),
    ("empty line", "\r\n", "ERROR\r\n"),
    ("unknown command", "bogus\r\n", "ERROR\r\n"),
    ("commands are case sensitive", "GET {k}\r\n", "ERROR\r\n"),
    ("get miss", "get {k}\r\n", "END\r\n"),
    ("get with no key", "get\r\n", "ERROR\r\n"),
    ("set then get", "set {k} 5 0 3\r\nabc\r\nget {k}\r\n", "STORED\r\nVALUE {k} 5 3\r\nabc\r\nEND\r\n"),
    ("bare LF lines", "set {k} 0 0 1\nx\r\nget {k}\n", "STORED\r\nVALUE {k} 0 1\r\nx\r\nEND\r\n"),
    ("gets shows cas", "set {k} 0 0 1\r\nx\r\ngets {k}\r\n", "STORED\r\nVALUE {k} 0 1 {n}\r\nx\r\nEND\r\n"),
    ("multi get keeps order and duplicates", "set {k}a 0 0 1\r\na\r\nset {k}b 0 0 1\r\nb\r\nget {k}b {k}x {k}a {k}b\r\n", "STORED\r\nSTORED\r\nVALUE {k}b 0 1\r\nb\r\nVALUE {k}a 0 1\r\na\r\nVALUE {k}b 0 1\r\nb\r\nEND\r\n"),
    ("data with CRLF inside", "set {k} 0 0 4\r\na\r\nb\r\nget {k}\r\n", "STORED\r\nVALUE {k} 0 4\r\na\r\nb\r\nEND\r\n"),
    ("max flags", "set {k} 4294967295 0 1\r\nx\r\nget {k}\r\n", "STORED\r\nVALUE {k} 4294967295 1\r\nx\r\nEND\r\n"),
    ("flags wrap at 2^32", "set {k} 4294967296 0 1\r\nx\r\nget {k}\r\n", "STORED\r\nVALUE {k} 0 1\r\nx\r\nEND\r\n"),
    ("declared length past INT_MAX", "set {k} 0 0 4294967295\r\n", "CLIENT_ERROR bad command line format\r\n"),
    ("add existing", "set {k} 0 0 1\r\nx\r\nadd {k} 0 0 1\r\ny\r\nget {k}\r\n", "STORED\r\nNOT_STORED\r\nVALUE {k} 0 1\r\nx\r\nEND\r\n"),
    ("add new", "add {k} 0 0 1\r\ny\r\n", "STORED\r\n"),
    ("replace missing", "replace {k} 0 0 1\r\ny\r\n", "NOT_STORED\r\n"),
    ("replace existing", "set {k} 0 0 1\r\nx\r\nreplace {k} 7 0 2\r\nyy\r\nget {k}\r\n", "STORED\r\nSTORED\r\nVALUE {k} 7 2\r\nyy\r\nEND\r\n"),
    ("append and prepend keep flags", "set {k} 3 0 2\r\nbb\r\nappend {k} 9 0 1\r\nc\r\nprepend {k} 9 0 1\r\na\r\nget {k}\r\n", "STORED\r\nSTORED\r\nSTORED\r\nVALUE {k} 3 4\r\nabbc\r\nEND\r\n"),
    ("append missing", "append {k} 0 0 1\r\nc\r\n", "NOT_STORED\r\n"),
    ("cas missing", "cas {k} 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n"),
    ("cas mismatch", "set {k} 0 0 1\r\nx\r\ncas {k} 0 0 1 999999999\r\ny\r\n", "STORED\r\nEXISTS\r\n"),
    ("bad data chunk resyncs", "set {k} 0 0 3\r\nabcde\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n"),
    ("negative length", "set {k} 0 0 -1\r\n", "CLIENT_ERROR bad command line format\r\n"),
    ("too few tokens", "set {k} 0 0\r\n", "ERROR\r\n"),
    ("noreply set", "set {k} 0 0 1 noreply\r\nx\r\nget {k}\r\n", "VALUE {k} 0 1\r\nx\r\nEND\r\n"),
    ("delete", "set {k} 0 0 1\r\nx\r\ndelete {k}\r\ndelete {k}\r\n", "STORED\r\nDELETED\r\nNOT_FOUND\r\n"),
    ("delete with 0", "set {k} 0 0 1\r\nx\r\ndelete {k} 0\r\n", "STORED\r\nDELETED\r\n"),
    ("delete with a time", "delete {k} 5\r\n", "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
    ("delete noreply", "set {k} 0 0 1\r\nx\r\ndelete {k} noreply\r\nget {k}\r\n", "STORED\r\nEND\r\n"),
    ("incr", "set {k} 0 0 2\r\n10\r\nincr {k} 5\r\nget {k}\r\n", "STORED\r\n15\r\nVALUE {k} 0 2\r\n15\r\nEND\r\n"),
    ("incr grows the value", "set {k} 0 0 2\r\n99\r\nincr {k} 1\r\nget {k}\r\n", "STORED\r\n100\r\nVALUE {k} 0 3\r\n100\r\nEND\r\n"),
    ("incr wraps at 2^64", "set {k} 0 0 20\r\n18446744073709551615\r\nincr {k} 2\r\n", "STORED\r\n1\r\n"),
    ("decr floors at zero", "set {k} 0 0 1\r\n5\r\ndecr {k} 9\r\n", "STORED\r\n0\r\n"),
    ("decr pads with spaces", "set {k} 0 0 3\r\n100\r\ndecr {k} 1\r\nget {k}\r\n", "STORED\r\n99\r\nVALUE {k} 0 3\r\n99 \r\nEND\r\n"),
    ("incr non-numeric", "set {k} 0 0 3\r\nabc\r\nincr {k} 1\r\n", "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
    ("incr bad delta", "incr {k} abc\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n"),
    ("incr missing", "incr {k} 1\r\n", "NOT_FOUND\r\n"),
    ("touch", "set {k} 0 0 1\r\nx\r\ntouch {k} 100\r\ntouch {k}x 100\r\n", "STORED\r\nTOUCHED\r\nNOT_FOUND\r\n"),
    ("negative exptime expires at once", "set {k} 0 -1 1\r\nx\r\nget {k}\r\n", "STORED\r\nEND\r\n"),
    ("absolute exptime in the past", "set {k} 0 1000000000 1\r\nx\r\nget {k}\r\n", "STORED\r\nEND\r\n"),
    ("gat", "set {k} 0 0 1\r\nx\r\ngat 100 {k}\r\n", "STORED\r\nVALUE {k} 0 1\r\nx\r\nEND\r\n"),
    ("gats", "set {k} 0 0 1\r\nx\r\ngats 100 {k}\r\n", "STORED\r\nVALUE {k} 0 1 {n}\r\nx\r\nEND\r\n"),
    ("gat bad exptime", "gat abc {k}\r\n", "CLIENT_ERROR invalid exptime argument\r\n"),
    ("verbosity", "verbosity 1\r\n", "OK\r\n"),
    ("verbosity noreply", "verbosity 1 noreply\r\n", ""),
    ("verbosity without level", "verbosity\r\n", "ERROR\r\n"),
    ("key too long", "get {long}\r\n", "CLIENT_ERROR bad command line format\r\n"),
    ("stats unknown", "stats bogus\r\n", "ERROR\r\n"),
    ("slabs automove checks its level", "slabs automove invalid\r\nslabs automove 3\r\nslabs automove 1\r\nslabs automove ratio 0.5\r\nslabs automove ratio\r\n", "CLIENT_ERROR bad command line format\r\nERROR\r\nOK\r\nOK\r\nERROR\r\n"),
    ("shutdown is off without -A", "shutdown\r\nshutdown graceful\r\nshutdown foo\r\n", "ERROR: shutdown not enabled\r\nERROR: shutdown not enabled\r\nERROR: shutdown not enabled\r\n"),
    ("ms with a bad cas echoes c0", "ms {k} 2\r\nbo\r\nms {k} 2 c C999999999\r\nio\r\n", "HD\r\nEX c0\r\n"),
    ("a stale ms keeps the ttl and the sent token", "set {k} 0 0 3\r\nmoo\r\nmd {k} I T30\r\nmg {k} s c v\r\nms {k} 1 I T90 C1\r\nf\r\nmg {k} s t v\r\n", "STORED\r\nHD\r\nVA 3 s3 c{n} X W\r\nmoo\r\nHD\r\nVA 1 s1 t{n} Z X\r\nf\r\n"),
    // Meta protocol.
    ("mn", "", ""),
    ("mg miss", "mg {k} v\r\n", "EN\r\n"),
    ("mg miss quiet", "mg {k} v q\r\n", ""),
    ("mg no key", "mg\r\n", "ERROR\r\n"),
    ("mg invalid flag", "mg {k} zz\r\n", "CLIENT_ERROR invalid flag\r\n"),
    ("mg duplicate flag", "mg {k} v v\r\n", "CLIENT_ERROR duplicate flag\r\n"),
    ("ms then mg flags in request order", "ms {k} 2 T0 F5\r\nhi\r\nmg {k} s v f k O123 h t\r\n", "HD\r\nVA 2 s2 f5 k{k} O123 h0 t-1\r\nhi\r\n"),
    ("mg hit without v", "ms {k} 2\r\nhi\r\nmg {k}\r\nmg {k} q\r\n", "HD\r\nHD\r\nHD\r\n"),
    ("mg h after a fetch", "ms {k} 2\r\nhi\r\nmg {k} h\r\nmg {k} h\r\n", "HD\r\nHD h0\r\nHD h1\r\n"),
    ("mg miss echoes O and k", "mg {k} O77 k v\r\n", "EN O77 k{k}\r\n"),
    ("mg opaque too long", "mg {k} O123456789012345678901234567890123 v\r\n", "CLIENT_ERROR opaque token too long\r\n"),
    ("mg vivify", "mg {k} v N30 c\r\nmg {k} v N30 c\r\n", "VA 0 c{n} W\r\n\r\nVA 0 c{n} Z\r\n\r\n"),
    ("mg base64 key", "ms Zm9vYmFy 2 b\r\nhi\r\nmg Zm9vYmFy b k v\r\n", "HD\r\nVA 2 kZm9vYmFy b\r\nhi\r\n"),
    ("mg bad base64", "mg n{k} b k\r\n", "CLIENT_ERROR error decoding key\r\n"),
    ("ms quiet hides HD only", "ms {k} 2 q\r\nhi\r\nms {k} 2 q ME\r\nhi\r\n", "NS\r\n"),
    ("ms append mode", "ms {k} 2\r\nhi\r\nms {k} 2 MA\r\nXY\r\nmg {k} v\r\n", "HD\r\nHD\r\nVA 4\r\nhiXY\r\n"),
    ("ms prepend mode", "ms {k} 2\r\nhi\r\nms {k} 2 MP\r\nXY\r\nmg {k} v\r\n", "HD\r\nHD\r\nVA 4\r\nXYhi\r\n"),
    ("ms replace missing", "ms {k} 2 MR\r\nXY\r\n", "NS\r\n"),
    ("ms add existing", "ms {k} 2\r\nhi\r\nms {k} 2 ME\r\nXY\r\n", "HD\r\nNS\r\n"),
    ("ms cas mismatch", "ms {k} 2\r\nhi\r\nms {k} 2 C999999\r\nXY\r\n", "HD\r\nEX\r\n"),
    ("ms echoes only O k c, c0 on failure", "ms {k} 2 c s f T0 O9 k\r\nhi\r\nms {k} 2 c C999999 O8\r\nXY\r\n", "HD c{n} O9 k{k}\r\nEX c0 O8\r\n"),
    ("stale ms keeps TTL and win token", "ms {k} 3 T30\r\nmoo\r\nmd {k} I T30\r\nmg {k} c\r\nms {k} 1 I T90 C1\r\nf\r\nmg {k} t v\r\n", "HD\r\nHD\r\nHD c{n} X W\r\nHD\r\nVA 1 t{n} Z X\r\nf\r\n"),
    ("ms cas on missing", "ms {k} 2 C1\r\nXY\r\n", "NF\r\n"),
    ("ms bad data chunk", "ms {k} 2\r\nhello\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n"),
    ("ms negative ttl", "ms {k} 2 T-1\r\nhi\r\nmg {k} v\r\n", "HD\r\nEN\r\n"),
    ("ms returns cas", "ms {k} 2 c\r\nhi\r\n", "HD c{n}\r\n"),
    ("md", "ms {k} 2\r\nhi\r\nmd {k}\r\nmd {k}\r\n", "HD\r\nHD\r\nNF\r\n"),
    ("md quiet shows NF", "md {k} q\r\n", "NF\r\n"),
    ("md quiet hides HD", "ms {k} 2\r\nhi\r\nmd {k} q\r\n", "HD\r\n"),
    ("md cas mismatch", "ms {k} 2\r\nhi\r\nmd {k} C999999 q\r\n", "HD\r\nEX\r\n"),
    ("md invalidate then win", "ms {k} 2\r\nhi\r\nmd {k} I T30\r\nmg {k} v\r\nmg {k} v\r\n", "HD\r\nHD\r\nVA 2 X W\r\nhi\r\nVA 2 Z X\r\nhi\r\n"),
    ("ma miss", "ma {k}\r\nma {k} q\r\n", "NF\r\nNF\r\n"),
    ("ma vivify with initial", "ma {k} N0 J10 D3 v t\r\nma {k} v\r\nma {k} MD D100 v\r\n", "VA 2 t-1\r\n10\r\nVA 2\r\n11\r\nVA 1\r\n0\r\n"),
    ("ma non-numeric", "ms {k} 3\r\nabc\r\nma {k}\r\n", "HD\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
    ("ma quiet hides HD", "ms {k} 1\r\n1\r\nma {k} q\r\nmg {k} v\r\n", "HD\r\nVA 1\r\n2\r\n"),
    ("me miss", "me {k}\r\n", "EN\r\n"),
];

/// Matches `got` against `want`, where `{n}` stands for a decimal number.
fn matches(want: &str, got: &str) -> bool {
    let mut parts = want.split("{n}");
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = got.strip_prefix(first) else {
        return false;
    };
    for part in parts {
        let digits = rest.strip_prefix('-').unwrap_or(rest);
        let n = digits.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &digits[n..];
        let Some(r) = rest.strip_prefix(part) else {
            return false;
        };
        rest = r;
    }
    rest.is_empty()
}

fn run_rows(s: &mut TcpStream, server: &str) -> Vec<String> {
    let mut failures = Vec::new();
    for (i, (name, req, want)) in ROWS.iter().enumerate() {
        let key = format!("row{i}x");
        let req = req.replace("{k}", &key).replace("{long}", &"k".repeat(251));
        let want = want.replace("{k}", &key);
        s.write_all(req.as_bytes()).expect("write");
        s.write_all(b"mn\r\n").expect("write");
        let got = read_until(s, b"MN\r\n");
        let got = got.strip_suffix("MN\r\n").unwrap_or(&got);
        if !matches(&want, got) {
            failures.push(format!(
                "{server}: row {name:?}\n  sent {req:?}\n  want {want:?}\n  got  {got:?}"
            ));
        }
    }
    failures
}

#[test]
fn wire_rows_match_the_original_byte_for_byte() {
    let mine = ours(&[]);
    let mut failures = run_rows(&mut connect(mine.addr), "danga");
    if let Some(orig) = original(&[]) {
        failures.extend(run_rows(&mut connect(orig.addr), "memcached 1.6.18"));
    }
    assert!(
        failures.is_empty(),
        "{} row(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn too_large_values_are_swallowed_and_delete_the_old_value() {
    let big = "x".repeat(1024 * 1024 + 10);
    for (server, mc) in [
        ("danga", Some(ours(&[]))),
        ("memcached 1.6.18", original(&[])),
    ] {
        let Some(mc) = mc else { continue };
        let mut s = connect(mc.addr);
        let req = format!(
            "set big 0 0 1\r\nx\r\nset big 0 0 {}\r\n{big}\r\nget big\r\nmn\r\n",
            big.len()
        );
        s.write_all(req.as_bytes()).expect("write");
        let got = read_until(&mut s, b"MN\r\n");
        assert_eq!(
            got, "STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\nMN\r\n",
            "{server}"
        );
    }
}

#[test]
fn the_matcher_matches_numbers_only() {
    assert!(matches("VALUE k 0 1 {n}\r\n", "VALUE k 0 1 42\r\n"));
    assert!(matches("t{n} x", "t-1 x"));
    assert!(!matches("VALUE k 0 1 {n}\r\n", "VALUE k 0 1 \r\n"));
    assert!(!matches("a", "ab"));
}

/// A stale `ms` (`I` with a lower CAS) keeps the invalidated item's expiry,
/// as the original (t/metaget.t): the row above cannot pin the seconds.
#[test]
fn a_stale_set_keeps_the_old_ttl() {
    let mc = ours(&[]);
    let mut s = connect(mc.addr);
    s.write_all(b"ms st 3 T30\r\nmoo\r\nmd st I T30\r\nms st 1 I T90 C1\r\nf\r\nmg st t\r\n")
        .expect("write");
    let reply = read_until(&mut s, b" X W\r\n");
    let ttl: i64 = reply
        .rsplit_once(" t")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no TTL in {reply:?}"));
    assert!((1..=30).contains(&ttl), "TTL {ttl} in {reply:?}");
}
