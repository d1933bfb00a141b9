//! danga-memcached's client against three of our servers: the same key
//! owners as Perl Cache::Memcached and as pylibmc (ketama and
//! ketama_weighted), computed live by those libraries; multi-get across
//! servers; a dead server costs only its own keys.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use danga_memcached::client::{Client, Config, Distribution};
use danga_testkit::require;

use super::{ours, Mc};
use crate::wire::{connect, read_until};

const KEYS: usize = 1000;

fn keys() -> Vec<String> {
    (0..KEYS).map(|i| format!("owner:{i}")).collect()
}

/// Which of `servers` holds each key, asked of the servers themselves.
fn holders(servers: &[SocketAddr], keys: &[String]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for (i, addr) in servers.iter().enumerate() {
        let mut s = connect(*addr);
        for chunk in keys.chunks(100) {
            s.write_all(format!("get {}\r\n", chunk.join(" ")).as_bytes())
                .expect("write");
            let reply = read_until(&mut s, b"END\r\n");
            for line in reply.lines().filter_map(|l| l.strip_prefix("VALUE ")) {
                let key = line.split(' ').next().unwrap_or_default().to_owned();
                assert!(out.insert(key.clone(), i).is_none(), "{key} on two servers");
            }
        }
    }
    out
}

fn flush(servers: &[SocketAddr]) {
    for a in servers {
        let mut s = connect(*a);
        s.write_all(b"flush_all\r\n").expect("write");
        read_until(&mut s, b"\r\n");
    }
}

fn three() -> (Vec<Mc>, Vec<SocketAddr>) {
    let mcs: Vec<Mc> = (0..3).map(|_| ours(&[])).collect();
    let addrs = mcs.iter().map(|m| m.addr).collect();
    (mcs, addrs)
}

fn rust_owners(
    dist: Distribution,
    servers: &[(String, u32)],
    keys: &[String],
) -> HashMap<String, usize> {
    let mut cfg = Config::new(Vec::<String>::new(), dist);
    cfg.servers = servers.to_vec();
    let c = Client::new(cfg);
    keys.iter()
        .map(|k| (k.clone(), c.owner(k.as_bytes()).expect("owner").0))
        .collect()
}

fn assert_same(what: &str, theirs: &HashMap<String, usize>, mine: &HashMap<String, usize>) {
    assert_eq!(theirs.len(), KEYS, "{what}: every key stored somewhere");
    let differ: Vec<_> = theirs
        .iter()
        .filter(|(k, v)| mine.get(*k) != Some(v))
        .take(5)
        .collect();
    assert!(differ.is_empty(), "{what}: owners differ, e.g. {differ:?}");
    let per: Vec<usize> = (0..3)
        .map(|i| theirs.values().filter(|&&v| v == i).count())
        .collect();
    assert!(
        per.iter().all(|&n| n > 0),
        "{what}: every server owns keys: {per:?}"
    );
}

