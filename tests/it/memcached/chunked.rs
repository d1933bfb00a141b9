//! Items larger than `slab_chunk_max` are chains of chunks (issue 17):
//! they read back byte for byte around every chunk boundary, through
//! append, prepend and cas, and a page move rescues their chunks.

use std::process::Command;

use danga_testkit::require;

use super::clients::{python_has, run};
use super::{num, ours, stats};
use crate::wire::{ask, connect};

/// pymemcache sets, reads, appends to, prepends to and cas-replaces
/// values of every length around the chunk boundaries (4 KB chunks:
/// a 2-byte key's head chunk holds 4,052 value bytes, each value chunk
/// 4,058; the default 512 KB chunks too) and checks every byte.
#[test]
fn issue_17_chained_items_read_back_byte_identical() {
    if !require("python3 with pymemcache (pip)", python_has("pymemcache")) {
        return;
    }
    let script = r#"
import os, sys
from pymemcache.client.base import Client
c = Client((sys.argv[1], int(sys.argv[2])), timeout=10, default_noreply=False)
head, body = int(sys.argv[3]), int(sys.argv[4])
edges = [1, 100, head - 1, head, head + 1, head + 4, head + 5,
         head + body - 1, head + body, head + body + 1,
         head + 2 * body, head + 2 * body + 1, 100000, 1048536]
edges = [n for n in edges if n <= 1048536]
checked = 0
for n in edges:
    v = os.urandom(n)
    assert c.set("ck", v), n
    got = c.get("ck")
    assert got == v, (n, len(got or b""))
    # append and prepend make a new chain from the old one (up to -I).
    want = b"<head>" + v + b"<tail>"
    if len(want) <= 1048536:
        assert c.append("ck", b"<tail>") and c.prepend("ck", b"<head>"), n
        assert c.get("ck") == want, ("concat", n)
        v = want
    # cas replaces a chain with another only with the right unique.
    got, cas = c.gets("ck")
    assert got == v, ("gets", n)
    w = os.urandom(n)
    assert c.cas("ck", w, cas) is True, n
    assert c.cas("ck", b"stale", cas) is False, n
    assert c.get("ck") == w, ("cas", n)
    checked += 1
# Many chains side by side, then each one read back.
vals = {"k%d" % i: os.urandom(5000 + 997 * i) for i in range(60)}
for k, v in vals.items():
    assert c.set(k, v)
assert c.get_many(list(vals)) == vals
# A chained value is not a number.
try:
    c.incr("k1", 1)
    raise SystemExit("incr on a chained item")
except Exception as e:
    assert "non-numeric" in str(e) or "CLIENT_ERROR" in str(e), e
print("ok", checked == len(edges))
"#;
    for (flags, head, body) in [
        (
            &["-o", "slab_chunk_max=4096"][..],
            4096 - 38 - 2 - 4,
            4096 - 38,
        ),
        (&[][..], 524_288 - 38 - 2 - 4, 524_288 - 38),
    ] {
        let mc = ours(flags);
        let port = mc.addr.port().to_string();
        let (head, body) = (head.to_string(), body.to_string());
        let out =
            run(Command::new("python3").args(["-c", script, "127.0.0.1", &port, &head, &body]));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "ok True",
            "{flags:?}"
        );
    }
}

/// `slabs reassign` empties a page of the 4 KB class holding chained
/// items: its heads and value chunks are copied into the uncarved chunks
/// of the class's other page (`slab_reassign_rescues`,
/// `slab_reassign_chunk_rescues`), nothing is dropped, and every value
/// still reads back byte for byte.
#[test]
fn issue_17_a_page_move_rescues_value_chunks() {
    // One shard (-m 4 -t 1), no automatic moves.
    let mc = ours(&[
        "-m",
        "4",
        "-t",
        "1",
        "-o",
        "slab_chunk_max=4096,slab_automove=0",
    ]);
    let mut s = connect(mc.addr);
    let value = |i: usize| -> String {
        (0..11_000)
            .map(|j| char::from(b'A' + ((i * 7 + j / 13) % 26) as u8))
            .collect()
    };
    // 38 + 4..5 + 11,000 bytes: a head and two value chunks of 4 KB. 120
    // items fill the first page (256 chunks) and 104 chunks of a second.
    for i in 0..120 {
        let v = value(i);
        let r = ask(
            &mut s,
            &format!("set c{i} 0 0 {}\r\n{v}\r\n", v.len()),
            "\r\n",
        );
        assert_eq!(r, "STORED\r\n", "c{i}");
    }
    // The oldest 40 go: the first page keeps 136 chunks in use.
    for i in 0..40 {
        assert_eq!(
            ask(&mut s, &format!("delete c{i}\r\n"), "\r\n"),
            "DELETED\r\n"
        );
    }
    let slabs = stats(&mut s, " slabs");
    assert_eq!(num(&slabs, "17:chunk_size"), 4096);
    assert_eq!(num(&slabs, "17:total_pages"), 2);
    let before = stats(&mut s, "");
    for name in [
        "slab_reassign_chunk_rescues",
        "slab_reassign_rescues",
        "slab_reassign_evictions_nomem",
        "slab_reassign_running",
        "slabs_moved",
    ] {
        assert_eq!(num(&before, name), 0, "{name} before");
    }
    assert_eq!(ask(&mut s, "slabs reassign 17 0\r\n", "\r\n"), "OK\r\n");
    let after = stats(&mut s, "");
    let chunks = num(&after, "slab_reassign_chunk_rescues");
    let heads = num(&after, "slab_reassign_rescues");
    assert!(chunks > 0 && heads > 0, "{chunks} chunks, {heads} heads");
    assert_eq!(chunks + heads, 136, "every chunk in use on the page moved");
    assert_eq!(num(&after, "slab_reassign_evictions_nomem"), 0);
    assert_eq!(num(&after, "slab_reassign_running"), 0, "the move is over");
    assert_eq!(num(&after, "slabs_moved"), 1);
    assert_eq!(num(&after, "slab_global_page_pool"), 1);
    assert_eq!(num(&after, "curr_items"), 80);
    assert_eq!(num(&stats(&mut s, " slabs"), "17:total_pages"), 1);
    for i in 40..120 {
        let v = value(i);
        assert_eq!(
            ask(&mut s, &format!("get c{i}\r\n"), "END\r\n"),
            format!("VALUE c{i} 0 {}\r\n{v}\r\nEND\r\n", v.len()),
            "c{i} after the move"
        );
    }
    // The meta protocol reads chains the same way.
    let v = value(77);
    assert_eq!(
        ask(&mut s, "mg c77 v s f\r\n", &format!("{v}\r\n")),
        format!("VA {} s{} f0\r\n{v}\r\n", v.len(), v.len())
    );
    // The class is down to its last page.
    assert_eq!(
        ask(&mut s, "slabs reassign 17 0\r\n", "\r\n"),
        "NOSPARE source class has no spare pages\r\n"
    );
}
