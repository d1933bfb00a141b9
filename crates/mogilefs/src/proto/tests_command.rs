//! Typed requests: each command's decode, its defaults, and the errors (and
//! their order) for missing or bad arguments.

use proptest::prelude::*;

use super::command::*;
use super::*;

fn dec(line: &str) -> Result<Command, Refusal> {
    let Line::Command(req) = parse_line(line.as_bytes()) else {
        panic!("not a command: {line}");
    };
    Command::decode(&req)
}

fn ok(line: &str) -> Command {
    dec(line).unwrap_or_else(|e| panic!("{line}: {e:?}"))
}

fn refused(line: &str) -> ErrCode {
    match dec(line) {
        Err(r) => r.code,
        Ok(c) => panic!("{line}: decoded {c:?}"),
    }
}

#[test]
fn every_command_decodes_and_others_are_unknown() {
    for line in [
        "noop",
        "test",
        "clear_cache",
        "do_monitor_round",
        "sleep",
        "create_domain domain=d",
        "delete_domain domain=d",
        "get_domains",
        "create_class domain=d&class=c",
        "update_class domain=d&class=c",
        "delete_class domain=d&class=c",
        "create_host host=h",
        "update_host host=h",
        "delete_host host=h",
        "get_hosts",
        "create_device devid=1",
        "get_devices",
        "set_state host=h&device=1",
        "set_weight host=h&device=1",
        "create_open domain=d",
        "create_close fid=1&devid=1&path=p&domain=d",
        "get_paths domain=d",
        "delete domain=d",
        "updateclass domain=d",
        "rename domain=d",
        "list_keys domain=d",
        "file_info domain=d",
        "file_debug fid=1",
        "list_fids",
        "server_setting key=k",
        "server_settings",
        "set_server_setting key=k",
        "replicate_now",
        "httpcopy sdevid=1&ddevid=2&fid=3",
        "fsck_start",
        "fsck_stop",
        "fsck_reset",
        "fsck_clearlog",
        "fsck_getlog",
        "fsck_status",
        "rebalance_set_policy",
        "rebalance_test",
        "rebalance_start",
        "rebalance_stop",
        "rebalance_status",
        "rebalance_reset",
    ] {
        ok(line);
    }
    for line in ["stats", "get_paths_x", "nop", "create", "fsck"] {
        assert_eq!(refused(line), ErrCode::UnknownCommand, "{line}");
    }
    // Names are matched after the line parser lower-cases them.
    assert_eq!(ok("NOOP"), Command::Noop);
}

#[test]
fn plain_commands() {
    assert_eq!(ok("test"), Command::Test { crash: false });
    // As the original: any non-empty `crash` crashes, `0` included.
    assert_eq!(ok("test crash=0"), Command::Test { crash: true });
    assert_eq!(ok("do_monitor_round"), Command::ClearCache);
    for (arg, secs) in [
        ("", 10),
        ("duration=0", 10),
        ("duration=x", 10),
        ("duration=+3", 3),
    ] {
        assert_eq!(
            ok(&format!("sleep {arg}")),
            Command::Sleep(Sleep { seconds: secs }),
            "{arg}"
        );
    }
    assert_eq!(
        ok("sleep duration=-4"),
        Command::Sleep(Sleep { seconds: 0 })
    );
    assert_eq!(
        ok("fsck_reset policy_only=1&startpos=-3"),
        Command::FsckReset(FsckReset {
            policy_only: true,
            startpos: 0
        })
    );
    assert_eq!(
        ok("fsck_reset policy_only=0&startpos=+12+"),
        Command::FsckReset(FsckReset {
            policy_only: false,
            startpos: 12
        })
    );
    assert_eq!(
        ok("fsck_getlog after_logid=9"),
        Command::FsckGetLog { after_logid: 9 }
    );
    assert_eq!(ok("fsck_getlog"), Command::FsckGetLog { after_logid: 0 });
    assert_eq!(
        ok("rebalance_set_policy policy=from_hosts%3D1"),
        Command::RebalanceSetPolicy {
            policy: "from_hosts=1".into()
        }
    );
    assert_eq!(
        ok("set_server_setting key=memcache_ttl"),
        Command::SetServerSetting {
            key: "memcache_ttl".into(),
            value: String::new()
        }
    );
    assert_eq!(refused("set_server_setting value=1"), ErrCode::BadParams);
    assert_eq!(refused("server_setting key="), ErrCode::BadParams);
    assert_eq!(ok("get_hosts hostid=x"), Command::GetHosts { hostid: None });
    assert_eq!(
        ok("get_devices devid=4"),
        Command::GetDevices { devid: Some(4) }
    );
}

