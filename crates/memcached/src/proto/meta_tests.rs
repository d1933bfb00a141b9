//! Table tests for the meta commands. Every expectation was observed on
//! memcached 1.6.18.

use super::{
    parse, ErrorKind, Limits, MetaCmd, MetaFlag, MetaRequest, ParseError, Parsed, Request,
};

fn p(input: &[u8]) -> Parsed<'_> {
    parse(input, &Limits::default())
}

/// The meta request, consuming the whole input.
fn meta(input: &[u8]) -> MetaRequest<'_> {
    match p(input) {
        Ok(Some((Request::Meta(m), n))) => {
            assert_eq!(n, input.len(), "{input:?} consumed");
            m
        }
        other => panic!("{input:?} -> {other:?}"),
    }
}

/// The error, consuming the whole input.
fn refused(input: &[u8]) -> ErrorKind {
    match p(input) {
        Err(ParseError { kind, consumed }) => {
            assert_eq!(consumed, input.len(), "{input:?} consumed");
            kind
        }
        other => panic!("{input:?} -> {other:?}"),
    }
}

fn client(msg: &'static str) -> ErrorKind {
    ErrorKind::Client(msg)
}

fn letters(m: &MetaRequest<'_>) -> Vec<u8> {
    m.flags.iter().map(|f| f.letter).collect()
}

/// An `ms` refused after its length: (error, line consumed, swallow).
fn ms_refused(input: &[u8]) -> (ErrorKind, usize, usize) {
    match p(input) {
        Ok(Some((Request::MetaRefused { kind, swallow }, n))) => (kind, n, swallow),
        other => panic!("{input:?} -> {other:?}"),
    }
}

const BAD: &str = "bad command line format";
const BAD_TOKEN: &str = "bad token in command line format";
const INVALID_OR_DUP: &str = "invalid or duplicate flag";

#[test]
fn flags_in_request_order() {
    let m = meta(b"mg foo s v t f c k O123 h l\r\n");
    assert_eq!(m.cmd, MetaCmd::Get);
    assert_eq!(m.key, b"foo");
    assert_eq!(letters(&m), b"svtfckOhl");
    assert_eq!(m.flag(b'O').map(|f| f.token), Some(&b"123"[..]));
    assert!(m.has(b'v') && !m.has(b'q'));
    // tokens after flags that take none are kept and ignored
    let m = meta(b"mg foo v1 s2 kk\r\n");
    assert_eq!(
        m.flags,
        [
            MetaFlag {
                letter: b'v',
                token: b"1"
            },
            MetaFlag {
                letter: b's',
                token: b"2"
            },
            MetaFlag {
                letter: b'k',
                token: b"k"
            }
        ]
    );
    assert_eq!(meta(b"mg  foo  v\r\n").flags.len(), 1);
    assert_eq!(meta(b" mg foo v \r\n").key, b"foo");
    assert_eq!(meta(b"mg foo\t\r\n").key, b"foo\t");
    assert_eq!(meta(b"mg foo\tv\r\n").key, b"foo\tv");
}

#[test]
fn no_key_and_unknown() {
    for line in [
        &b"mg\r\n"[..],
        b"ms\r\n",
        b"md\r\n",
        b"ma\r\n",
        b"mz foo\r\n",
        b"mgg foo\r\n",
        b"MG foo\r\n",
    ] {
        assert_eq!(refused(line), ErrorKind::Error, "{line:?}");
    }
    assert_eq!(refused(b"me\r\n"), client(BAD));
    assert_eq!(refused(b"ms foo\r\n"), client(BAD));
    for line in [&b"mn\r\n"[..], b"mn\n", b"mn foo bar\r\n"] {
        let m = meta(line);
        assert_eq!((m.cmd, m.key, m.flags.len()), (MetaCmd::Noop, &b""[..], 0));
    }
}

