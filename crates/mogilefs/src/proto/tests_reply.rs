//! Typed replies: each one's pairs in the order the tracker sends them, and
//! read back by a client's parser.

use proptest::prelude::*;

use super::reply::*;
use super::*;

fn line(r: impl Reply) -> String {
    Response::Ok(r.pairs()).encode(None)
}

/// The reply read back as a client does.
fn read(r: impl Reply) -> Args {
    match parse_reply(line(r).as_bytes()) {
        Some(Ok(args)) => args,
        other => panic!("not OK: {other:?}"),
    }
}

#[test]
fn empty_and_simple_replies() {
    assert_eq!(line(()), "OK \r\n");
    assert_eq!(
        line(DomainDone {
            domain: "a b".into()
        }),
        "OK domain=a+b\r\n"
    );
    assert_eq!(
        line(ClassDone {
            class: "c".into(),
            mindevcount: 2,
            domain: "d".into()
        }),
        "OK class=c&mindevcount=2&domain=d\r\n"
    );
    assert_eq!(
        line(ClassDeleted {
            domain: "d".into(),
            class: "c".into()
        }),
        "OK domain=d&class=c\r\n"
    );
    assert_eq!(
        line(HostDone {
            hostid: 3,
            hostname: "h".into()
        }),
        "OK hostid=3&hostname=h\r\n"
    );
    assert_eq!(
        line(Setting {
            key: "k".into(),
            value: String::new()
        }),
        "OK key=k&value=\r\n"
    );
    assert_eq!(line(ReplicateNow { count: 4 }), "OK count=4\r\n");
    assert_eq!(
        line(RebalanceDevs {
            sdevs: vec![1, 2],
            ddevs: vec![]
        }),
        "OK sdevs=1,2&ddevs=\r\n"
    );
    assert_eq!(
        line(RebalanceState {
            state: "a=1 b=2".into()
        }),
        "OK state=a%3D1+b%3D2\r\n"
    );
}

#[test]
fn domain_list() {
    let list = DomainList {
        domains: vec![DomainEntry {
            name: "d".into(),
            classes: vec![
                ClassEntry {
                    name: "default".into(),
                    mindevcount: 2,
                    replpolicy: None,
                    hashtype: None,
                    durable: 0,
                },
                ClassEntry {
                    name: "c".into(),
                    mindevcount: 3,
                    replpolicy: Some("MultipleDevices(2)".into()),
                    hashtype: Some(1),
                    durable: 2,
                },
            ],
        }],
    };
    assert_eq!(
        line(list),
        "OK domains=1&domain1=d&domain1classes=2\
         &domain1class1name=default&domain1class1mindevcount=2\
         &domain1class1replpolicy=MultipleHosts%28%29&domain1class1hashtype=NONE\
         &domain1class2name=c&domain1class2mindevcount=3\
         &domain1class2replpolicy=MultipleDevices%282%29&domain1class2hashtype=MD5\
         &domain1class2durable=2\r\n"
    );
    assert_eq!(line(DomainList::default()), "OK domains=0\r\n");
}

#[test]
fn host_and_device_lists() {
    let hosts = HostList {
        hosts: vec![HostEntry {
            hostid: 1,
            status: "alive".into(),
            hostname: "h".into(),
            hostip: "10.0.0.1".into(),
            http_port: 7500,
            http_get_port: None,
            altip: Some("10.1.0.1".into()),
            altmask: None,
        }],
    };
    assert_eq!(
        line(hosts),
        "OK hosts=1&host1_hostid=1&host1_status=alive&host1_hostname=h\
         &host1_hostip=10.0.0.1&host1_http_port=7500&host1_http_get_port=\
         &host1_altip=10.1.0.1&host1_altmask=\r\n"
    );
    let devices = DeviceList {
        devices: vec![DeviceEntry {
            devid: 2,
            hostid: 1,
            status: "alive".into(),
            weight: 100,
            mb_total: Some(100),
            mb_used: Some(30),
            mb_asof: None,
            observed_state: Some("writeable".into()),
            utilization: None,
            reject_bad_md5: Some(true),
        }],
    };
    assert_eq!(
        line(devices),
        "OK devices=1&dev1_devid=2&dev1_hostid=1&dev1_status=alive&dev1_weight=100\
         &dev1_mb_total=100&dev1_mb_used=30&dev1_mb_free=70&dev1_mb_asof=\
         &dev1_observed_state=writeable&dev1_utilization=&dev1_reject_bad_md5=1\r\n"
    );
    let unseen = DeviceList {
        devices: vec![DeviceEntry {
            mb_total: Some(100),
            ..DeviceEntry::default()
        }],
    };
    assert_eq!(read(unseen).get("dev1_mb_free"), Some(""));
}