#[test]
fn namespace_commands() {
    assert_eq!(refused("create_domain domain="), ErrCode::NoDomain);
    assert_eq!(refused("delete_domain"), ErrCode::NoDomain);
    assert_eq!(refused("create_class class=c"), ErrCode::NoDomain);
    assert_eq!(refused("update_class domain=d"), ErrCode::NoClass);
    let Command::CreateClass(c) =
        ok("create_class domain=d&class=c&mindevcount=0&replpolicy=X&hashtype=&durable=+2+")
    else {
        panic!("not create_class");
    };
    assert_eq!(c.mindevcount, Some(Err(ErrCode::InvalidMindevcount)));
    assert_eq!(c.replpolicy, Some(Err(ErrCode::InvalidReplpolicy)));
    assert_eq!(c.hashtype, Some(Ok(None)));
    assert_eq!(c.durable, Some(Ok(2)));
    let Command::UpdateClass(c) = ok(
        "update_class domain=d&class=c&mindevcount=3&replpolicy=MultipleDevices(2)&hashtype=sha1&durable=x",
    ) else {
        panic!("not update_class");
    };
    assert_eq!(c.mindevcount, Some(Ok(3)));
    assert_eq!(c.replpolicy, Some(Ok("MultipleDevices(2)".into())));
    assert_eq!(c.hashtype, Some(Ok(Some(HashType::Sha1))));
    assert_eq!(c.durable, Some(Err(ErrCode::InvalidDurable)));
    let Command::CreateClass(c) = ok("create_class domain=d&class=c&hashtype=CRC") else {
        panic!("not create_class");
    };
    assert_eq!(
        (c.mindevcount, c.replpolicy, c.hashtype, c.durable),
        (None, None, Some(Err(ErrCode::InvalidHashtype)), None)
    );
    // delete_class: the domain first, then the class, then `default`.
    assert_eq!(refused("delete_class class=default"), ErrCode::NoDomain);
    assert_eq!(refused("delete_class domain=d"), ErrCode::NoClass);
    assert_eq!(
        refused("delete_class domain=d&class=default"),
        ErrCode::NodelDefaultClass
    );
    assert_eq!(
        ok("delete_class domain=d&class=c"),
        Command::DeleteClass(ClassName {
            domain: "d".into(),
            class: "c".into()
        })
    );
}

/// The checks that were the tracker's own, kept with the decoder.
#[test]
fn policies_and_hashes() {
    assert!(valid_replpolicy("MultipleHosts(3)"));
    assert!(valid_replpolicy("MultipleHosts()"));
    assert!(valid_replpolicy("MultipleDevices(2)"));
    assert!(!valid_replpolicy("MultipleHosts(x)"));
    assert!(!valid_replpolicy("Nope(1)"));
    assert_eq!(HashType::parse_arg("md5"), Ok(Some(HashType::Md5)));
    assert_eq!(HashType::parse_arg("SHA-1"), Ok(Some(HashType::Sha1)));
    assert_eq!(HashType::parse_arg("none"), Ok(None));
    assert_eq!(HashType::parse_arg("crc"), Err(ErrCode::InvalidHashtype));
    assert_eq!(HashType::show(Some(2)), "SHA-1");
    assert_eq!(HashType::show(Some(1)), "MD5");
    assert_eq!(HashType::show(Some(7)), "NONE");
    assert_eq!(HashType::show(None), "NONE");
    for h in HashType::ALL {
        assert_eq!(HashType::from_number(h.number()), Some(h));
    }
}

