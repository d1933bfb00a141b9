//! Property tests: encode then parse is the identity; arbitrary bytes
//! never panic; the outcome does not depend on how a stream is split.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

fn word() -> impl Strategy<Value = Bytes> {
    vec(1u8..=255, 0..12).prop_map(Bytes::from)
}

fn blob() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..40).prop_map(Bytes::from)
}

fn unique() -> impl Strategy<Value = Bytes> {
    vec(1u8..=255, 0..=MAX_UNIQUE).prop_map(Bytes::from)
}

fn priority() -> impl Strategy<Value = Priority> {
    prop_oneof![
        Just(Priority::High),
        Just(Priority::Normal),
        Just(Priority::Low)
    ]
}

fn submit() -> impl Strategy<Value = Request> {
    (
        word(),
        unique(),
        blob(),
        priority(),
        any::<bool>(),
        0u8..3,
        any::<i64>(),
        word(),
    )
        .prop_map(
            |(function, unique, data, priority, background, kind, when, reducer)| {
                let mut job = SubmitJob {
                    function,
                    unique,
                    data,
                    priority,
                    background,
                    when: None,
                    reducer: None,
                };
                match kind {
                    1 => {
                        job.priority = Priority::Normal;
                        job.background = true;
                        job.when = Some(when);
                    }
                    2 => {
                        job.priority = Priority::Normal;
                        job.reducer = Some(reducer);
                    }
                    _ => {}
                }
                Request::Submit(job)
            },
        )
}

fn sched() -> impl Strategy<Value = crate::proto::Sched> {
    use proptest::option::of;
    (
        of(0u8..60),
        of(0u8..24),
        of(1u8..32),
        of(1u8..13),
        of(0u8..7),
    )
        .prop_map(|(minute, hour, mday, month, wday)| crate::proto::Sched {
            minute,
            hour,
            mday,
            month,
            wday,
        })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        submit(),
        (submit(), sched()).prop_map(|(r, sched)| {
            let Request::Submit(mut job) = r else {
                unreachable!("submit() makes submits")
            };
            (job.priority, job.background, job.when, job.reducer) =
                (Priority::Normal, true, None, None);
            Request::SubmitSched { job, sched }
        }),
        word().prop_map(Request::CanDo),
        word().prop_map(Request::CantDo),
        (word(), blob())
            .prop_map(|(function, timeout)| Request::CanDoTimeout { function, timeout }),
        Just(Request::ResetAbilities),
        Just(Request::PreSleep),
        prop_oneof![Just(Grab::Plain), Just(Grab::Uniq), Just(Grab::All)].prop_map(Request::Grab),
        (word(), word(), blob()).prop_map(|(handle, numerator, denominator)| Request::WorkStatus {
            handle,
            numerator,
            denominator
        }),
        (word(), blob()).prop_map(|(handle, data)| Request::WorkComplete { handle, data }),
        (word(), blob()).prop_map(|(handle, data)| Request::WorkException { handle, data }),
        (word(), blob()).prop_map(|(handle, data)| Request::WorkData { handle, data }),
        (word(), blob()).prop_map(|(handle, data)| Request::WorkWarning { handle, data }),
        blob().prop_map(|handle| Request::WorkFail { handle }),
        blob().prop_map(Request::GetStatus),
        blob().prop_map(Request::GetStatusUnique),
        blob().prop_map(Request::EchoReq),
        blob().prop_map(Request::SetClientId),
        blob().prop_map(Request::OptionReq),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    let n = any::<u32>();
    prop_oneof![
        Just(Response::Noop),
        Just(Response::NoJob),
        blob().prop_map(Response::JobCreated),
        blob().prop_map(Response::EchoRes),
        blob().prop_map(Response::OptionRes),
        (word(), any::<bool>()).prop_map(|(handle, trailing_nul)| Response::WorkFail {
            handle,
            trailing_nul
        }),
        (word(), word(), blob()).prop_map(|(handle, function, data)| Response::JobAssign {
            handle,
            function,
            data
        }),
        (word(), word(), word(), blob()).prop_map(|(handle, function, unique, data)| {
            Response::JobAssignUniq {
                handle,
                function,
                unique,
                data,
            }
        }),
        (word(), word(), word(), word(), blob()).prop_map(
            |(handle, function, unique, reducer, data)| Response::JobAssignAll {
                handle,
                function,
                unique,
                reducer,
                data
            }
        ),
        (word(), blob()).prop_map(|(handle, data)| Response::WorkComplete { handle, data }),
        (word(), blob()).prop_map(|(code, text)| Response::Error { code, text }),
        (word(), any::<bool>(), any::<bool>(), n, n).prop_map(
            |(handle, known, running, numerator, denominator)| Response::StatusRes {
                handle,
                known,
                running,
                numerator,
                denominator
            }
        ),
        (word(), any::<bool>(), any::<bool>(), n, n, n).prop_map(
            |(unique, known, running, numerator, denominator, waiting)| {
                Response::StatusResUnique {
                    unique,
                    known,
                    running,
                    numerator,
                    denominator,
                    waiting,
                }
            }
        ),
    ]
}

