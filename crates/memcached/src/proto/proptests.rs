//! Property tests for the parser: it never panics, the result does not
//! depend on how the input is split, and generated requests parse back to
//! what was generated.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;

use super::{parse, ErrorKind, Limits, MetaCmd, Request, StoreCmd};

/// Small limits, so the generators reach them.
fn small() -> Limits {
    Limits {
        key_max: 250,
        line_max: 200,
        get_line_max: 600,
        item_size_max: 64,
    }
}

/// What one request or error became: owned, so runs on different buffers
/// compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Req(String, usize),
    Err(ErrorKind, usize),
}

/// Bytes a request tells the server to discard after it.
fn swallow(req: &Request<'_>) -> usize {
    match req {
        Request::TooLarge { swallow, .. }
        | Request::MetaTooLarge { swallow, .. }
        | Request::MetaRefused { swallow, .. } => *swallow,
        _ => 0,
    }
}

/// Feeds `chunks` the way the server does: append, parse until `None`,
/// advance by what was consumed, discard what must be swallowed. Checks
/// that `consumed` is within the buffer and not zero.
fn drive(chunks: &[&[u8]], lim: &Limits) -> Vec<Event> {
    let mut buf: Vec<u8> = Vec::new();
    let mut skip = 0usize;
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let k = skip.min(buf.len());
            buf.drain(..k);
            skip -= k;
            if skip > 0 {
                break;
            }
            match parse(&buf, lim) {
                Ok(None) => break,
                Ok(Some((req, n))) => {
                    assert!(n > 0 && n <= buf.len(), "consumed {n} of {}", buf.len());
                    skip = swallow(&req);
                    out.push(Event::Req(format!("{req:?}"), n));
                    buf.drain(..n);
                }
                Err(e) => {
                    assert!(
                        e.consumed > 0 && e.consumed <= buf.len(),
                        "{e:?} of {}",
                        buf.len()
                    );
                    out.push(Event::Err(e.kind, e.consumed));
                    if e.kind == ErrorKind::TooLong {
                        return out;
                    }
                    buf.drain(..e.consumed);
                }
            }
        }
    }
    out
}

/// Cuts `input` at the given points (taken modulo its length).
fn split<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for c in at {
        out.push(input.get(prev..c).unwrap_or_default());
        prev = c;
    }
    out.push(input.get(prev..).unwrap_or_default());
    out
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    // any byte but space, NUL, CR and LF (the line framing's own bytes)
    vec(
        any::<u8>().prop_filter("key byte", |b| !matches!(b, b' ' | 0 | b'\r' | b'\n')),
        1..12,
    )
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    // data may hold anything, CRLF included
    vec(prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n')], 0..40)
}

/// A generated request: its bytes and its expected parse.
#[derive(Debug, Clone)]
enum Gen {
    Get {
        keys: Vec<Vec<u8>>,
        cas: bool,
    },
    Store {
        cmd: StoreCmd,
        key: Vec<u8>,
        flags: u32,
        exptime: i32,
        data: Vec<u8>,
        cas: u64,
        noreply: bool,
    },
    Delete {
        key: Vec<u8>,
        noreply: bool,
    },
    Arith {
        key: Vec<u8>,
        delta: u64,
        incr: bool,
        noreply: bool,
    },
    Touch {
        key: Vec<u8>,
        exptime: i32,
        noreply: bool,
    },
    Mg {
        key: Vec<u8>,
        flags: Vec<(u8, Vec<u8>)>,
    },
}

impl Gen {
    fn bytes(&self) -> Vec<u8> {
        let nr = |n: bool| if n { &b" noreply"[..] } else { b"" };
        match self {
            Gen::Get { keys, cas } => {
                let mut out = if *cas {
                    b"gets".to_vec()
                } else {
                    b"get".to_vec()
                };
                for k in keys {
                    out.push(b' ');
                    out.extend_from_slice(k);
                }
                out.extend_from_slice(b"\r\n");
                out
            }
            Gen::Store {
                cmd,
                key,
                flags,
                exptime,
                data,
                cas,
                noreply,
            } => {
                let name = match cmd {
                    StoreCmd::Set => "set",
                    StoreCmd::Add => "add",
                    StoreCmd::Replace => "replace",
                    StoreCmd::Append => "append",
                    StoreCmd::Prepend => "prepend",
                    StoreCmd::Cas => "cas",
                };
                let mut out = [name.as_bytes(), b" ", key].concat();
                out.extend_from_slice(format!(" {flags} {exptime} {}", data.len()).as_bytes());
                if *cmd == StoreCmd::Cas {
                    out.extend_from_slice(format!(" {cas}").as_bytes());
                }
                [&out[..], nr(*noreply), b"\r\n", data, b"\r\n"].concat()
            }
            Gen::Delete { key, noreply } => [&b"delete "[..], key, nr(*noreply), b"\r\n"].concat(),
            Gen::Arith {
                key,
                delta,
                incr,
                noreply,
            } => {
                let name: &[u8] = if *incr { b"incr " } else { b"decr " };
                [
                    name,
                    key,
                    format!(" {delta}").as_bytes(),
                    nr(*noreply),
                    b"\r\n",
                ]
                .concat()
            }
            Gen::Touch {
                key,
                exptime,
                noreply,
            } => [
                &b"touch "[..],
                key,
                format!(" {exptime}").as_bytes(),
                nr(*noreply),
                b"\r\n",
            ]
            .concat(),
            Gen::Mg { key, flags } => {
                let mut out = [&b"mg "[..], key].concat();
                for (l, t) in flags {
                    out.push(b' ');
                    out.push(*l);
                    out.extend_from_slice(t);
                }
                out.extend_from_slice(b"\r\n");
                out
            }
        }
    }