#[test]
fn flag_letters() {
    // all four commands share one check: these first bytes pass it
    let accepted = b"bcfhklqstuvCDFIJLMNOPRT";
    // with no token, these fail their token check (key "x": b cannot decode)
    let token_error = |c: u8| match c {
        b'b' => Some("error decoding key"),
        b'C' | b'N' | b'R' | b'T' => Some(BAD_TOKEN),
        b'D' => Some("invalid numeric delta value"),
        b'J' => Some("invalid numeric initial value"),
        b'F' => Some(BAD),
        b'M' => Some("incorrect length for M token"),
        _ => None,
    };
    for c in 0x21u8..0x7f {
        for cmd in [&b"mg"[..], b"md", b"ma"] {
            let line = [cmd, b" x ", &[c], b"\r\n"].concat();
            let r = p(&line);
            let want = if !accepted.contains(&c) {
                Some(if cmd == b"mg" {
                    "invalid flag"
                } else {
                    INVALID_OR_DUP
                })
            } else {
                token_error(c).map(|m| if cmd == b"mg" { m } else { INVALID_OR_DUP })
            };
            match want {
                Some(msg) => assert_eq!(r.unwrap_err().kind, client(msg), "{line:?}"),
                None => assert!(
                    matches!(r, Ok(Some((Request::Meta(_), _)))),
                    "{line:?} -> {r:?}"
                ),
            }
        }
        let line = [&b"ms x 1 "[..], &[c], b"\r\nx\r\n"].concat();
        let r = p(&line);
        let want = if accepted.contains(&c) {
            token_error(c)
        } else {
            Some("invalid flag")
        };
        match want {
            Some(msg) => assert_eq!(
                r,
                Ok(Some((
                    Request::MetaRefused {
                        kind: client(msg),
                        swallow: 3
                    },
                    10
                ))),
                "{line:?}"
            ),
            None => assert!(
                matches!(r, Ok(Some((Request::Meta(_), 13)))),
                "{line:?} -> {r:?}"
            ),
        }
    }
}

#[test]
fn flag_errors() {
    assert_eq!(refused(b"mg foo zz\r\n"), client("invalid flag"));
    assert_eq!(refused(b"mg foo v v\r\n"), client("duplicate flag"));
    // bytes >= 127 are "duplicate", control bytes "invalid"
    assert_eq!(refused(b"mg foo \x80\r\n"), client("duplicate flag"));
    assert_eq!(refused(b"mg foo \x7f\r\n"), client("duplicate flag"));
    assert_eq!(refused(b"mg foo \x01\r\n"), client("invalid flag"));
    // an invalid or duplicate flag stops at once; token errors go on, the last message wins
    assert_eq!(refused(b"mg foo Tabc zz\r\n"), client("invalid flag"));
    assert_eq!(refused(b"mg foo zz Tabc\r\n"), client("invalid flag"));
    assert_eq!(refused(b"mg foo Tabc F\r\n"), client(BAD_TOKEN));
    assert_eq!(
        refused(b"mg foo Tabc Mxx\r\n"),
        client("incorrect length for M token")
    );
    assert_eq!(refused(b"mg foo Mxx Tabc\r\n"), client(BAD_TOKEN));
    assert_eq!(refused(b"mg foo T1x\r\n"), client(BAD_TOKEN));
    assert_eq!(refused(b"mg foo Tabc\r\n"), client(BAD_TOKEN));
    assert_eq!(refused(b"mg foo T 1\r\n"), client("invalid flag"));
    // C-like numbers
    assert_eq!(meta(b"mg foo T1\t\r\n").i64_flag(b'T'), Some(1));
    assert_eq!(meta(b"mg foo T+1\r\n").i64_flag(b'T'), Some(1));
    assert_eq!(meta(b"mg foo T-1\r\n").i64_flag(b'T'), Some(-1));
    assert_eq!(meta(b"mg foo T4294967296\r\n").i64_flag(b'T'), Some(0));
    // mg takes any M mode, and the ms/ma-only flags
    assert_eq!(
        letters(&meta(b"mg foo Mx C1 D1 J1 F1 I N1 R1\r\n")),
        b"MCDJFINR"
    );
    // q never hides an error
    assert_eq!(refused(b"mg foo Tabc q\r\n"), client(BAD_TOKEN));
    assert_eq!(refused(b"mg foo zz q\r\n"), client("invalid flag"));
    assert_eq!(refused(b"md foo zz q\r\n"), client(INVALID_OR_DUP));
}