/// What the server makes of one frame, owned so runs compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Req(Request),
    ReqErr(RequestError),
    Admin(Admin),
    Fatal(FrameError),
}

fn lim() -> Limits {
    Limits {
        max_packet: 64,
        max_line: 32,
    }
}

/// Feeds `chunks` as the server does: append, frame until `None`, consume.
fn drive(chunks: &[&[u8]]) -> Vec<Event> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match parse_frame(&buf, &lim()) {
                Ok(None) => break,
                Ok(Some((frame, n))) => {
                    assert!(n > 0 && n <= buf.len(), "consumed {n} of {}", buf.len());
                    let whole = buf.split_to(n).freeze();
                    match frame {
                        Frame::Packet { magic, kind, len } => {
                            assert_eq!(len + HEADER_LEN, n);
                            match Request::decode(magic, kind, whole.slice(HEADER_LEN..)) {
                                Ok(r) => out.push(Event::Req(r)),
                                Err(e) => out.push(Event::ReqErr(e)),
                            }
                        }
                        Frame::Text { len } => out.push(Event::Admin(Admin::parse(&whole[..len]))),
                    }
                }
                Err(e) => {
                    out.push(Event::Fatal(e));
                    return out;
                }
            }
        }
    }
    out
}

/// Splits `data` at the given cut points (taken modulo its length).
fn split<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut prev = 0;
    for p in points {
        chunks.push(&data[prev..p]);
        prev = p;
    }
    chunks.push(&data[prev..]);
    chunks
}

proptest! {
    #[test]
    fn requests_encode_then_parse_to_themselves(reqs in vec(request(), 1..8)) {
        let mut wire = BytesMut::new();
        for r in &reqs {
            r.encode(&mut wire);
        }
        let big = Limits { max_packet: 1 << 20, max_line: 32 };
        let mut buf = wire;
        for r in &reqs {
            let (frame, n) = parse_frame(&buf, &big).expect("frames").expect("complete");
            let Frame::Packet { magic, kind, .. } = frame else { panic!("not a packet") };
            let whole = buf.split_to(n).freeze();
            prop_assert_eq!(&Request::decode(magic, kind, whole.slice(HEADER_LEN..)).expect("decodes"), r);
        }
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn responses_encode_then_parse_to_themselves(r in response()) {
        let mut wire = BytesMut::new();
        r.encode(&mut wire);
        let big = Limits { max_packet: 1 << 20, max_line: 32 };
        let (frame, n) = parse_frame(&wire, &big).expect("frames").expect("complete");
        prop_assert_eq!(n, wire.len());
        let Frame::Packet { magic, kind, .. } = frame else { panic!("not a packet") };
        prop_assert_eq!(magic, Magic::Res);
        prop_assert_eq!(Response::decode(kind, wire.freeze().slice(HEADER_LEN..)), Some(r));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_any_split_gives_the_same_events(
        data in vec(any::<u8>(), 0..300),
        cuts in vec(any::<usize>(), 0..12),
    ) {
        prop_assert_eq!(drive(&[&data]), drive(&split(&data, &cuts)));
    }

    #[test]
    fn mixed_packets_and_lines_any_split_same_events(
        reqs in vec(request(), 0..6),
        lines in vec("[a-z ]{0,20}", 0..4),
        cuts in vec(any::<usize>(), 0..12),
        junk in vec(any::<u8>(), 0..20),
    ) {
        let mut wire = BytesMut::new();
        for (i, r) in reqs.iter().enumerate() {
            r.encode(&mut wire);
            if let Some(l) = lines.get(i) {
                wire.extend_from_slice(format!("{l}\r\n").as_bytes());
            }
        }
        wire.extend_from_slice(&junk);
        prop_assert_eq!(drive(&[&wire]), drive(&split(&wire, &cuts)));
    }

    #[test]
    fn any_header_type_and_length_is_an_event_not_a_panic(kind in any::<u32>(), len in any::<u32>(), res in any::<bool>()) {
        let mut wire = if res { frame::RES_MAGIC.to_vec() } else { frame::REQ_MAGIC.to_vec() };
        wire.extend_from_slice(&kind.to_be_bytes());
        wire.extend_from_slice(&len.to_be_bytes());
        wire.extend(std::iter::repeat_n(0u8, usize::try_from(len.min(64)).unwrap_or(0)));
        let events = drive(&[&wire]);
        if len > 64 {
            prop_assert_eq!(events, vec![Event::Fatal(FrameError::TooLarge { declared: len, max: 64 })]);
        } else {
            prop_assert_eq!(events.len(), 1);
        }
    }
}