#[test]
fn file_replies() {
    assert_eq!(
        line(Opened {
            fid: 7,
            dests: Dests::One {
                devid: 2,
                path: "http://h:1/dev2/0/000/000/0000000007.fid".into()
            }
        }),
        "OK fid=7&devid=2&path=http://h:1/dev2/0/000/000/0000000007.fid\r\n"
    );
    assert_eq!(
        line(Opened {
            fid: 7,
            dests: Dests::Multi(vec![(2, "u2".into()), (3, "u3".into())])
        }),
        "OK fid=7&dev_count=2&devid_1=2&path_1=u2&devid_2=3&path_2=u3\r\n"
    );
    assert_eq!(
        line(Paths {
            paths: vec!["a".into(), "b".into()]
        }),
        "OK paths=2&path1=a&path2=b\r\n"
    );
    assert_eq!(line(Paths::default()), "OK paths=0\r\n");
    assert_eq!(
        line(KeyList {
            next_after: "k2".into(),
            keys: vec!["k1".into(), "k2".into()]
        }),
        "OK key_count=2&next_after=k2&key_1=k1&key_2=k2\r\n"
    );
    let info = |checksum, devids| FileInfo {
        fid: 1,
        domain: "d".into(),
        class: "default".into(),
        key: "k".into(),
        length: 5,
        devcount: 2,
        checksum,
        devids,
    };
    let head = "OK fid=1&domain=d&class=default&key=k&length=5&devcount=2";
    assert_eq!(
        line(info(KeptChecksum::NotKept, None)),
        format!("{head}\r\n")
    );
    assert_eq!(
        line(info(KeptChecksum::Missing, Some(vec![1, 4]))),
        format!("{head}&checksum=MISSING&devids=1,4\r\n")
    );
    let sum = SavedChecksum {
        hashtype: 1,
        digest: vec![0xab; 16],
    };
    assert_eq!(
        line(info(KeptChecksum::Saved(sum), Some(vec![]))),
        format!("{head}&checksum=MD5:{}&devids=\r\n", "ab".repeat(16))
    );
}

#[test]
fn debug_replies() {
    let full = FileDebug {
        file: Some(DebugFile {
            fid: 9,
            dmid: 1,
            dkey: "k".into(),
            length: 3,
            classid: 0,
            devcount: 1,
            domain: None,
            class: "default".into(),
        }),
        tempfile: Some(DebugTempFile {
            classid: 0,
            dmid: 1,
            dkey: "k".into(),
            devids: "1,2".into(),
        }),
        replqueue: Some(DebugRepl {
            fid: 9,
            nexttry: 10,
            fromdevid: None,
            failcount: 0,
            flags: 0,
        }),
        delqueue: Some(DebugDelete {
            fid: 9,
            nexttry: 11,
            failcount: 1,
        }),
        rebqueue: None,
        fsckqueue: Some(DebugQueue {
            fid: 9,
            devid: Some(2),
            qtype: 2,
            nexttry: 12,
            failcount: 0,
            flags: 0,
            arg: None,
        }),
        devpaths: vec![(1, "u1".into())],
        devids: vec![1, 2],
        checksum: None,
    };
    assert!(!full.is_empty());
    assert_eq!(
        line(full),
        "OK fid_fid=9&fid_dmid=1&fid_dkey=k&fid_length=3&fid_classid=0&fid_devcount=1\
         &fid_domain=&fid_class=default\
         &tempfile_classid=0&tempfile_dmid=1&tempfile_dkey=k&tempfile_devids=1,2\
         &replqueue_fid=9&replqueue_nexttry=10&replqueue_fromdevid=&replqueue_failcount=0\
         &replqueue_flags=0&delqueue_fid=9&delqueue_nexttry=11&delqueue_failcount=1\
         &fsckqueue_fid=9&fsckqueue_devid=2&fsckqueue_type=2&fsckqueue_nexttry=12\
         &fsckqueue_failcount=0&fsckqueue_flags=0&fsckqueue_arg=\
         &devpath_1=u1&devids=1,2&checksum=NONE\r\n"
    );
    assert!(FileDebug::default().is_empty());
    let only_devids = FileDebug {
        devids: vec![4],
        ..FileDebug::default()
    };
    assert!(!only_devids.is_empty());
    assert_eq!(line(only_devids), "OK devids=4&checksum=NONE\r\n");

    let fids = FidList {
        fids: vec![FidEntry {
            fid: 5,
            domain: Some("d".into()),
            class: "c".into(),
            key: "k".into(),
            length: 1,
            devcount: 2,
        }],
    };
    assert_eq!(
        line(fids),
        "OK fid_1_fid=5&fid_1_domain=d&fid_1_class=c&fid_1_key=k&fid_1_length=1\
         &fid_1_devcount=2&fid_count=1\r\n"
    );
    assert_eq!(line(FidList::default()), "OK fid_count=0\r\n");
}