#[test]
fn too_many_flags() {
    // the original refuses more than 20 tokens, counting its terminal one
    let flags = [
        "c", "f", "h", "k", "l", "s", "t", "u", "v", "I", "L", "O", "P", "T1", "N1", "R1", "C1",
        "F1", "D1", "J1",
    ];
    let line = |cmd: &str, n: usize| format!("{cmd} foo {}\r\n", flags[..n].join(" ")).into_bytes();
    assert_eq!(meta(&line("mg", 17)).flags.len(), 17);
    assert_eq!(
        refused(&line("mg", 18)),
        client("options flags are too long")
    );
    assert_eq!(meta(&line("md", 17)).flags.len(), 17);
    assert_eq!(refused(&line("md", 18)), client("options flags too long"));
    assert_eq!(meta(&line("ma", 17)).flags.len(), 17);
    assert_eq!(refused(&line("ma", 19)), client("options flags too long"));
    let ms = |n: usize| format!("ms foo 2 {}\r\nhi\r\n", flags[..n].join(" ")).into_bytes();
    assert_eq!(meta(&ms(16)).flags.len(), 16);
    // before the length is read: nothing swallowed
    let input = ms(17);
    assert_eq!(
        p(&input).unwrap_err(),
        ParseError {
            kind: client("options flags too long"),
            consumed: input.len() - 4
        }
    );
    // checked before the flags themselves
    assert_eq!(
        refused(b"mg foo c c c c c c c c c c c c c c c c c c\r\n"),
        client("options flags are too long")
    );
}

#[test]
fn keys() {
    let k250 = [b'k'; 250];
    let k251 = [b'k'; 251];
    assert_eq!(meta(&[&b"mg "[..], &k250, b" v\r\n"].concat()).key, k250);
    for cmd in [&b"mg "[..], b"md ", b"ma ", b"me "] {
        assert_eq!(
            refused(&[cmd, &k251, b"\r\n"].concat()),
            client(BAD),
            "{cmd:?}"
        );
    }
    // ms: refused before the length, so the data is read as a command
    let input = [&b"ms "[..], &k251, b" 2\r\nhi\r\n"].concat();
    assert_eq!(
        p(&input).unwrap_err(),
        ParseError {
            kind: client(BAD),
            consumed: input.len() - 4
        }
    );
}

#[test]
fn base64_keys() {
    let m = meta(b"mg Zm9v b v k\r\n");
    assert_eq!((m.key, &*m.decoded_key()), (&b"Zm9v"[..], &b"foo"[..]));
    assert_eq!(&*meta(b"mg foo v\r\n").decoded_key(), b"foo");
    assert_eq!(&*meta(b"mg Zm9v\x01 b k\r\n").decoded_key(), b"foo");
    assert_eq!(&*meta(b"mg Zg== b\r\n").decoded_key(), b"f");
    assert_eq!(&*meta(b"mg AAAA b\r\n").decoded_key(), [0, 0, 0]);
    for key in [
        &b"Zm9"[..],
        b"Zm9v=",
        b"Zm8",
        b"Zg=",
        b"Zg",
        b"====",
        b"Zm-v",
        b"Zm9vYmFyZ",
        b"foo",
    ] {
        let line = [&b"mg "[..], key, b" b\r\n"].concat();
        assert_eq!(refused(&line), client("error decoding key"), "{key:?}");
    }
    // `b` with a token still means base64 (only the first byte counts)
    assert_eq!(refused(b"mg foo b2 k\r\n"), client("error decoding key"));
    // the 250-byte limit is on the encoded key
    assert!(meta(&[&b"mg "[..], &b"QUFB".repeat(62), b" b k\r\n"].concat()).has(b'b'));
    assert_eq!(
        refused(&[&b"mg "[..], &b"QUFB".repeat(63), b" b k\r\n"].concat()),
        client(BAD)
    );
    assert_eq!(refused(b"md ! b\r\n"), client(INVALID_OR_DUP));
    assert_eq!(refused(b"ma ! b\r\n"), client(INVALID_OR_DUP));
    assert_eq!(letters(&meta(b"md Zm9v b q\r\n")), b"bq");
}