    /// Checks the parse against what was generated.
    fn check(&self, req: &Request<'_>) -> Result<(), TestCaseError> {
        match (self, req) {
            (Gen::Get { keys, cas }, Request::Get { keys: got, cas: c }) => {
                prop_assert_eq!(cas, c);
                prop_assert_eq!(
                    got.iter().collect::<Vec<_>>(),
                    keys.iter().map(|k| &k[..]).collect::<Vec<_>>()
                );
            }
            (
                Gen::Store {
                    cmd,
                    key,
                    flags,
                    exptime,
                    data,
                    cas,
                    noreply,
                },
                got,
            ) => {
                let want = Request::Store {
                    cmd: *cmd,
                    key,
                    flags: *flags,
                    exptime: i64::from(*exptime),
                    data,
                    cas: if *cmd == StoreCmd::Cas { *cas } else { 0 },
                    noreply: *noreply,
                };
                prop_assert_eq!(&want, got);
            }
            (Gen::Delete { key, noreply }, got) => prop_assert_eq!(
                &Request::Delete {
                    key,
                    noreply: *noreply
                },
                got
            ),
            (
                Gen::Arith {
                    key,
                    delta,
                    incr,
                    noreply,
                },
                got,
            ) => {
                prop_assert_eq!(
                    &Request::Arith {
                        key,
                        delta: *delta,
                        incr: *incr,
                        noreply: *noreply
                    },
                    got
                );
            }
            (
                Gen::Touch {
                    key,
                    exptime,
                    noreply,
                },
                got,
            ) => {
                prop_assert_eq!(
                    &Request::Touch {
                        key,
                        exptime: i64::from(*exptime),
                        noreply: *noreply
                    },
                    got
                );
            }
            (Gen::Mg { key, flags }, Request::Meta(m)) => {
                prop_assert_eq!(m.cmd, MetaCmd::Get);
                prop_assert_eq!(m.key, &key[..]);
                let got: Vec<(u8, Vec<u8>)> = m
                    .flags
                    .iter()
                    .map(|f| (f.letter, f.token.to_vec()))
                    .collect();
                prop_assert_eq!(&got, flags);
            }
            (g, r) => prop_assert!(false, "{:?} parsed as {:?}", g, r),
        }
        Ok(())
    }
}

fn store_cmd() -> impl Strategy<Value = StoreCmd> {
    prop_oneof![
        Just(StoreCmd::Set),
        Just(StoreCmd::Add),
        Just(StoreCmd::Replace),
        Just(StoreCmd::Append),
        Just(StoreCmd::Prepend),
        Just(StoreCmd::Cas),
    ]
}

/// mg flags: a random subset of the letters, in random order, with valid
/// tokens.
fn mg_flags() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    let plain = b"cfhklqstuvIOPL";
    let all: Vec<u8> = plain.iter().copied().chain(*b"TNRCFJDM").collect();
    Just(all)
        .prop_shuffle()
        .prop_flat_map(|letters| {
            let n = letters.len();
            (
                Just(letters),
                0..=n.min(17),
                any::<u64>(),
                any::<i32>(),
                vec(b'a'..=b'z', 0..8),
            )
        })
        .prop_map(|(letters, n, num, ttl, word)| {
            letters
                .into_iter()
                .take(n)
                .map(|l| {
                    let token = match l {
                        b'T' | b'N' | b'R' => ttl.to_string().into_bytes(),
                        b'C' | b'J' | b'D' => num.to_string().into_bytes(),
                        b'F' => (num as u32).to_string().into_bytes(),
                        b'M' => vec![b'S'],
                        b'O' | b'P' | b'L' => word.clone(),
                        _ => Vec::new(),
                    };
                    (l, token)
                })
                .collect()
        })
}