#[test]
fn host_and_device_commands() {
    assert_eq!(refused("create_host ip=1.2.3.4"), ErrCode::NoHost);
    let Command::CreateHost(h) =
        ok("create_host host=h&status=bogus&port=70000&getport=81&altip=a")
    else {
        panic!("not create_host");
    };
    assert_eq!(h.status, Some(Err(ErrCode::UnknownState)));
    assert_eq!(h.port, Some(Err(ErrCode::NoPort)));
    assert_eq!(h.getport, Some(Ok(81)));
    assert_eq!((h.ip, h.altip, h.altmask), (None, Some("a".into()), None));
    let Command::UpdateHost(h) = ok("update_host host=h&status=readonly&ip=10.0.0.1") else {
        panic!("not update_host");
    };
    assert_eq!(h.status, Some(Ok("readonly".into())));
    assert_eq!(h.ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(refused("delete_host"), ErrCode::UnknownHost);

    // create_device: devid, then state, before anything else.
    assert_eq!(
        refused("create_device devid=0&state=bad"),
        ErrCode::InvalidDevid
    );
    assert_eq!(
        refused("create_device devid=2&state=bad"),
        ErrCode::InvalidState
    );
    assert_eq!(
        ok("create_device devid=2&hostname=h&hostid=1"),
        Command::CreateDevice(DeviceSpec {
            devid: 2,
            state: "alive".into(),
            host: Some(HostRef::Name("h".into()))
        })
    );
    assert_eq!(
        ok("create_device devid=2&hostid=1&state=drain"),
        Command::CreateDevice(DeviceSpec {
            devid: 2,
            state: "drain".into(),
            host: Some(HostRef::Id(1))
        })
    );
    let Command::CreateDevice(d) = ok("create_device devid=2&hostid=x") else {
        panic!("not create_device");
    };
    assert_eq!(d.host, None);

    assert_eq!(refused("set_state device=1&state=down"), ErrCode::BadParams);
    assert_eq!(refused("set_state host=h&state=down"), ErrCode::BadParams);
    let state = |line: &str| match ok(line) {
        Command::SetState(s) => s.state,
        other => panic!("{other:?}"),
    };
    assert_eq!(state("set_state host=h&device=1"), Err(ErrCode::BadParams));
    assert_eq!(
        state("set_state host=h&device=1&state=up"),
        Err(ErrCode::InvalidState)
    );
    assert_eq!(
        state("set_state host=h&device=1&state=dead"),
        Ok("dead".into())
    );
    let weight = |line: &str| match ok(line) {
        Command::SetWeight(s) => s.weight,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        weight("set_weight host=h&device=1"),
        Err(ErrCode::BadParams)
    );
    assert_eq!(
        weight("set_weight host=h&device=1&weight=-1"),
        Err(ErrCode::BadParams)
    );
    assert_eq!(weight("set_weight host=h&device=1&weight=0"), Ok(0));
}

#[test]
fn create_open_and_close() {
    assert_eq!(refused("create_open key=k"), ErrCode::NoDomain);
    assert_eq!(
        ok("create_open domain=d"),
        Command::CreateOpen(CreateOpen {
            domain: "d".into(),
            key: String::new(),
            class: None,
            multi_dest: false,
            size: None,
            fid: None,
        })
    );
    assert_eq!(
        ok("create_open domain=d&key=a+b&class=c&multi_dest=1&size=+12+&fid=-1"),
        Command::CreateOpen(CreateOpen {
            domain: "d".into(),
            key: "a b".into(),
            class: Some("c".into()),
            multi_dest: true,
            size: Some(12),
            fid: None,
        })
    );

    // The order of create_close's argument errors.
    assert_eq!(refused("create_close fid=0&devid=1&path=p"), ErrCode::NoFid);
    assert_eq!(refused("create_close fid=5&path=p"), ErrCode::NoDevid);
    assert_eq!(
        refused("create_close fid=5&devid=1&domain=d"),
        ErrCode::NoPath
    );
    assert_eq!(
        refused("create_close fid=5&devid=1&path=p"),
        ErrCode::NoDomain
    );
    let close = |line: &str| match ok(line) {
        Command::CreateClose(c) => c,
        other => panic!("{other:?}"),
    };
    let c = close(
        "create_close fid=5&devid=1&path=p&domain=d&devid_1=1&path_1=x&devid_2=3&path_2=q\
         &devid_4=9&path_4=z&checksum=MD5:00&size=0",
    );
    assert_eq!(c.fid, 5);
    assert_eq!(c.written, vec![(1, "p".into()), (3, "q".into())]);
    assert_eq!(c.checksum, Some(Err(ErrCode::InvalidChecksumFormat)));
    assert_eq!(c.size, None);
    assert_eq!((c.key, c.checksumverify), (None, false));
    let md5 = "MD5:0123456789abcdef0123456789abcdef";
    let c = close(&format!(
        "create_close fid=5&devid=1&path=p&domain=d&key=&checksum={md5}&checksumverify=1&size=12x"
    ));
    assert_eq!(c.key.as_deref(), Some(""));
    let sum = Checksum::parse(md5).expect("valid");
    assert_eq!(c.checksum, Some(Ok(sum)));
    assert!(c.checksumverify);
    assert_eq!(c.size, Some(Err(ErrCode::SizeMismatch)));
    assert_eq!(
        close("create_close fid=5&devid=1&path=p&domain=d&size=7").size,
        Some(Ok(7))
    );
    let many: String = (1..=20)
        .map(|n| format!("&devid_{n}={}&path_{n}=u{n}", n + 1))
        .collect();
    let c = close(&format!("create_close fid=5&devid=1&path=p&domain=d{many}"));
    assert_eq!(c.written.len(), 1 + MAX_DESTS);
    assert_eq!(c.written.last(), Some(&(17, "u16".to_owned())));
}

#[test]
fn key_commands() {
    assert_eq!(refused("get_paths key=k"), ErrCode::NoDomain);
    let paths = |line: &str| match ok(line) {
        Command::GetPaths(c) => c,
        other => panic!("{other:?}"),
    };
    let g = paths("get_paths domain=d");
    assert_eq!(g.key, Err(ErrCode::NoKey));
    assert_eq!((g.zone_alt, g.noverify, g.pathcount), (false, false, 2));
    let g = paths("get_paths domain=d&key=k&zone=alt&noverify=1&pathcount=5");
    assert_eq!(g.key, Ok("k".into()));
    assert_eq!((g.zone_alt, g.noverify, g.pathcount), (true, true, 5));
    assert_eq!(paths("get_paths domain=d&pathcount=1").pathcount, 2);
    assert_eq!(paths("get_paths domain=d&pathcount=x").pathcount, 2);

    assert_eq!(refused("delete key=k"), ErrCode::NoDomain);
    assert_eq!(
        ok("delete domain=d"),
        Command::Delete(FileKey {
            domain: "d".into(),
            key: Err(ErrCode::NoKey)
        })
    );
    assert_eq!(
        ok("updateclass domain=d&key=k"),
        Command::UpdateFileClass(UpdateFileClass {
            domain: "d".into(),
            key: Ok("k".into()),
            class: Err(ErrCode::NoClass)
        })
    );
    assert_eq!(
        ok("rename domain=d&to_key=b"),
        Command::Rename(Rename {
            domain: "d".into(),
            from_key: Err(ErrCode::NoKey),
            to_key: Ok("b".into())
        })
    );
    let list = |line: &str| match ok(line) {
        Command::ListKeys(c) => c,
        other => panic!("{other:?}"),
    };
    let l = list("list_keys domain=d");
    assert_eq!((l.prefix.as_str(), l.after, l.limit), ("", Ok(None), 1000));
    let l = list("list_keys domain=d&prefix=a&after=b&limit=0");
    assert_eq!((l.after, l.limit), (Err(ErrCode::AfterMismatch), 1));
    let l = list("list_keys domain=d&prefix=a&after=ab&limit=5000");
    assert_eq!((l.after, l.limit), (Ok(Some("ab".into())), 1000));
    assert_eq!(
        ok("file_info domain=d&key=k&devices=1"),
        Command::FileInfo(FileInfo {
            domain: "d".into(),
            key: Ok("k".into()),
            devices: true
        })
    );
    assert_eq!(
        ok("file_debug fid=3"),
        Command::FileDebug(FileDebug::Fid(3))
    );
    assert_eq!(refused("file_debug fid=0"), ErrCode::NoDomain);
    assert_eq!(
        ok("file_debug fid=0&domain=d"),
        Command::FileDebug(FileDebug::Key(FileKey {
            domain: "d".into(),
            key: Err(ErrCode::NoKey)
        }))
    );
    for (to, count) in [
        ("", 100),
        ("to=0", 100),
        ("to=-1", 500),
        ("to=600", 500),
        ("to=7", 7),
    ] {
        assert_eq!(
            ok(&format!("list_fids from=4&{to}")),
            Command::ListFids(ListFids { from: 4, count }),
            "{to}"
        );
    }
}

#[test]
fn httpcopy_needs_all_three() {
    assert_eq!(
        ok("httpcopy sdevid=1&ddevid=2&fid=3"),
        Command::HttpCopy(HttpCopy {
            sdevid: 1,
            ddevid: 2,
            fid: 3
        })
    );
    let r = dec("httpcopy sdevid=1&fid=3").expect_err("refused");
    assert_eq!(r.code, ErrCode::CopyErr);
    assert_eq!(
        Response::from(r).encode(None),
        "ERR copy_err sdevid,+ddevid+and+fid+are+required\r\n"
    );
}

#[test]
fn checksums() {
    let sha = format!("SHA-1:{}", "ab".repeat(20));
    let c = Checksum::parse(&sha).expect("valid");
    assert_eq!((c.alg, c.digest.len()), (HashType::Sha1, 20));
    assert_eq!(c.to_string(), sha);
    for bad in [
        "MD5",
        "MD5:",
        "md5:0123456789abcdef0123456789abcdef",
        "MD5:0123456789ABCDEF0123456789ABCDEF",
        "MD5:0123456789abcdef0123456789abcde",
        "MD5:0123456789abcdef0123456789abcdef00",
        "SHA1:0123456789abcdef0123456789abcdef01234567",
        "MD5:+123456789abcdef0123456789abcdef",
    ] {
        assert_eq!(Checksum::parse(bad), None, "{bad}");
    }
    let saved = SavedChecksum {
        hashtype: 9,
        digest: vec![0, 255],
    };
    assert_eq!(saved.to_string(), "UNKNOWN:00ff");
}

fn word() -> impl Strategy<Value = String> {
    "[^\0]{1,12}"
}

proptest! {
    /// Typed values written as a client would, read back the same.
    #[test]
    fn create_open_round_trip(
        domain in word(),
        key in "[^\0]{0,12}",
        class in proptest::option::of(word()),
        multi_dest in any::<bool>(),
        size in proptest::option::of(any::<u64>()),
        fid in proptest::option::of(1..i64::MAX),
    ) {
        let want = CreateOpen { domain, key, class, multi_dest, size, fid };
        let mut pairs = vec![("domain", want.domain.clone()), ("key", want.key.clone())];
        if let Some(c) = &want.class {
            pairs.push(("class", c.clone()));
        }
        pairs.push(("multi_dest", u8::from(want.multi_dest).to_string()));
        if let Some(s) = want.size {
            pairs.push(("size", s.to_string()));
        }
        if let Some(f) = want.fid {
            pairs.push(("fid", f.to_string()));
        }
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let line = format!("create_open {}", encode_pairs(&borrowed));
        prop_assert_eq!(dec(&line), Ok(Command::CreateOpen(want)));
    }

    #[test]
    fn get_paths_round_trip(
        domain in word(),
        key in word(),
        zone_alt in any::<bool>(),
        noverify in any::<bool>(),
        pathcount in 2usize..1000,
    ) {
        let zone = if zone_alt { "alt" } else { "" };
        let line = format!(
            "get_paths {}",
            encode_pairs(&[
                ("domain", &domain),
                ("key", &key),
                ("zone", zone),
                ("noverify", if noverify { "1" } else { "0" }),
                ("pathcount", &pathcount.to_string()),
            ])
        );
        let want = GetPaths { domain, key: Ok(key), zone_alt, noverify, pathcount };
        prop_assert_eq!(dec(&line), Ok(Command::GetPaths(want)));
    }

    #[test]
    fn checksum_round_trip(sha in any::<bool>(), bytes in proptest::collection::vec(any::<u8>(), 20)) {
        let alg = if sha { HashType::Sha1 } else { HashType::Md5 };
        let c = Checksum { alg, digest: bytes[..alg.digest_len()].to_vec() };
        prop_assert_eq!(Checksum::parse(&c.to_string()), Some(c));
    }

    /// Whatever the arguments, no command's decode panics.
    #[test]
    fn any_args_never_panic(
        cmd in proptest::sample::select(vec![
            "create_close", "create_open", "get_paths", "create_class", "create_host",
            "create_device", "set_state", "set_weight", "list_keys", "list_fids",
            "file_debug", "sleep", "httpcopy", "fsck_reset", "delete_class",
        ]),
        raw in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let _ = Command::decode_args(cmd, &Args::parse(&raw));
    }
}
