//! Replication with three storage nodes (issue 11): copies reach the
//! class's mindevcount on distinct hosts, dead devices are re-replicated by
//! the reaper, device states and weights steer where files go.

use std::collections::{HashMap, HashSet};
use std::net::TcpStream;
use std::time::Duration;

use danga_testkit::wait_for;
use nix::sys::signal::Signal;

use super::commands::store_with;
use super::{admin, call, err, get, line, ok, put, Cluster};

/// How long replication may take in these tests.
const REPLICATED: Duration = Duration::from_secs(15);

/// The paths get_paths gives (unverified, up to 10).
fn paths(s: &mut TcpStream, key: &str) -> Vec<String> {
    let r = ok(&call(
        s,
        &line(
            "get_paths",
            &[
                ("domain", "d"),
                ("key", key),
                ("noverify", "1"),
                ("pathcount", "10"),
            ],
        ),
    ));
    let n: usize = r.get("paths").expect("paths").parse().expect("n");
    (1..=n)
        .map(|i| r.get(&format!("path{i}")).expect("pathN").to_owned())
        .collect()
}

/// The devids a key's file is on.
fn devids(s: &mut TcpStream, key: &str) -> Vec<u32> {
    let r = ok(&call(
        s,
        &line(
            "file_info",
            &[("domain", "d"), ("key", key), ("devices", "1")],
        ),
    ));
    r.get("devids")
        .unwrap_or("")
        .split(',')
        .filter_map(|d| d.parse().ok())
        .collect()
}

/// The host (node index) of a devid: node i holds dev 2i+1 and 2i+2.
fn host_of(devid: u32) -> u32 {
    (devid - 1) / 2
}

/// Waits until `key` is on `n` devices of `n` distinct hosts, each copy
/// readable and equal to `data`.
fn wait_copies(s: &mut TcpStream, key: &str, n: usize, data: &[u8]) {
    let done = wait_for(REPLICATED, || {
        let ids = devids(s, key);
        let hosts: HashSet<u32> = ids.iter().map(|&d| host_of(d)).collect();
        ids.len() == n && hosts.len() == n
    });
    assert!(done, "{key}: on {:?}, wanted {n} hosts", devids(s, key));
    let urls = paths(s, key);
    assert_eq!(urls.len(), n, "{urls:?}");
    for u in urls {
        assert_eq!(get(&u), (200, data.to_vec()), "{u}");
    }
}

fn class(s: &mut TcpStream, name: &str, args: &str) {
    let r = call(s, &format!("create_class domain=d&class={name}&{args}"));
    assert!(r.starts_with("OK "), "{r}");
}

#[test]
fn mogilefs_replication_reaches_mindevcount_on_distinct_hosts() {
    let c = Cluster::start(3);
    let mut s = c.conn();
    class(&mut s, "one", "mindevcount=1");
    class(&mut s, "three", "mindevcount=3");
    class(
        &mut s,
        "devs",
        "mindevcount=1&replpolicy=MultipleDevices(4)",
    );
    let data = b"replicate me".to_vec();
    for (key, cls) in [
        ("two", "c"),
        ("three", "three"),
        ("one", "one"),
        ("devs", "devs"),
    ] {
        let (r, _, _) = store_with(&mut s, key, cls, &data, &[]);
        assert_eq!(r, "OK \r\n", "{key}");
    }
    wait_copies(&mut s, "two", 2, &data);
    wait_copies(&mut s, "three", 3, &data);
    let four = wait_for(REPLICATED, || devids(&mut s, "devs").len() == 4);
    assert!(four, "MultipleDevices(4): {:?}", devids(&mut s, "devs"));
    // Nothing left queued, and the single-copy class was not copied.
    let drained = wait_for(REPLICATED, || {
        admin(&mut s, "!stats").contains(&"work_queue_for_replicate 0".to_owned())
    });
    assert!(drained, "{:?}", admin(&mut s, "!stats"));
    assert_eq!(devids(&mut s, "one").len(), 1);
    let info = ok(&call(&mut s, "file_info domain=d&key=three"));
    assert_eq!(info.get("devcount"), Some("3"));
    let stats = admin(&mut s, "!stats");
    assert!(
        stats
            .iter()
            .any(|l| l.starts_with("work_sent_to_replicate ")),
        "{stats:?}"
    );
    assert!(admin(&mut s, "!jobs").contains(&"replicate count 1".to_owned()));

    // A larger mindevcount through updateclass adds copies; a smaller one
    // removes the extra ones.
    assert_eq!(
        call(&mut s, "updateclass domain=d&key=one&class=three"),
        "OK \r\n"
    );
    wait_copies(&mut s, "one", 3, &data);
    assert_eq!(
        call(&mut s, "updateclass domain=d&key=three&class=c"),
        "OK \r\n"
    );
    wait_copies(&mut s, "three", 2, &data);
}