#[test]
fn debug_and_noop() {
    let m = meta(b"me foo\r\n");
    assert_eq!(
        (m.cmd, m.key, m.flags.len()),
        (MetaCmd::Debug, &b"foo"[..], 0)
    );
    let m = meta(b"me Zm9v b\r\n");
    assert_eq!(
        (letters(&m), &*m.decoded_key()),
        (b"b".to_vec(), &b"foo"[..])
    );
    // only a third token of exactly "b" counts; anything else is ignored
    assert_eq!(meta(b"me Zm9v c b\r\n").flags.len(), 0);
    assert_eq!(meta(b"me foo bb\r\n").flags.len(), 0);
    assert_eq!(meta(b"me foo zz v v\r\n").flags.len(), 0);
    assert_eq!(refused(b"me ! b\r\n"), client(BAD));
}

#[test]
fn opaque_length() {
    let o31 = [&b"O"[..], &[b'x'; 31]].concat();
    let o32 = [&b"O"[..], &[b'x'; 32]].concat();
    assert!(meta(&[&b"mg foo "[..], &o31, b"\r\n"].concat()).has(b'O'));
    assert_eq!(
        refused(&[&b"mg foo "[..], &o32, b"\r\n"].concat()),
        client("opaque token too long")
    );
    assert_eq!(
        refused(&[&b"md foo "[..], &o32, b"\r\n"].concat()),
        client("opaque token too long")
    );
    // the original checks ma's opaque after doing the arithmetic; refused here before
    assert_eq!(
        refused(&[&b"ma foo "[..], &o32, b"\r\n"].concat()),
        client("opaque token too long")
    );
    assert!(meta(&[&b"ms foo 2 "[..], &o31, b"\r\nhi\r\n"].concat()).has(b'O'));
    let input = [&b"ms foo 2 "[..], &o32, b"\r\nhi\r\n"].concat();
    assert_eq!(
        ms_refused(&input),
        (client("opaque token too long"), input.len() - 4, 4)
    );
    // an invalid ms mode is reported first
    let input = [&b"ms foo 2 MX "[..], &o32, b"\r\nhi\r\n"].concat();
    assert_eq!(ms_refused(&input).0, client("invalid mode for ms M token"));
}

#[test]
fn arithmetic() {
    for mode in [&b"MI"[..], b"M+", b"MD", b"M-"] {
        let line = [&b"ma foo "[..], mode, b"\r\n"].concat();
        assert!(meta(&line).has(b'M'), "{mode:?}");
    }
    for mode in [&b"Mi"[..], b"Mx", b"Md"] {
        let line = [&b"ma foo "[..], mode, b"\r\n"].concat();
        assert_eq!(
            refused(&line),
            client("invalid mode for ma M token"),
            "{mode:?}"
        );
    }
    assert_eq!(refused(b"ma foo D-1\r\n"), client(INVALID_OR_DUP));
    assert_eq!(refused(b"ma foo Dabc\r\n"), client(INVALID_OR_DUP));
    assert_eq!(refused(b"ma foo MII\r\n"), client(INVALID_OR_DUP));
    let m = meta(b"ma foo J5 N0 v D18446744073709551615\r\n");
    assert_eq!(
        (m.u64_flag(b'J'), m.i64_flag(b'N'), m.u64_flag(b'D')),
        (Some(5), Some(0), Some(u64::MAX))
    );
    assert_eq!(m.u64_flag(b'C'), None);
}

