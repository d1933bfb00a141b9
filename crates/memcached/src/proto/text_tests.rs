//! Table tests for the text protocol. Every expectation was observed on
//! memcached 1.6.18 (reply noted where it is not obvious from the value).

use super::{parse, ErrorKind, Keys, Limits, ParseError, Parsed, Request};

fn p(input: &[u8]) -> Parsed<'_> {
    parse(input, &Limits::default())
}

/// The request, consuming the whole input.
fn whole(input: &[u8]) -> Request<'_> {
    match p(input) {
        Ok(Some((req, n))) => {
            assert_eq!(n, input.len(), "{input:?} consumed");
            req
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

const E: ErrorKind = ErrorKind::Error;
const BAD: ErrorKind = ErrorKind::Client("bad command line format");
const BAD_EXPTIME: ErrorKind = ErrorKind::Client("invalid exptime argument");
const BAD_DELTA: ErrorKind = ErrorKind::Client("invalid numeric delta argument");
const USAGE: &str = "bad command line format.  Usage: delete <key> [noreply]";

fn get(keys: &[u8]) -> Request<'_> {
    Request::Get {
        keys: Keys(keys),
        cas: false,
    }
}

#[test]
fn retrieval() {
    assert_eq!(whole(b"get a\r\n"), get(b"a"));
    assert_eq!(whole(b"get a\n"), get(b"a"));
    assert_eq!(
        whole(b"gets a b\r\n"),
        Request::Get {
            keys: Keys(b"a b"),
            cas: true
        }
    );
    assert_eq!(whole(b"bget a\r\n"), get(b"a"));
    // single-space tokenizer: extra spaces are skipped
    assert_eq!(whole(b"get  a\r\n"), get(b"a"));
    assert_eq!(whole(b"  get a\r\n"), get(b"a"));
    assert_eq!(whole(b"get a \r\n"), get(b"a"));
    let Request::Get { keys, .. } = whole(b"get a  b\r\n") else {
        panic!()
    };
    assert_eq!(keys.iter().collect::<Vec<_>>(), [b"a", b"b"]);
    // keys may hold any byte but space: the original does not check
    assert_eq!(whole(b"get a\tb\r\n"), get(b"a\tb"));
    assert_eq!(whole(b"get a\x01\r\n"), get(b"a\x01"));
    assert_eq!(whole(b"get a\rb\r\n"), get(b"a\rb"));
    assert_eq!(whole(b"get a\r\r\n"), get(b"a\r"));
    // the line is cut at NUL (C string) but consumed whole
    assert_eq!(whole(b"get a\0b\r\n"), get(b"a"));
    assert_eq!(refused(b"get \0\r\n"), E);
    assert_eq!(refused(b"\0get a\r\n"), E);
    // no key, wrong case
    for line in [
        &b"get\r\n"[..],
        b"get \r\n",
        b"gets\r\n",
        b"bget\r\n",
        b"gat\r\n",
        b"GET a\r\n",
        b"Get a\r\n",
    ] {
        assert_eq!(refused(line), E, "{line:?}");
    }
    let long = [&b"get a "[..], &[b'k'; 251], b" b\r\n"].concat();
    assert_eq!(refused(&long), BAD);
    let max = [&b"get "[..], &[b'k'; 250], b"\r\n"].concat();
    assert!(matches!(whole(&max), Request::Get { .. }));
    let many: Vec<u8> = [
        b"get".to_vec(),
        (0..30)
            .flat_map(|i| format!(" k{i}").into_bytes())
            .collect(),
        b"\r\n".to_vec(),
    ]
    .concat();
    let Request::Get { keys, .. } = whole(&many) else {
        panic!()
    };
    assert_eq!(keys.iter().count(), 30);
}

#[test]
fn gat() {
    assert_eq!(
        whole(b"gat 1 k\r\n"),
        Request::Gat {
            exptime: 1,
            keys: Keys(b"k"),
            cas: false
        }
    );
    assert_eq!(
        whole(b"gats 1 k\r\n"),
        Request::Gat {
            exptime: 1,
            keys: Keys(b"k"),
            cas: true
        }
    );
    assert_eq!(
        whole(b"gat -1 k\r\n"),
        Request::Gat {
            exptime: -1,
            keys: Keys(b"k"),
            cas: false
        }
    );
    assert_eq!(
        whole(b"gat  1  k\r\n"),
        Request::Gat {
            exptime: 1,
            keys: Keys(b"k"),
            cas: false
        }
    );
    // observed: `gat 1` and `gats 1` answer END (no key is fine)
    assert_eq!(
        whole(b"gat 1\r\n"),
        Request::Gat {
            exptime: 1,
            keys: Keys(b""),
            cas: false
        }
    );
    assert_eq!(
        whole(b"gats 1 \r\n"),
        Request::Gat {
            exptime: 1,
            keys: Keys(b""),
            cas: true
        }
    );
    assert_eq!(refused(b"gat abc k\r\n"), BAD_EXPTIME);
    assert_eq!(refused(b"gat abc\r\n"), BAD_EXPTIME);
    // the exptime is checked before the keys
    let long = [&b"gat abc "[..], &[b'k'; 251], b"\r\n"].concat();
    assert_eq!(refused(&long), BAD_EXPTIME);
    let long = [&b"gat 1 "[..], &[b'k'; 251], b"\r\n"].concat();
    assert_eq!(refused(&long), BAD);
    assert_eq!(
        whole(b"gat 4294967296 k\r\n"),
        Request::Gat {
            exptime: 0,
            keys: Keys(b"k"),
            cas: false
        }
    );
}

#[test]
fn empty_and_unknown_lines() {
    for line in [
        &b"\r\n"[..],
        b"\n",
        b" \r\n",
        b"x\r\n",
        b"ge\r\n",
        b"q\r\n",
        b"auth\r\n",
        b"misbehave\r\n",
        b"debugtime 1\r\n",
    ] {
        assert_eq!(refused(line), E, "{line:?}");
    }
    // `set\0 a 0 0 1` is `set`: a wrong token count
    assert_eq!(refused(b"set\0 a 0 0 1\r\n"), E);
}

#[test]
fn delete() {
    let del = |key, noreply| Request::Delete { key, noreply };
    assert_eq!(whole(b"delete a\r\n"), del(b"a", false));
    assert_eq!(whole(b"delete a 0\r\n"), del(b"a", false));
    assert_eq!(whole(b"delete a noreply\r\n"), del(b"a", true));
    assert_eq!(whole(b"delete a 0 noreply\r\n"), del(b"a", true));
    assert_eq!(whole(b"delete noreply\r\n"), del(b"noreply", false));
    assert_eq!(refused(b"delete a 5\r\n"), ErrorKind::Client(USAGE));
    assert_eq!(refused(b"delete a 0 0\r\n"), ErrorKind::Client(USAGE));
    assert_eq!(refused(b"delete a noreply 0\r\n"), ErrorKind::Client(USAGE));
    // observed: no reply at all
    assert_eq!(
        refused(b"delete a noreply noreply\r\n"),
        ErrorKind::Silent(USAGE)
    );
    assert_eq!(refused(b"delete a x noreply\r\n"), ErrorKind::Silent(USAGE));
    assert_eq!(refused(b"delete\r\n"), E);
    assert_eq!(refused(b"delete a 0 noreply x\r\n"), E);
    let long = [&b"delete "[..], &[b'k'; 251], b"\r\n"].concat();
    assert_eq!(refused(&long), BAD);
    let long = [&b"delete "[..], &[b'k'; 251], b" noreply\r\n"].concat();
    assert_eq!(refused(&long), ErrorKind::Silent("bad command line format"));
}

#[test]
fn incr_decr() {
    let arith = |delta, incr, noreply| Request::Arith {
        key: b"k",
        delta,
        incr,
        noreply,
    };
    assert_eq!(whole(b"incr k 1\r\n"), arith(1, true, false));
    assert_eq!(whole(b"decr k 1\r\n"), arith(1, false, false));
    assert_eq!(whole(b"incr k 1 noreply\r\n"), arith(1, true, true));
    assert_eq!(whole(b"incr k 1 foo\r\n"), arith(1, true, false));
    assert_eq!(
        whole(b"incr k 18446744073709551615\r\n"),
        arith(u64::MAX, true, false)
    );
    assert_eq!(whole(b"incr k +1\r\n"), arith(1, true, false));
    assert_eq!(whole(b"incr k \t1\r\n"), arith(1, true, false));
    assert_eq!(whole(b"incr k 1\t\r\n"), arith(1, true, false));
    assert_eq!(whole(b"incr k -0\r\n"), arith(0, true, false));
    // strtoull wraps `-n`; memcached only refuses it when the top bit is set
    assert_eq!(
        whole(b"incr k -18446744073709551615\r\n"),
        arith(1, true, false)
    );
    assert_eq!(refused(b"incr k abc\r\n"), BAD_DELTA);
    assert_eq!(refused(b"incr k -1\r\n"), BAD_DELTA);
    assert_eq!(refused(b"incr k 18446744073709551616\r\n"), BAD_DELTA);
    assert_eq!(
        refused(b"incr k abc noreply\r\n"),
        ErrorKind::Silent("invalid numeric delta argument")
    );
    assert_eq!(refused(b"incr k\r\n"), E);
    assert_eq!(refused(b"incr k 1 2 3\r\n"), E);
    assert_eq!(refused(b"decr k 1 noreply x\r\n"), E);
    let long = [&b"incr "[..], &[b'k'; 251], b" 1\r\n"].concat();
    assert_eq!(refused(&long), BAD);
}

#[test]
fn touch() {
    let touch = |exptime, noreply| Request::Touch {
        key: b"k",
        exptime,
        noreply,
    };
    assert_eq!(whole(b"touch k 1\r\n"), touch(1, false));
    assert_eq!(whole(b"touch k 1 noreply\r\n"), touch(1, true));
    assert_eq!(whole(b"touch k 1 foo\r\n"), touch(1, false));
    assert_eq!(whole(b"touch k 4294967296\r\n"), touch(0, false));
    assert_eq!(whole(b"touch k -1\r\n"), touch(-1, false));
    assert_eq!(refused(b"touch k abc\r\n"), BAD_EXPTIME);
    assert_eq!(
        refused(b"touch k abc noreply\r\n"),
        ErrorKind::Silent("invalid exptime argument")
    );
    assert_eq!(refused(b"touch k\r\n"), E);
    let long = [&b"touch "[..], &[b'k'; 251], b" 1\r\n"].concat();
    assert_eq!(refused(&long), BAD);
}

#[test]
fn verbosity() {
    let v = |level, noreply| Request::Verbosity { level, noreply };
    assert_eq!(whole(b"verbosity 1\r\n"), v(1, false));
    assert_eq!(whole(b"verbosity 1 noreply\r\n"), v(1, true));
    assert_eq!(whole(b"verbosity 1 2\r\n"), v(1, false));
    assert_eq!(whole(b"verbosity 4294967296\r\n"), v(0, false));
    assert_eq!(refused(b"verbosity\r\n"), E);
    assert_eq!(refused(b"verbosity 1 2 3\r\n"), E);
    assert_eq!(refused(b"verbosity 1 noreply x\r\n"), E);
    assert_eq!(refused(b"verbosity abc\r\n"), BAD);
    assert_eq!(refused(b"verbosity -1\r\n"), BAD);
    assert_eq!(
        refused(b"verbosity noreply\r\n"),
        ErrorKind::Silent("bad command line format")
    );
}

#[test]
fn flush_all() {
    let f = |delay, noreply| Request::FlushAll { delay, noreply };
    assert_eq!(whole(b"flush_all\r\n"), f(0, false));
    assert_eq!(whole(b"flush_all 0\r\n"), f(0, false));
    assert_eq!(whole(b"flush_all -1\r\n"), f(-1, false));
    assert_eq!(whole(b"flush_all noreply\r\n"), f(0, true));
    assert_eq!(whole(b"flush_all 10 noreply\r\n"), f(10, true));
    assert_eq!(whole(b"flush_all 1 2\r\n"), f(1, false));
    assert_eq!(whole(b"flush_all 5 foo\r\n"), f(5, false));
    assert_eq!(whole(b"flush_all 4294967296\r\n"), f(0, false));
    assert_eq!(refused(b"flush_all abc\r\n"), BAD_EXPTIME);
    assert_eq!(refused(b"flush_all noreply 5\r\n"), BAD_EXPTIME);
    assert_eq!(refused(b"flush_all 9999999999999999999\r\n"), BAD_EXPTIME);
    assert_eq!(
        refused(b"flush_all abc noreply\r\n"),
        ErrorKind::Silent("invalid exptime argument")
    );
    assert_eq!(refused(b"flush_all 1 2 3\r\n"), E);
    assert_eq!(refused(b"flush_all\t\r\n"), E);
}

#[test]
fn small_commands() {
    assert_eq!(whole(b"version\r\n"), Request::Version);
    assert_eq!(whole(b"version x\r\n"), Request::Version);
    assert_eq!(whole(b"quit\r\n"), Request::Quit);
    assert_eq!(whole(b"quit x\r\n"), Request::Quit);
    assert_eq!(whole(b"stats\r\n"), Request::Stats { args: b"" });
    assert_eq!(
        whole(b"stats settings\r\n"),
        Request::Stats { args: b"settings" }
    );
    assert_eq!(
        whole(b"stats  detail  on \r\n"),
        Request::Stats {
            args: b"detail  on"
        }
    );
    assert_eq!(refused(b"stats\tx\r\n"), E);
    let m = |mb, noreply| Request::CacheMemlimit { mb, noreply };
    assert_eq!(whole(b"cache_memlimit 100\r\n"), m(100, false));
    assert_eq!(whole(b"cache_memlimit 100 x\r\n"), m(100, false));
    assert_eq!(whole(b"cache_memlimit 100 noreply\r\n"), m(100, true));
    assert_eq!(whole(b"cache_memlimit 4294967296\r\n"), m(0, false));
    assert_eq!(refused(b"cache_memlimit\r\n"), E);
    assert_eq!(refused(b"cache_memlimit abc\r\n"), E);
    assert_eq!(refused(b"cache_memlimit 100 x y\r\n"), E);
    assert_eq!(
        refused(b"cache_memlimit abc noreply\r\n"),
        ErrorKind::Silent("ERROR")
    );
    assert_eq!(
        whole(b"shutdown\r\n"),
        Request::Shutdown { graceful: false }
    );
    assert_eq!(
        whole(b"shutdown graceful\r\n"),
        Request::Shutdown { graceful: true }
    );
    assert_eq!(
        whole(b"shutdown x\r\n"),
        Request::Admin {
            line: b"shutdown x"
        }
    );
    for line in [
        &b"lru x"[..],
        b"lru tune 10 40 0.1 2",
        b"lru_crawler",
        b"lru_crawler metadump all",
        b"slabs",
        b"watch x",
        b"extstore x",
        b"refresh_certs",
    ] {
        let input = [line, b"\r\n"].concat();
        assert_eq!(whole(&input), Request::Admin { line }, "{line:?}");
    }
    assert_eq!(
        whole(b" lru_crawler  crawl all \r\n"),
        Request::Admin {
            line: b"lru_crawler  crawl all"
        }
    );
    assert_eq!(refused(b"lru\r\n"), E);
    assert_eq!(refused(b"extstore\r\n"), E);
}

#[test]
fn long_lines() {
    let lim = Limits::default();
    let too_long = |input: &[u8]| {
        matches!(
            parse(input, &lim),
            Err(ParseError {
                kind: ErrorKind::TooLong,
                ..
            })
        )
    };
    // observed: 2048 bytes without a newline wait; 2049 close the connection
    assert_eq!(parse(&[b'x'; 2048], &lim), Ok(None));
    assert!(too_long(&[b'x'; 2049]));
    assert!(too_long(&[b'x'; 3000]));
    // decided on the line, whatever the reads (the original would answer
    // ERROR if these 3002 bytes came in one read)
    assert!(too_long(&[&[b'x'; 3000][..], b"\r\n"].concat()));
    let spaces = [b' '; 3000];
    assert_eq!(parse(&[&b"get a"[..], &spaces].concat(), &lim), Ok(None));
    assert_eq!(parse(&[&b"gets a"[..], &spaces].concat(), &lim), Ok(None));
    assert_eq!(parse(&[&b"get"[..], &spaces].concat(), &lim), Ok(None));
    assert_eq!(
        parse(&[&[b' '; 50][..], b"get a", &spaces].concat(), &lim),
        Ok(None)
    );
    assert!(too_long(&[&[b' '; 150][..], b"get a", &spaces].concat()));
    assert!(too_long(&[&b"gat 1 a"[..], &spaces].concat()));
    assert!(too_long(&[&b"mg a"[..], &spaces].concat()));
    assert!(too_long(&[&b"get\t"[..], &spaces].concat()));
    let long_get = [&b"get a"[..], &spaces, b"\r\n"].concat();
    assert_eq!(whole(&long_get), get(b"a"));
    // observed: 800 keys of ~20 bytes
    let keys: Vec<u8> = (0..800)
        .flat_map(|i| format!(" key_{i:016}").into_bytes())
        .collect();
    let line = [&b"get"[..], &keys, b"\r\n"].concat();
    let Request::Get { keys, .. } = whole(&line) else {
        panic!()
    };
    assert_eq!(keys.iter().count(), 800);
    // capped at get_line_max
    let small = Limits {
        get_line_max: 4096,
        ..lim
    };
    let e = parse(&line, &small).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooLong);
}

#[test]
fn http_request_lines_hang_up() {
    for l in [
        &b"GET / HTTP/1.0\r\n"[..],
        b"PUT /asdf/asd/fasdfasdf/sadf HTTP/1.1\r\n",
        b"DELETE HTTP/1.1\r\n",
    ] {
        assert_eq!(refused(l), ErrorKind::Hangup, "{l:?}");
    }
    // Only unknown commands: a key may look like a version.
    assert_eq!(refused(b"FOO bar\r\n"), ErrorKind::Error);
    assert!(matches!(whole(b"get HTTP/1.1\r\n"), Request::Get { .. }));
}