#[test]
fn mogilefs_killed_storage_node_first_path_is_still_live() {
    let c = Cluster::start(3);
    let mut s = c.conn();
    let data = vec![7u8; 100_000];
    let (r, _, _) = store_with(&mut s, "k", "c", &data, &[]);
    assert_eq!(r, "OK \r\n");
    wait_copies(&mut s, "k", 2, &data);
    let first = paths(&mut s, "k").remove(0);
    let port: u16 = first
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let node = c
        .nodes
        .iter()
        .find(|n| n.daemon.addr("http").port() == port)
        .expect("node");
    node.daemon.signal(Signal::SIGKILL);
    // At once (verified by HEAD), and after the monitor noticed (ordered
    // last), the first path works.
    for _ in 0..2 {
        for _ in 0..5 {
            let r = ok(&call(&mut s, "get_paths domain=d&key=k"));
            let p1 = r.get("path1").expect("path1");
            assert!(!p1.contains(&format!(":{port}/")), "dead node first: {r:?}");
            assert_eq!(get(p1), (200, data.clone()));
        }
        let seen = wait_for(Duration::from_secs(10), || {
            let r = ok(&call(&mut s, "get_devices"));
            (1..=6).any(|i| r.get(&format!("dev{i}_observed_state")) == Some("unreachable"))
        });
        assert!(seen);
    }
    // Even unverified, the dead node's copy is left out while another one
    // is readable (the original offers it only when nothing else is).
    for _ in 0..5 {
        let urls = paths(&mut s, "k");
        assert_eq!(urls.len(), 1, "{urls:?}");
        assert!(!urls[0].contains(&format!(":{port}/")), "{urls:?}");
    }
}

/// Arguments that make the reaper act at once (tests).
pub const QUICK_REAPER: [&str; 2] = ["--reaper_delay=0", "--reaper_interval=0.3"];

#[test]
fn mogilefs_dead_device_files_come_back_to_mindevcount() {
    dead_device(&Cluster::with_tracker_on_sqlite(&QUICK_REAPER, 3));
}

/// Eight files at mindevcount 2; the device with most copies is marked
/// dead; every file comes back to two copies on two other hosts.
pub fn dead_device(c: &Cluster) {
    let mut s = c.conn();
    let mut stored = Vec::new();
    for i in 0..8 {
        let data = format!("file {i}").into_bytes();
        let key = format!("f{i}");
        let (r, _, _) = store_with(&mut s, &key, "c", &data, &[]);
        assert_eq!(r, "OK \r\n");
        stored.push((key, data));
    }
    for (k, d) in &stored {
        wait_copies(&mut s, k, 2, d);
    }
    // The device holding most copies dies.
    let mut count: HashMap<u32, usize> = HashMap::new();
    for (k, _) in &stored {
        for d in devids(&mut s, k) {
            *count.entry(d).or_default() += 1;
        }
    }
    let (&dead, _) = count.iter().max_by_key(|(_, n)| **n).expect("a device");
    let host = host_of(dead);
    assert_eq!(
        call(
            &mut s,
            &format!("set_state host=s{host}&device={dead}&state=dead")
        ),
        "OK \r\n"
    );
    assert_eq!(
        err(&call(
            &mut s,
            &format!("set_state host=s{host}&device={dead}&state=alive")
        )),
        "state_too_high"
    );
    for (k, d) in &stored {
        let back = wait_for(REPLICATED, || {
            let ids = devids(&mut s, k);
            let hosts: HashSet<u32> = ids.iter().map(|&d| host_of(d)).collect();
            ids.len() == 2 && !ids.contains(&dead) && hosts.len() == 2
        });
        assert!(back, "{k} on {:?} ({dead} dead)", devids(&mut s, k));
        for u in paths(&mut s, k) {
            assert_eq!(get(&u), (200, d.clone()));
        }
    }
}