#[test]
fn meta_set() {
    let m = meta(b"ms foo 2\r\nhi\r\n");
    assert_eq!(
        (m.cmd, m.key, m.data, m.flags.len()),
        (MetaCmd::Set, &b"foo"[..], &b"hi"[..], 0)
    );
    let m = meta(b"ms foo 2 T-1 F4294967297 C18446744073709551615 I q\r\nhi\r\n");
    assert_eq!(
        (m.i64_flag(b'T'), m.u64_flag(b'F'), m.u64_flag(b'C')),
        (Some(-1), Some(1), Some(u64::MAX))
    );
    assert_eq!(letters(&m), b"TFCIq");
    // the length is read like bytes in set
    for len in [&b"02"[..], b"+2", b"4294967298"] {
        let input = [&b"ms foo "[..], len, b"\r\nhi\r\n"].concat();
        assert_eq!(meta(&input).data, b"hi", "{len:?}");
    }
    assert_eq!(meta(b"ms foo 4\r\n\r\n\r\n\r\n").data, b"\r\n\r\n");
    for mode in [&b"ME"[..], b"MA", b"MP", b"MR", b"MS"] {
        let input = [&b"ms foo 2 "[..], mode, b"\r\nhi\r\n"].concat();
        assert!(meta(&input).has(b'M'), "{mode:?}");
    }
    let m = meta(b"ms Zm9v 2 b\r\nhi\r\n");
    assert_eq!(&*m.decoded_key(), b"foo");
    // waits for the whole block
    for cut in 0..14 {
        assert_eq!(p(&b"ms foo 2\r\nhi\r\n"[..cut]), Ok(None), "cut {cut}");
    }
}

#[test]
fn meta_set_refused_before_the_length() {
    // nothing swallowed: `hi` then reads as a command
    for (input, msg) in [
        (&b"ms foo abc\r\nhi\r\n"[..], BAD),
        (b"ms foo -1\r\nhi\r\n", BAD),
        (b"ms foo 2147483648\r\nhi\r\n", BAD),
        (b"ms foo T1 2\r\nhi\r\n", BAD),
    ] {
        assert_eq!(
            p(input).unwrap_err(),
            ParseError {
                kind: client(msg),
                consumed: input.len() - 4
            },
            "{input:?}"
        );
    }
}

#[test]
fn meta_set_refused_after_the_length() {
    // the data block is swallowed (line consumed, then swallow = len + 2)
    for (flags, msg) in [
        (&b"T"[..], BAD_TOKEN),
        (b"Tabc", BAD_TOKEN),
        (b"MX", "invalid mode for ms M token"),
        (b"Me", "invalid mode for ms M token"),
        (b"Ms", "invalid mode for ms M token"),
        (b"MSS", "incorrect length for M token"),
        (b"F-1", BAD),
        (b"Fabc", BAD),
        (b"C18446744073709551616", BAD_TOKEN),
        (b"b", "error decoding key"),
        (b"2", "invalid flag"),
        (b"zz q", "invalid flag"),
        (b"v v", "duplicate flag"),
    ] {
        let line = [&b"ms foo 2 "[..], flags, b"\r\n"].concat();
        let input = [&line[..], b"hi\r\n"].concat();
        assert_eq!(
            ms_refused(&input),
            (client(msg), line.len(), 4),
            "{flags:?}"
        );
        // decided on the line alone: no need to wait for the data
        assert_eq!(ms_refused(&line), (client(msg), line.len(), 4), "{flags:?}");
    }
}

#[test]
fn meta_set_data_errors() {
    // observed: bad data chunk even with q; consumes line + len + 2
    assert_eq!(
        p(b"ms foo 2\r\nhiXXmn\r\n"),
        Ok(Some((Request::BadDataChunk { noreply: false }, 14)))
    );
    assert_eq!(
        p(b"ms foo 2 q\r\nhiXX"),
        Ok(Some((Request::BadDataChunk { noreply: false }, 16)))
    );
    let lim = Limits {
        item_size_max: 1024,
        ..Limits::default()
    };
    match parse(b"ms foo 2000 q MA\r\n", &lim) {
        Ok(Some((Request::MetaTooLarge { req, swallow }, 18))) => {
            assert_eq!(
                (req.key, letters(&req), swallow),
                (&b"foo"[..], b"qM".to_vec(), 2002)
            );
        }
        other => panic!("{other:?}"),
    }
    // flag errors come before size
    assert_eq!(
        parse(b"ms foo 2000 zz\r\n", &lim),
        Ok(Some((
            Request::MetaRefused {
                kind: client("invalid flag"),
                swallow: 2002
            },
            16
        )))
    );
    assert_eq!(
        parse(b"ms foo 2000 Fabc\r\n", &lim),
        Ok(Some((
            Request::MetaRefused {
                kind: client(BAD),
                swallow: 2002
            },
            18
        )))
    );
}
