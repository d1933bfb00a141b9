//! The monitor through the real binaries: usage and observed state filled
//! in, devices chosen by it, a 10 MB file read back from every path.

use std::time::Duration;

use danga_mogilefs::proto::Args;
use danga_testkit::wait_for;

use super::{call, get, line, md5_hex, ok, put, Cluster};

/// get_devices' fields of device `devid`.
fn device(reply: &Args, devid: u32) -> Option<std::collections::HashMap<String, String>> {
    let n: usize = reply.get("devices")?.parse().ok()?;
    (1..=n).find_map(|i| {
        let p = format!("dev{i}_");
        (reply.get(&format!("{p}devid")) == Some(devid.to_string().as_str())).then(|| {
            [
                "status",
                "mb_total",
                "mb_used",
                "mb_free",
                "mb_asof",
                "observed_state",
                "utilization",
                "reject_bad_md5",
            ]
            .iter()
            .map(|k| {
                let v = reply.get(&format!("{p}{k}")).unwrap_or("").to_owned();
                ((*k).to_owned(), v)
            })
            .collect()
        })
    })
}

#[test]
fn mogilefs_monitor_fills_usage_and_observed_state() {
    let c = Cluster::start(2);
    let mut s = c.conn();
    // Utilisation comes from the side channel's `watch` (a batch a second).
    let seen = wait_for(Duration::from_secs(10), || {
        let r = ok(&call(&mut s, "get_devices"));
        (1..=4).all(|d| {
            device(&r, d).is_some_and(|f| {
                f["observed_state"] == "writeable"
                    && f["mb_total"].parse::<u64>().is_ok_and(|t| t > 0)
                    && f["mb_used"].parse::<u64>().is_ok()
                    && f["mb_free"].parse::<i64>().is_ok()
                    && f["mb_asof"].parse::<u64>().is_ok_and(|t| t > 1_600_000_000)
                    && f["utilization"].parse::<f64>().is_ok()
                    && f["reject_bad_md5"] == "1"
            })
        })
    });
    let last = call(&mut s, "get_devices");
    assert!(seen, "devices not observed: {last}");

    // A stopped node's devices become unreachable; new files avoid them.
    let mut c = c;
    let gone = c.nodes.remove(0);
    drop(gone);
    let down = wait_for(Duration::from_secs(10), || {
        let r = ok(&call(&mut s, "get_devices"));
        [1, 2]
            .iter()
            .all(|&d| device(&r, d).is_some_and(|f| f["observed_state"] == "unreachable"))
    });
    assert!(down, "{}", call(&mut s, "get_devices"));
    for i in 0..10 {
        let r = ok(&call(&mut s, &format!("create_open domain=d&key=after{i}")));
        let devid = r.get("devid").expect("devid");
        assert!(
            matches!(devid, "3" | "4"),
            "new file on a stopped node: {devid}"
        );
    }
    // Marked readonly: observed readable (never test-written), no new files.
    assert_eq!(
        call(&mut s, "set_state host=s1&device=3&state=readonly"),
        "OK \r\n"
    );
    let r = ok(&call(&mut s, "get_devices"));
    assert_eq!(device(&r, 3).expect("dev3")["observed_state"], "readable");
    for i in 0..5 {
        let r = ok(&call(&mut s, &format!("create_open domain=d&key=ro{i}")));
        assert_eq!(r.get("devid"), Some("4"));
    }
    assert_eq!(
        call(&mut s, "set_state host=s1&device=4&state=drain"),
        "OK \r\n"
    );
    assert!(call(&mut s, "create_open domain=d&key=none").starts_with("ERR no_devices "));
}

#[test]
fn mogilefs_ten_megabytes_read_back_byte_identical_from_every_path() {
    let c = Cluster::start(3);
    let mut s = c.conn();
    let data: Vec<u8> = (0..10u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let sum = md5_hex(&data);
    assert_eq!(
        call(&mut s, "update_class domain=d&class=c&hashtype=MD5"),
        "OK class=c&mindevcount=2&domain=d\r\n"
    );
    let open = ok(&call(
        &mut s,
        "create_open domain=d&key=big&class=c&multi_dest=1&size=10485760",
    ));
    assert_eq!(open.get("dev_count"), Some("3"));
    let fid = open.get("fid").expect("fid").to_owned();
    // The client writes the first destination and closes with it.
    let (devid, path) = (
        open.get("devid_1").expect("devid_1").to_owned(),
        open.get("path_1").expect("path_1").to_owned(),
    );
    put(&path, &data);
    let checksum = format!("MD5:{sum}");
    let close = line(
        "create_close",
        &[
            ("domain", "d"),
            ("key", "big"),
            ("fid", &fid),
            ("devid", &devid),
            ("path", &path),
            ("size", "10485760"),
            ("checksum", &checksum),
            ("checksumverify", "1"),
        ],
    );
    assert_eq!(call(&mut s, &close), "OK \r\n");
    let r = ok(&call(&mut s, "get_paths domain=d&key=big&pathcount=3"));
    let n: usize = r.get("paths").expect("paths").parse().expect("n");
    assert!(n >= 1, "{r:?}");
    for i in 1..=n {
        let p = r.get(&format!("path{i}")).expect("pathN");
        let (status, body) = get(p);
        assert_eq!(status, 200, "{p}");
        assert!(body == data, "{p}: {} bytes differ", body.len());
        assert_eq!(std::fs::read(c.file_of(p)).expect("on disk"), data);
    }
    let info = ok(&call(&mut s, "file_info domain=d&key=big"));
    assert_eq!(info.get("length"), Some("10485760"));
    assert_eq!(info.get("checksum"), Some(checksum.as_str()));
}