#[test]
fn same_owners_as_perl_cache_memcached_with_weights() {
    let perl_ok = Command::new("perl")
        .args(["-MCache::Memcached", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !require("Perl Cache::Memcached (libcache-memcached-perl)", perl_ok) {
        return;
    }
    let (_mcs, addrs) = three();
    let servers: Vec<(String, u32)> = addrs
        .iter()
        .zip([1, 3, 2])
        .map(|(a, w)| (a.to_string(), w))
        .collect();
    let script = r#"
use strict; use Cache::Memcached;
my @s = map { my ($a, $w) = split /=/; [$a, $w] } @ARGV;
my $m = Cache::Memcached->new({ servers => \@s });
$m->set("owner:$_", "1") or die "set owner:$_" for 0 .. 999;
"#;
    let mut cmd = Command::new("perl");
    cmd.args(["-e", script]);
    for (a, w) in &servers {
        cmd.arg(format!("{a}={w}"));
    }
    let out = cmd.output().expect("perl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys = keys();
    assert_same(
        "Cache::Memcached",
        &holders(&addrs, &keys),
        &rust_owners(Distribution::Modulo, &servers, &keys),
    );
}

fn python_has(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn same_owners_as_pylibmc_ketama_and_ketama_weighted() {
    if !require("python3 with pylibmc (pip)", python_has("pylibmc")) {
        return;
    }
    let (_mcs, addrs) = three();
    let keys = keys();
    for (behavior, dist, weights) in [
        ("ketama", Distribution::Ketama, [1, 1, 1]),
        ("ketama_weighted", Distribution::KetamaWeighted, [3, 1, 2]),
    ] {
        flush(&addrs);
        let servers: Vec<(String, u32)> = addrs
            .iter()
            .zip(weights)
            .map(|(a, w)| (a.to_string(), w))
            .collect();
        let specs: Vec<String> = servers.iter().map(|(a, w)| format!("{a}:{w}")).collect();
        let script = format!(
            "import pylibmc, sys\nc = pylibmc.Client(sys.argv[1:], behaviors={{'{behavior}': True}})\nfor i in range({KEYS}):\n    assert c.set('owner:%d' % i, '1')\n"
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .args(&specs)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_same(
            behavior,
            &holders(&addrs, &keys),
            &rust_owners(dist, &servers, &keys),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_get_spans_servers_and_a_dead_server_costs_only_its_keys() {
    let (mut mcs, addrs) = three();
    let mut cfg = Config::new(addrs.iter().map(ToString::to_string), Distribution::Ketama);
    cfg.timeout = Duration::from_millis(500);
    let client = Client::new(cfg);
    let keys = keys();
    for k in &keys {
        assert!(client
            .set(k.as_bytes(), format!("v-{k}").as_bytes(), 7, 0)
            .await
            .expect("set"));
    }
    let got = client.get_multi(&keys).await.expect("get_multi");
    assert_eq!(got.len(), KEYS, "every value comes back");
    assert!(keys
        .iter()
        .all(|k| got[k.as_bytes()].value == format!("v-{k}").into_bytes()));
    let owners: Vec<usize> = keys
        .iter()
        .map(|k| client.owner(k.as_bytes()).expect("owner").0)
        .collect();

    // Kill the second server.
    let dead = mcs.remove(1);
    drop(dead);
    let start = tokio::time::Instant::now();
    let got = client.get_multi(&keys).await.expect("get_multi");
    for (k, o) in keys.iter().zip(&owners) {
        assert_eq!(got.contains_key(k.as_bytes()), *o != 1, "{k} (owner {o})");
    }
    // Marked dead: later requests skip it at once, its keys go to the next
    // server on the ring, and every other key stays where it was.
    for (k, o) in keys.iter().zip(&owners) {
        let now = client.owner(k.as_bytes()).expect("owner").0;
        if *o == 1 {
            assert_ne!(now, 1);
            assert!(client
                .set(k.as_bytes(), b"moved", 0, 0)
                .await
                .expect("set on the next server"));
        } else {
            assert_eq!(now, *o);
            assert!(client.get(k.as_bytes()).await.expect("get").is_some());
        }
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "bounded latency: {:?}",
        start.elapsed()
    );
    assert_eq!(
        client.get_multi(&keys).await.expect("get_multi").len(),
        KEYS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_times_out_once_then_is_skipped() {
    let (mcs, addrs) = three();
    let mut cfg = Config::new(addrs.iter().map(ToString::to_string), Distribution::Ketama);
    cfg.timeout = Duration::from_millis(300);
    let client = Client::new(cfg);
    let keys = keys();
    let victim = keys
        .iter()
        .find(|k| client.owner(k.as_bytes()).expect("owner").0 == 2)
        .expect("a key on server 2");
    mcs[2].daemon.freeze();
    let start = tokio::time::Instant::now();
    let first = client.get(victim.as_bytes()).await;
    assert!(
        matches!(first, Err(danga_memcached::client::Error::Timeout)),
        "{first:?}"
    );
    // From now on its keys go elsewhere without waiting.
    for k in keys.iter().take(200) {
        assert!(client
            .set(k.as_bytes(), b"x", 0, 0)
            .await
            .expect("set")
            .then_some(())
            .is_some());
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "one timeout, not one per request: {:?}",
        start.elapsed()
    );
    mcs[2].daemon.signal(nix::sys::signal::Signal::SIGCONT);
}

#[test]
fn memcctl_get_set_delete_stats_owner() {
    let (_mcs, addrs) = three();
    let servers = addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let ctl = |args: &[&str]| {
        Command::new(danga_testkit::bin_path("memcctl"))
            .arg("--servers")
            .arg(&servers)
            .arg("--hash")
            .arg("ketama")
            .args(args)
            .output()
            .expect("memcctl")
    };
    assert!(ctl(&["set", "greeting", "hello"]).status.success());
    let out = ctl(&["get", "greeting"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
    let owner = String::from_utf8_lossy(&ctl(&["owner", "greeting"]).stdout)
        .trim()
        .to_owned();
    let owner: SocketAddr = owner.parse().expect("owner is host:port");
    assert_eq!(
        holders(&addrs, &["greeting".to_owned()])
            .get("greeting")
            .map(|&i| addrs[i]),
        Some(owner)
    );
    let stats = String::from_utf8_lossy(&ctl(&["stats"]).stdout).into_owned();
    assert_eq!(
        stats.lines().filter(|l| l.contains(" curr_items ")).count(),
        3,
        "{stats}"
    );
    assert!(ctl(&["delete", "greeting"]).status.success());
    assert_eq!(ctl(&["get", "greeting"]).status.code(), Some(1));
}

#[tokio::test]
async fn every_text_command_through_the_client() {
    use danga_memcached::client::CasResult;
    let mc = ours(&[]);
    let client = Client::new(Config::new([mc.addr.to_string()], Distribution::Modulo));
    assert!(client.set(b"a", b"1", 5, 0).await.expect("set"));
    assert!(!client.add(b"a", b"2", 0, 0).await.expect("add"));
    assert!(client.replace(b"a", b"10", 6, 0).await.expect("replace"));
    assert!(
        client.append(b"a", b"0").await.expect("append")
            && client.prepend(b"a", b"1").await.expect("prepend")
    );
    let item = client.gets(b"a").await.expect("gets").expect("hit");
    assert_eq!((item.value.as_slice(), item.flags), (&b"1100"[..], 6));
    let cas = item.cas.expect("cas");
    assert_eq!(
        client.cas(b"a", b"7", 0, 0, cas).await.expect("cas"),
        CasResult::Stored
    );
    assert_eq!(
        client.cas(b"a", b"8", 0, 0, cas).await.expect("cas"),
        CasResult::Exists
    );
    assert_eq!(
        client.cas(b"zz", b"8", 0, 0, cas).await.expect("cas"),
        CasResult::NotFound
    );
    assert_eq!(client.incr(b"a", 5).await.expect("incr"), Some(12));
    assert_eq!(client.decr(b"a", 100).await.expect("decr"), Some(0));
    assert_eq!(client.incr(b"nope", 1).await.expect("incr"), None);
    assert!(client.touch(b"a", 100).await.expect("touch"));
    assert!(client.gat(100, b"a").await.expect("gat").is_some());
    assert!(client
        .gats(100, b"a")
        .await
        .expect("gats")
        .expect("hit")
        .cas
        .is_some());
    assert!(
        client.delete(b"a").await.expect("delete") && !client.delete(b"a").await.expect("delete")
    );
    assert!(matches!(
        client.get(b"bad key").await,
        Err(danga_memcached::client::Error::BadKey)
    ));
    assert!(client.verbosity(1).await.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(
        client.version().await[0].1.as_deref().expect("version"),
        "1.6.18"
    );
    client.set(b"b", b"x", 0, 0).await.expect("set");
    assert!(client.flush_all().await.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(client.get(b"b").await.expect("get"), None);
}
