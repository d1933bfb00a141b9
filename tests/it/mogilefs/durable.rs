//! Durable before acknowledged (an extension): a class with `durable=2`
//! has create_close answer OK only once the file is on two hosts, so a
//! storage node killed right after the OK loses nothing.

use nix::sys::signal::Signal;

use super::{admin, call, err, get, ok, store, Cluster};

#[test]
fn mogilefs_durable_class_survives_a_node_killed_right_after_ok() {
    let mut c = Cluster::start(3);
    let mut s = c.conn();
    assert_eq!(
        err(&call(&mut s, "update_class domain=d&class=c&durable=3")),
        "invalid_durable",
        "at most mindevcount"
    );
    assert!(call(&mut s, "update_class domain=d&class=c&durable=2").starts_with("OK "));
    let domains = ok(&call(&mut s, "get_domains"));
    let durable: Vec<&str> = (1..=2)
        .filter_map(|j| domains.get(&format!("domain1class{j}durable")))
        .collect();
    assert_eq!(durable, ["2"], "{domains:?}");

    // The replicator is held: the second copy is the command's own doing.
    admin(&mut s, "!want 0 replicate");
    let data = b"acknowledged means on two hosts".to_vec();
    let (fid, first) = store(&mut s, "k", &data);
    let info = ok(&call(&mut s, "file_info domain=d&key=k&devices=1"));
    assert_eq!(info.get("devcount"), Some("2"), "{info:?}");
    let dbg = ok(&call(&mut s, &format!("file_debug fid={fid}")));
    assert!(
        dbg.get("replqueue_fid").is_none(),
        "nothing left queued: {dbg:?}"
    );

    // The node the client wrote to dies at once; the file reads back.
    let port = first
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse::<u16>().ok())
        .expect("port in path");
    let i = c
        .nodes
        .iter()
        .position(|n| n.daemon.addr("http").port() == port)
        .expect("the node written to");
    c.nodes[i].daemon.signal(Signal::SIGKILL);
    drop(c.nodes.remove(i));
    // As an operator would, and so that the next create_open cannot hand
    // out the dead node before the monitor has seen it gone.
    assert!(call(&mut s, &format!("update_host host=s{i}&status=down")).starts_with("OK "));
    let paths = ok(&call(&mut s, "get_paths domain=d&key=k"));
    let url = paths.get("path1").expect("a live copy").to_owned();
    assert!(!url.contains(&format!(":{port}/")), "{paths:?}");
    assert_eq!(get(&url), (200, data));

    // Off again: an OK comes with the client's copy alone.
    assert!(call(&mut s, "update_class domain=d&class=c&durable=0").starts_with("OK "));
    store(&mut s, "lazy", b"one copy");
    let info = ok(&call(&mut s, "file_info domain=d&key=lazy"));
    assert_eq!(info.get("devcount"), Some("1"), "{info:?}");
}
