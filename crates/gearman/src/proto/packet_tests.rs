//! Tests of request decoding and response encoding, byte for byte.

use bytes::{Bytes, BytesMut};

use super::*;

// Requests.
fn dec(kind: Command, data: &'static [u8]) -> Result<Request, RequestError> {
    Request::decode(Magic::Req, kind.code(), Bytes::from_static(data))
}

#[test]
fn the_last_argument_keeps_its_nuls() {
    let Ok(Request::Submit(job)) = dec(Command::SubmitJobLowBg, b"f\0u\0a\0b\0") else {
        panic!("submit");
    };
    assert_eq!(&job.function[..], b"f");
    assert_eq!(&job.unique[..], b"u");
    assert_eq!(&job.data[..], b"a\0b\0");
    assert_eq!((job.priority, job.background), (Priority::Low, true));
}

#[test]
fn missing_separators_are_an_error_not_a_read_past_the_packet() {
    assert_eq!(
        dec(Command::SubmitJob, b"f\0u"),
        Err(RequestError::MissingArgs(Command::SubmitJob))
    );
    assert_eq!(
        dec(Command::WorkComplete, b"H:x:1"),
        Err(RequestError::MissingArgs(Command::WorkComplete))
    );
    assert_eq!(
        dec(Command::WorkComplete, b"H:x:1\0"),
        Ok(Request::WorkComplete {
            handle: Bytes::from_static(b"H:x:1"),
            data: Bytes::new()
        })
    );
}

#[test]
fn response_types_unknown_numbers_and_response_magic_are_refused() {
    assert_eq!(
        dec(Command::JobAssign, b"a\0b\0c"),
        Err(RequestError::NotExpected(Command::JobAssign))
    );
    assert_eq!(
        dec(Command::SubmitJobSched, b"f\0u\0\x30\0\0\0\0\x37\0d"),
        Ok(Request::SubmitSched {
            job: SubmitJob {
                function: Bytes::from_static(b"f"),
                unique: Bytes::from_static(b"u"),
                data: Bytes::from_static(b"d"),
                priority: crate::proto::Priority::Normal,
                background: true,
                when: None,
                reducer: None,
            },
            sched: crate::proto::Sched {
                minute: Some(0),
                wday: Some(0),
                ..Default::default()
            }
        })
    );
    assert_eq!(
        dec(Command::SubmitJobSched, b"f\0u\x0060\0\0\0\0\0d"),
        Err(RequestError::BadSchedule)
    );
    assert_eq!(
        Request::decode(Magic::Req, 0xFFFF_FFFF, Bytes::new()),
        Err(RequestError::UnknownCommand(0xFFFF_FFFF))
    );
    assert_eq!(
        Request::decode(Magic::Res, 16, Bytes::new()),
        Err(RequestError::InvalidMagic)
    );
}

#[test]
fn uniques_longer_than_64_bytes_are_refused() {
    let ok = [b"f\0".to_vec(), vec![b'u'; 64], b"\0d".to_vec()].concat();
    let long = [b"f\0".to_vec(), vec![b'u'; 65], b"\0d".to_vec()].concat();
    let d = |v: Vec<u8>| Request::decode(Magic::Req, 7, Bytes::from(v));
    assert!(d(ok).is_ok());
    assert_eq!(d(long), Err(RequestError::UniqueTooLarge));
}

#[test]
fn epoch_times_parse_like_atoll() {
    let Ok(Request::Submit(job)) = dec(Command::SubmitJobEpoch, b"f\0u\0 1700000000x\0d") else {
        panic!("epoch");
    };
    assert_eq!(job.when, Some(1_700_000_000));
    assert!(job.background);
    assert_eq!(parse_i64_lenient(b"-12"), -12);
    assert_eq!(parse_i64_lenient(b"abc"), 0);
    assert_eq!(parse_i64_lenient(b"99999999999999999999999"), i64::MAX);
}

// Responses.
fn enc(r: &Response) -> Vec<u8> {
    let mut out = BytesMut::new();
    r.encode(&mut out);
    out.to_vec()
}

#[test]
fn status_replies_match_gearmand_byte_for_byte() {
    let r = Response::StatusRes {
        handle: Bytes::from_static(b"H:x:1"),
        known: false,
        running: false,
        numerator: 0,
        denominator: 0,
    };
    assert_eq!(
        enc(&r),
        b"\0RES\0\0\0\x14\0\0\0\x0dH:x:1\x000\x000\x000\x000"
    );
    let r = Response::StatusResUnique {
        unique: Bytes::from_static(b"u"),
        known: true,
        running: true,
        numerator: 4_294_967_295,
        denominator: 10,
        waiting: 2,
    };
    assert_eq!(
        &enc(&r)[12..],
        b"u\x001\x001\x004294967295\x0010\x002".as_slice()
    );
}

#[test]
fn the_synthesized_fail_keeps_its_trailing_nul() {
    let r = Response::WorkFail {
        handle: Bytes::from_static(b"H:x:6"),
        trailing_nul: true,
    };
    assert_eq!(&enc(&r)[8..], b"\0\0\0\x06H:x:6\0".as_slice());
    assert_eq!(
        Response::decode(14, Bytes::from(enc(&r)[12..].to_vec())),
        Some(r)
    );
}