#[test]
fn settings_and_fsck_replies() {
    assert_eq!(line(SettingList::default()), "OK \r\n");
    assert_eq!(
        line(SettingList {
            settings: vec![("a".into(), "1".into()), ("b".into(), "".into())]
        }),
        "OK key_1=a&value_1=1&key_2=b&value_2=&key_count=2\r\n"
    );
    assert_eq!(line(FsckLog::default()), "OK row_count=0\r\n");
    assert_eq!(
        line(FsckLog {
            rows: vec![
                FsckLogEntry {
                    logid: 1,
                    utime: 100,
                    fid: Some(5),
                    evcode: "NOPA".into(),
                    devid: None
                },
                FsckLogEntry {
                    logid: 2,
                    utime: 101,
                    fid: None,
                    evcode: "MISS".into(),
                    devid: Some(3)
                }
            ]
        }),
        "OK row_1_logid=1&row_1_utime=100&row_1_fid=5&row_1_evcode=NOPA\
         &row_2_logid=2&row_2_utime=101&row_2_evcode=MISS&row_2_devid=3&row_count=2\r\n"
    );
    let status = FsckStatus {
        host: Some("t1".into()),
        max_fid_checked: 10,
        policy_only: 0,
        end_fid: 20,
        start_time: 1000,
        stop_time: 0,
        current_time: 1005,
        max_logid: 3,
        counts: vec![("NOPA".into(), 2)],
    };
    assert_eq!(
        line(status),
        "OK running=1&host=t1&max_fid_checked=10&policy_only=0&end_fid=20\
         &start_time=1000&stop_time=0&current_time=1005&max_logid=3&num_NOPA=2\r\n"
    );
    assert_eq!(
        read(FsckStatus::default()).get("running"),
        Some("0"),
        "not running: no host"
    );
    assert_eq!(read(FsckStatus::default()).get("host"), None);
}

proptest! {
    /// Any paths and keys come back from a client's parser as sent.
    #[test]
    fn lists_read_back(values in proptest::collection::vec("[^\0]{0,16}", 1..8)) {
        let args = read(Paths { paths: values.clone() });
        let n = values.len().to_string();
        prop_assert_eq!(args.get("paths"), Some(n.as_str()));
        for (i, v) in values.iter().enumerate() {
            prop_assert_eq!(args.get(&format!("path{}", i + 1)), Some(v.as_str()));
        }
        let last = values.last().cloned().unwrap_or_default();
        let args = read(KeyList { next_after: last.clone(), keys: values.clone() });
        prop_assert_eq!(args.get("next_after"), Some(last.as_str()));
        for (i, v) in values.iter().enumerate() {
            prop_assert_eq!(args.get(&format!("key_{}", i + 1)), Some(v.as_str()));
        }
    }

    #[test]
    fn settings_read_back(pairs in proptest::collection::vec(("[^\0]{1,8}", "[^\0]{0,8}"), 0..6)) {
        let args = read(SettingList { settings: pairs.clone() });
        for (i, (k, v)) in pairs.iter().enumerate() {
            prop_assert_eq!(args.get(&format!("key_{}", i + 1)), Some(k.as_str()));
            prop_assert_eq!(args.get(&format!("value_{}", i + 1)), Some(v.as_str()));
        }
        let count = (!pairs.is_empty()).then(|| pairs.len().to_string());
        prop_assert_eq!(args.get("key_count"), count.as_deref());
    }
}