#[test]
fn mogilefs_drain_readonly_down_and_weights_steer_new_files() {
    let c = Cluster::start(3);
    let mut s = c.conn();
    for (host, dev, state) in [(0, 1, "drain"), (0, 2, "readonly"), (1, 3, "down")] {
        let r = call(
            &mut s,
            &format!("set_state host=s{host}&device={dev}&state={state}"),
        );
        assert_eq!(r, "OK \r\n");
    }
    let data = b"x".to_vec();
    for i in 0..12 {
        let (r, _, _) = store_with(&mut s, &format!("n{i}"), "c", &data, &[]);
        assert_eq!(r, "OK \r\n");
    }
    for i in 0..12 {
        let key = format!("n{i}");
        let done = wait_for(REPLICATED, || devids(&mut s, &key).len() == 2);
        assert!(done, "{key}: {:?}", devids(&mut s, &key));
        let ids = devids(&mut s, &key);
        assert!(ids.iter().all(|d| matches!(d, 4..=6)), "{key} on {ids:?}");
    }
    for (host, dev) in [(0, 1), (0, 2), (1, 3)] {
        let r = call(
            &mut s,
            &format!("set_state host=s{host}&device={dev}&state=alive"),
        );
        assert_eq!(r, "OK \r\n");
    }
    // Weight 0 gets nothing; 1 against 100 gets little.
    for (host, dev, w) in [(0, 1, 0), (0, 2, 0), (1, 3, 1), (1, 4, 1)] {
        let r = call(
            &mut s,
            &format!("set_weight host=s{host}&device={dev}&weight={w}"),
        );
        assert_eq!(r, "OK \r\n");
    }
    let mut on: HashMap<String, usize> = HashMap::new();
    for i in 0..40 {
        let r = ok(&call(&mut s, &format!("create_open domain=d&key=w{i}")));
        *on.entry(r.get("devid").expect("devid").to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        on.get("1").copied().unwrap_or(0) + on.get("2").copied().unwrap_or(0),
        0,
        "{on:?}"
    );
    let heavy = on.get("5").copied().unwrap_or(0) + on.get("6").copied().unwrap_or(0);
    assert!(heavy >= 30, "weights ignored: {on:?}");
}

#[test]
fn mogilefs_replicate_now_and_copies_written_by_the_client() {
    let c = Cluster::start(3);
    let mut s = c.conn();
    // Only one host takes files: a second copy has nowhere to go.
    for (host, dev) in [(1, 3), (1, 4), (2, 5), (2, 6)] {
        let r = call(
            &mut s,
            &format!("set_state host=s{host}&device={dev}&state=readonly"),
        );
        assert_eq!(r, "OK \r\n");
    }
    assert_eq!(
        call(&mut s, "set_state host=s0&device=2&state=readonly"),
        "OK \r\n"
    );
    let data = b"waiting".to_vec();
    let (r, fid, _) = store_with(&mut s, "wait", "c", &data, &[]);
    assert_eq!(r, "OK \r\n");
    let queued = wait_for(REPLICATED, || {
        let d = ok(&call(&mut s, &format!("file_debug fid={fid}")));
        d.get("replqueue_failcount").is_some_and(|n| n != "0")
    });
    assert!(queued, "{}", call(&mut s, &format!("file_debug fid={fid}")));
    assert_eq!(devids(&mut s, "wait").len(), 1);
    for (host, dev) in [(1, 3), (1, 4), (2, 5), (2, 6)] {
        let r = call(
            &mut s,
            &format!("set_state host=s{host}&device={dev}&state=alive"),
        );
        assert_eq!(r, "OK \r\n");
    }
    let now = ok(&call(&mut s, "replicate_now"));
    assert_eq!(now.get("count"), Some("1"));
    wait_copies(&mut s, "wait", 2, &data);
    let d = ok(&call(&mut s, &format!("file_debug fid={fid}")));
    assert_eq!(d.get("replqueue_fid"), None);

    // multi_dest: the client writes every copy and closes with all of them.
    let open = ok(&call(
        &mut s,
        "create_open domain=d&key=multi&class=c&multi_dest=1",
    ));
    let fid = open.get("fid").expect("fid").to_owned();
    let mut args = vec![
        ("domain".to_owned(), "d".to_owned()),
        ("key".into(), "multi".into()),
        ("fid".into(), fid.clone()),
        ("size".into(), "5".into()),
    ];
    for i in 1..=2 {
        let devid = open.get(&format!("devid_{i}")).expect("devid_N").to_owned();
        let path = open.get(&format!("path_{i}")).expect("path_N").to_owned();
        put(&path, b"multi");
        if i == 1 {
            args.push(("devid".into(), devid.clone()));
            args.push(("path".into(), path.clone()));
        }
        args.push((format!("devid_{i}"), devid));
        args.push((format!("path_{i}"), path));
    }
    let pairs: Vec<(&str, &str)> = args.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(call(&mut s, &line("create_close", &pairs)), "OK \r\n");
    let info = ok(&call(&mut s, "file_info domain=d&key=multi&devices=1"));
    assert_eq!(info.get("devcount"), Some("2"), "{info:?}");
}

#[test]
fn mogilefs_host_states_steer_reads_and_writes() {
    let c = Cluster::start(3);
    let mut s = c.conn();
    let data = b"hosts".to_vec();
    let (r, _, _) = store_with(&mut s, "h", "c", &data, &[]);
    assert_eq!(r, "OK \r\n");
    wait_copies(&mut s, "h", 2, &data);
    let ids = devids(&mut s, "h");
    let down = host_of(ids[0]);
    let up = host_of(ids[1]);
    assert_eq!(
        call(&mut s, &format!("update_host host=s{down}&status=down")),
        format!("OK hostid={}&hostname=s{down}\r\n", down + 1)
    );
    // A down host's copies are not offered while another is readable.
    for _ in 0..5 {
        let urls = paths(&mut s, "h");
        assert_eq!(urls.len(), 1, "{urls:?}");
        assert_eq!(get(&urls[0]), (200, data.clone()));
    }
    // A readonly host serves reads but gets no new files.
    assert!(call(&mut s, &format!("update_host host=s{up}&status=readonly")).starts_with("OK "));
    assert_eq!(paths(&mut s, "h").len(), 1);
    let third = (0..3).find(|h| *h != down && *h != up).expect("third host");
    for i in 0..10 {
        let r = ok(&call(&mut s, &format!("create_open domain=d&key=ro{i}")));
        let devid: u32 = r.get("devid").expect("devid").parse().expect("n");
        assert_eq!(host_of(devid), third, "new file on a {down}/{up} host");
    }
    for h in [down, up] {
        assert!(call(&mut s, &format!("update_host host=s{h}&status=alive")).starts_with("OK "));
    }
    assert_eq!(paths(&mut s, "h").len(), 2);
}

#[test]
fn mogilefs_httpcopy_and_test_commands() {
    let c = Cluster::start(2);
    let mut s = c.conn();
    class(&mut s, "one", "mindevcount=1");
    let data = vec![3u8; 70_000];
    let (r, fid, _) = store_with(&mut s, "hc", "one", &data, &[]);
    assert_eq!(r, "OK \r\n");
    let from = devids(&mut s, "hc")[0];
    let to = if host_of(from) == 0 { 3 } else { 1 };
    assert_eq!(
        call(
            &mut s,
            &format!("httpcopy sdevid={from}&ddevid={to}&fid={fid}")
        ),
        "OK \r\n"
    );
    let mut ids = devids(&mut s, "hc");
    ids.sort_unstable();
    let mut want = vec![from, to];
    want.sort_unstable();
    assert_eq!(ids, want);
    for u in paths(&mut s, "hc") {
        assert_eq!(get(&u), (200, data.clone()));
    }
    for req in [
        format!("httpcopy sdevid={from}&ddevid={to}&fid=999999"),
        format!("httpcopy sdevid=77&ddevid={to}&fid={fid}"),
        "httpcopy fid=1".to_owned(),
    ] {
        assert_eq!(err(&call(&mut s, &req)), "copy_err", "{req}");
    }
    assert_eq!(call(&mut s, "test"), "OK \r\n");
    assert_eq!(
        call(&mut s, "test crash=1"),
        "ERR failure Crashed+on+purpose\r\n"
    );
}