fn gen() -> impl Strategy<Value = Gen> {
    prop_oneof![
        (vec(key(), 1..=5), any::<bool>()).prop_map(|(keys, cas)| Gen::Get { keys, cas }),
        (
            store_cmd(),
            key(),
            any::<u32>(),
            any::<i32>(),
            data(),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(
                |(cmd, key, flags, exptime, data, cas, noreply)| Gen::Store {
                    cmd,
                    key,
                    flags,
                    exptime,
                    data,
                    cas,
                    noreply
                }
            ),
        // `delete noreply` is the key "noreply"; keep keys apart from it
        (
            key().prop_filter("not noreply", |k| k != b"noreply"),
            any::<bool>()
        )
            .prop_map(|(key, noreply)| Gen::Delete { key, noreply }),
        (key(), any::<u64>(), any::<bool>(), any::<bool>()).prop_map(
            |(key, delta, incr, noreply)| Gen::Arith {
                key,
                delta,
                incr,
                noreply
            }
        ),
        (key(), any::<i32>(), any::<bool>()).prop_map(|(key, exptime, noreply)| Gen::Touch {
            key,
            exptime,
            noreply
        }),
        (
            (b'a'..=b'z', vec(b'a'..=b'z', 0..10)).prop_map(|(a, rest)| [vec![a], rest].concat()),
            mg_flags()
        )
            .prop_map(|(key, flags)| Gen::Mg { key, flags }),
    ]
}

/// Requests the parser refuses or cuts short, to mix into pipelines.
fn junk() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"set a 0 0 3\r\nabcde\r\n".to_vec()),
        Just(b"set a 0 0 -1\r\n".to_vec()),
        Just(b"bogus\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"incr k abc noreply\r\n".to_vec()),
        Just(b"mg foo zz\r\n".to_vec()),
        Just(b"ms foo 3 zz\r\nabc\r\n".to_vec()),
        Just(b"ms foo 2\r\nhiXX".to_vec()),
        Just([&b"set big 0 0 100\r\n"[..], &[b'x'; 100], b"\r\n"].concat()),
        Just([&b"ms big 100 q\r\n"[..], &[b'y'; 100], b"\r\n"].concat()),
        Just([&b"get "[..], &[b'k'; 251], b"\r\n"].concat()),
        Just(b"version\nquit\n".to_vec()),
    ]
}

/// Pieces of requests, to build near-valid input from.
const PIECES: &[&[u8]] = &[
    b"get ",
    b"set ",
    b"ms ",
    b"mg ",
    b"cas ",
    b"incr ",
    b"delete ",
    b"flush_all ",
    b"gat ",
    b"me ",
    b"noreply",
    b" ",
    b"\r\n",
    b"\n",
    b"0",
    b"1",
    b"-1",
    b"5",
    b"b",
    b"Zm9v",
    b"q",
    b"T",
    b"M",
    b"O",
    b"\0",
    b"\r",
    b"\x80",
    b"4294967297",
];

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(input in vec(any::<u8>(), 0..600)) {
        drive(&[&input], &small());
        drive(&[&input], &Limits::default());
        let tiny = Limits { key_max: 3, line_max: 8, get_line_max: 4, item_size_max: 2 };
        drive(&[&input], &tiny);
    }

    #[test]
    fn protocol_like_bytes_never_panic(parts in vec(select(PIECES), 0..60)) {
        let input: Vec<u8> = parts.concat();
        drive(&[&input], &small());
        drive(&[&input], &Limits::default());
    }

    #[test]
    fn same_result_whatever_the_split(
        reqs in vec(prop_oneof![3 => gen().prop_map(|g| g.bytes()), 1 => junk()], 1..8),
        cuts in vec(any::<usize>(), 0..12),
        trailing_long in any::<bool>(),
    ) {
        let mut input: Vec<u8> = reqs.concat();
        if trailing_long {
            input.extend_from_slice(&[b'x'; 300]);
        }
        let whole = drive(&[&input], &small());
        let chunks = split(&input, &cuts);
        prop_assert_eq!(&drive(&chunks, &small()), &whole);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        prop_assert_eq!(&drive(&bytes, &small()), &whole);
    }

    #[test]
    fn generated_requests_parse_back(g in gen(), tail in vec(any::<u8>(), 0..8)) {
        let bytes = g.bytes();
        let input = [&bytes[..], &tail].concat();
        let lim = Limits::default();
        match parse(&input, &lim) {
            Ok(Some((req, n))) => {
                prop_assert_eq!(n, bytes.len());
                g.check(&req)?;
            }
            other => prop_assert!(false, "{:?} -> {:?}", g, other),
        }
        // and nothing before the end parses
        for cut in 0..bytes.len() {
            prop_assert_eq!(parse(&bytes[..cut], &lim), Ok(None));
        }
    }
}

#[test]
fn split_harness_sees_swallows() {
    let input = [
        &b"set big 0 0 100\r\n"[..],
        &[b'x'; 100],
        b"\r\nversion\r\n",
    ]
    .concat();
    let whole = drive(&[&input], &small());
    assert_eq!(whole.len(), 2);
    assert!(matches!(&whole[0], Event::Req(s, 17) if s.starts_with("TooLarge")));
    assert!(matches!(&whole[1], Event::Req(s, 9) if s == "Version"));
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(drive(&bytes, &small()), whole);
}
