//! Rebalance and drain through the real binaries: a device drained by a
//! rebalance policy empties within a bounded wait while its files stay
//! readable.

use std::net::TcpStream;
use std::time::Duration;

use danga_testkit::wait_for;

use super::{call, err, get, ok, store, Cluster};

fn devids(s: &mut TcpStream, key: &str) -> Vec<String> {
    let info = ok(&call(s, &format!("file_info domain=d&key={key}&devices=1")));
    info.get("devids")
        .unwrap_or_default()
        .split(',')
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
        .collect()
}

fn readable(s: &mut TcpStream, key: &str, data: &[u8]) -> bool {
    let p = ok(&call(s, &format!("get_paths domain=d&key={key}")));
    p.get("path1")
        .is_some_and(|u| get(u) == (200, data.to_vec()))
}

#[test]
fn mogilefs_rebalance_drains_a_device_while_reads_go_on() {
    let c = Cluster::start(3);
    let mut s = c.conn();
    let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    for k in &keys {
        store(&mut s, k, k.as_bytes());
    }
    let placed = wait_for(Duration::from_secs(30), || {
        keys.iter().all(|k| devids(&mut s, k).len() == 2)
    });
    assert!(placed);
    // Make sure device 1 holds something to move.
    let on1 = keys
        .iter()
        .filter(|k| devids(&mut s, k).contains(&"1".to_owned()))
        .count();
    if on1 == 0 {
        let k = &keys[0];
        let from = devids(&mut s, k)[0].clone();
        let info = ok(&call(&mut s, &format!("file_info domain=d&key={k}")));
        let fid = info.get("fid").unwrap_or_default().to_owned();
        let r = call(
            &mut s,
            &format!("httpcopy fid={fid}&sdevid={from}&ddevid=1"),
        );
        assert!(r.starts_with("OK"), "{r}");
    }
    // Copies per key before the drain (k0 has a third when it was copied
    // to device 1 above); a drain moves copies, it neither adds nor drops.
    let copies: Vec<usize> = keys.iter().map(|k| devids(&mut s, k).len()).collect();

    assert_eq!(err(&call(&mut s, "rebalance_status")), "no_rebal_state");
    assert_eq!(err(&call(&mut s, "rebalance_stop")), "rebal_not_started");
    assert_eq!(err(&call(&mut s, "rebalance_start")), "no_rebal_policy");
    assert_eq!(
        err(&call(
            &mut s,
            "rebalance_set_policy policy=from_devices%3Dx"
        )),
        "bad_rebal_pol"
    );
    assert_eq!(
        call(
            &mut s,
            "rebalance_set_policy policy=from_devices%3D1+leave_in_drain_mode%3D1"
        ),
        "OK \r\n"
    );
    let t = ok(&call(&mut s, "rebalance_test"));
    assert_eq!(t.get("sdevs"), Some("1"));
    let ddevs = t.get("ddevs").unwrap_or_default().to_owned();
    assert!(
        !ddevs.split(',').any(|d| d == "1") && !ddevs.is_empty(),
        "{ddevs}"
    );

    let started = ok(&call(&mut s, "rebalance_start"));
    assert!(started
        .get("state")
        .is_some_and(|st| st.contains("source_devs=1")));
    // Reads go on while it drains.
    let empty = wait_for(Duration::from_secs(30), || {
        for k in &keys {
            assert!(
                readable(&mut s, k, k.as_bytes()),
                "{k} unreadable mid-drain"
            );
        }
        keys.iter()
            .all(|k| !devids(&mut s, k).contains(&"1".to_owned()))
    });
    assert!(empty, "device 1 still holds files");
    for (k, before) in keys.iter().zip(&copies) {
        assert_eq!(devids(&mut s, k).len(), *before, "{k} kept its copies");
        assert!(readable(&mut s, k, k.as_bytes()));
    }
    // Left in drain mode, as the policy says; the run ends by itself.
    let devs = ok(&call(&mut s, "get_devices devid=1"));
    assert_eq!(devs.get("dev1_status"), Some("drain"), "{devs:?}");
    let ended = wait_for(Duration::from_secs(10), || {
        call(&mut s, "rebalance_stop").starts_with("ERR rebal_not_started")
    });
    assert!(ended);
    let st = ok(&call(&mut s, "rebalance_status"));
    assert!(
        st.get("state")
            .is_some_and(|v| v.contains("completed_devs=1")),
        "{st:?}"
    );
    assert_eq!(call(&mut s, "rebalance_reset"), "OK \r\n");
    assert_eq!(err(&call(&mut s, "rebalance_status")), "no_rebal_state");
}
