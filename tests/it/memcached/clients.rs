//! Real third-party clients against our server: pymemcache, Perl
//! Cache::Memcached and Debian's libmemcached-tools.

use std::process::{Command, Output};

use danga_testkit::{have_command, require};

use super::ours;
use crate::wire::ask_once;

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub(super) fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn pymemcache_round_trips() {
    if !require("python3 with pymemcache (pip)", python_has("pymemcache")) {
        return;
    }
    let mc = ours(&[]);
    let script = r#"
import sys
from pymemcache.client.base import Client
c = Client((sys.argv[1], int(sys.argv[2])), timeout=5, default_noreply=False)
assert c.set("py:a", b"hello", expire=100)
assert c.get("py:a") == b"hello"
assert c.add("py:a", b"x") is False
assert c.replace("py:a", b"bye")
assert c.append("py:a", b"!") and c.prepend("py:a", b"<")
assert c.get("py:a") == b"<bye!"
c.set("py:n", b"10")
assert c.incr("py:n", 5) == 15 and c.decr("py:n", 20) == 0
value, cas = c.gets("py:a")
assert c.cas("py:a", b"new", cas) is True
assert c.cas("py:a", b"newer", cas) is False
assert c.get_many(["py:a", "py:n", "py:missing"]) == {"py:a": b"new", "py:n": b"0 "}
assert c.touch("py:a", 10)
assert c.delete("py:a") and c.get("py:a") is None
big = b"v" * 500000
c.set("py:big", big)
assert c.get("py:big") == big
stats = c.stats()
assert stats[b"cmd_get"] >= 5, stats
assert c.version() == b"1.6.18"
c.flush_all()
assert c.get("py:n") is None
print("ok")
"#;
    let out =
        run(Command::new("python3").args(["-c", script, "127.0.0.1", &mc.addr.port().to_string()]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

#[test]
fn perl_cache_memcached_round_trips() {
    let perl_ok = Command::new("perl")
        .args(["-MCache::Memcached", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require("Perl Cache::Memcached (libcache-memcached-perl)", perl_ok) {
        return;
    }
    let mc = ours(&[]);
    let script = r#"
use strict; use Cache::Memcached;
my $m = Cache::Memcached->new({ servers => [$ARGV[0]] });
$m->set("pl:a", "hello", 100) or die "set";
$m->get("pl:a") eq "hello" or die "get";
$m->set("pl:ref", { x => [1, 2, 3] }) or die "set ref";
$m->get("pl:ref")->{x}[2] == 3 or die "storable";
my $big = "z" x 200000;
$m->set("pl:big", $big) or die "set big";
length($m->get("pl:big")) == 200000 or die "get big";
$m->set("pl:n", 5);
$m->incr("pl:n", 3) == 8 or die "incr";
my $h = $m->get_multi("pl:a", "pl:n", "pl:none");
$h->{"pl:a"} eq "hello" && $h->{"pl:n"} == 8 && !exists $h->{"pl:none"} or die "get_multi";
$m->delete("pl:a") or die "delete";
defined $m->get("pl:a") and die "deleted";
print "ok\n";
"#;
    let out = run(Command::new("perl").args(["-e", script, &mc.addr.to_string()]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

#[test]
fn libmemcached_tools_work() {
    if !require(
        "libmemcached-tools (memccp, memccat, ...)",
        have_command("memccp"),
    ) {
        return;
    }
    let mc = ours(&[]);
    let servers = format!("--servers=127.0.0.1:{}", mc.addr.port());
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("payload.txt");
    std::fs::write(&file, "copied by memccp\n").expect("write");
    run(Command::new("memccp")
        .arg(&servers)
        .arg(&file)
        .current_dir(dir.path()));
    let out = run(Command::new("memccat").arg(&servers).arg("payload.txt"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "copied by memccp"
    );
    let out = run(Command::new("memcstat").arg(&servers));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("curr_items: 1") || text.contains("curr_items 1"),
        "{text}"
    );
    run(Command::new("memcrm").arg(&servers).arg("payload.txt"));
    assert_eq!(
        ask_once(mc.addr, "get payload.txt\r\n", "END\r\n"),
        "END\r\n"
    );
    run(Command::new("memccp")
        .arg(&servers)
        .arg(&file)
        .current_dir(dir.path()));
    run(Command::new("memcflush").arg(&servers));
    assert_eq!(
        ask_once(mc.addr, "get payload.txt\r\n", "END\r\n"),
        "END\r\n"
    );
}

#[test]
fn memccapable_ascii_suite_passes() {
    if !require(
        "memccapable (libmemcached-tools)",
        have_command("memccapable"),
    ) {
        return;
    }
    let mc = ours(&[]);
    let out = Command::new("memccapable")
        .args([
            "-a",
            "-t",
            "5",
            "-h",
            "127.0.0.1",
            "-p",
            &mc.addr.port().to_string(),
        ])
        .output()
        .expect("memccapable");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("[FAIL]"),
        "memccapable: {}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
