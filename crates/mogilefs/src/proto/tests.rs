use proptest::prelude::*;

use super::*;

#[test]
fn requests_decode() {
    let Line::Command(r) = parse_line(b"Get_Paths domain=d&key=a+b%26c%3D%25&key=x\r") else {
        panic!("not a command");
    };
    assert_eq!(r.cmd, "get_paths");
    assert_eq!(r.args.get("domain"), Some("d"));
    assert_eq!(r.args.get("key"), Some("a b&c=%\0x"));
    assert_eq!(parse_line(b"  \r"), Line::Empty);
    assert_eq!(parse_line(b"!version"), Line::Admin("version".into()));
    assert_eq!(parse_line(b"\x01\x02 x"), Line::Garbage);
    let Line::Command(r) = parse_line(b"noop") else {
        panic!("not a command");
    };
    assert_eq!(r.args, Args::default());
}

#[test]
fn replies_encode() {
    assert_eq!(Response::ok().encode(None), "OK \r\n");
    assert_eq!(
        Response::Ok(vec![
            ("paths".into(), "1".into()),
            ("k".into(), "a b/é".into())
        ])
        .encode(Some("7")),
        "OK paths=1&k=a+b/%C3%A9&callid=7\r\n"
    );
    assert_eq!(
        Response::err(ErrCode::UnknownCommand).encode(None),
        "ERR unknown_command Unknown+server+command\r\n"
    );
    assert_eq!(
        Response::err(ErrCode::NoKey).encode(Some("9")),
        "ERR no_key no_key 9\r\n"
    );
}

#[test]
fn codes_are_words_and_unique() {
    let mut seen = std::collections::HashSet::new();
    for c in ErrCode::ALL {
        assert!(c
            .code()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        assert!(seen.insert(c.code()), "{} twice", c.code());
    }
}

#[test]
fn fid_layout() {
    assert_eq!(fid_path(7, 123), "/dev7/0/000/000/0000000123.fid");
    assert_eq!(fid_path(1, 1234567890), "/dev1/1/234/567/1234567890.fid");
    assert_eq!(fid_path(2, 12345678901), "/dev2/1/234/567/12345678901.fid");
}

#[test]
fn bad_escapes_stay() {
    assert_eq!(decode(b"%zz%4"), b"%zz%4");
    assert_eq!(decode(b"%41+"), b"A ");
}

proptest! {
    #[test]
    fn url_round_trip(raw in proptest::collection::vec(any::<u8>(), 0..64)) {
        let enc = encode(&raw);
        prop_assert!(enc.bytes().all(|b| b.is_ascii_graphic()));
        prop_assert!(!enc.contains('&') && !enc.contains('='));
        prop_assert_eq!(decode(enc.as_bytes()), raw);
    }

    #[test]
    fn args_round_trip(pairs in proptest::collection::btree_map("[^\0]{1,8}", "[^\0]{0,12}", 0..6)) {
        let mut args = Args::default();
        for (k, v) in &pairs {
            args.set(k, v);
        }
        let line = format!("create_open {}", args.encode());
        let Line::Command(r) = parse_line(line.as_bytes()) else {
            panic!("not a command");
        };
        let empty_key_dropped: Vec<_> = pairs.keys().collect();
        prop_assert_eq!(r.args.0.keys().collect::<Vec<_>>(), empty_key_dropped);
        prop_assert_eq!(r.args, args);
    }

    #[test]
    fn any_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_line(&raw);
        let _ = parse_reply(&raw);
    }

    #[test]
    fn reply_round_trip(k in "[a-z_]{1,8}", v in ".{0,16}") {
        let line = Response::Ok(vec![(k.clone(), v.clone())]).encode(None);
        let Some(Ok(args)) = parse_reply(line.as_bytes()) else {
            panic!("not OK");
        };
        prop_assert_eq!(args.get(&k), Some(v.as_str()));
    }
}
