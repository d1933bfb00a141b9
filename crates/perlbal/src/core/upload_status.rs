//! The `upload_tracker` role's table (1.80's `UploadListener`): progress
//! packets `UPLOAD:<sess>:<done>:<total>:<start>:<now>` received by UDP,
//! kept per session until it has been quiet for 4 seconds, and read back
//! by `/__upload_status?client_up_sess=<sess>`. Pure: time is passed in.

use std::collections::{HashMap, VecDeque};

/// How long a quiet session is kept (1.80's code: 4 s).
const KEEP: u64 = 4;
/// The most sessions held (a flood of packets cannot grow it further).
const MAX_SESSIONS: usize = 100_000;

/// One session's last report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// Bytes received so far.
    pub done: u64,
    /// The body's length.
    pub total: u64,
    /// When the request started (seconds since the epoch).
    pub starttime: u64,
    /// When the last packet came.
    pub lasttouch: u64,
}

/// Sessions by name.
#[derive(Debug, Default)]
pub struct UploadStatus {
    by_session: HashMap<String, Status>,
    touched: VecDeque<(u64, String)>,
}

fn word(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A packet's fields: (session, done, total, start), as 1.80's
/// `/^UPLOAD:(\w{5,50}):(\d+):(\d+):(\d+):(\d+)$/` reads it.
pub fn parse_packet(p: &[u8]) -> Option<(String, u64, u64, u64)> {
    let text = std::str::from_utf8(p).ok()?;
    let mut f = text.strip_prefix("UPLOAD:")?.split(':');
    let sess = f.next()?;
    if !(5..=50).contains(&sess.len()) || !word(sess) {
        return None;
    }
    let mut num = || -> Option<u64> {
        let v = f.next()?;
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        v.parse().ok()
    };
    let (done, total, start, _now) = (num()?, num()?, num()?, num()?);
    if f.next().is_some() {
        return None;
    }
    Some((sess.to_owned(), done, total, start))
}

impl UploadStatus {
    /// Takes one packet received at `now`; junk is ignored.
    pub fn packet(&mut self, p: &[u8], now: u64) {
        let Some((sess, done, total, starttime)) = parse_packet(p) else {
            return;
        };
        if !self.by_session.contains_key(&sess) && self.by_session.len() >= MAX_SESSIONS {
            return;
        }
        self.by_session.insert(
            sess.clone(),
            Status {
                done,
                total,
                starttime,
                lasttouch: now,
            },
        );
        self.touched.push_back((now, sess));
        let too_old = now.saturating_sub(KEEP);
        while self.touched.front().is_some_and(|(t, _)| *t < too_old) {
            if let Some((_, s)) = self.touched.pop_front() {
                if self
                    .by_session
                    .get(&s)
                    .is_some_and(|st| st.lasttouch < too_old)
                {
                    self.by_session.remove(&s);
                }
            }
        }
    }

    /// A session's last report.
    pub fn get(&self, sess: &str) -> Option<Status> {
        self.by_session.get(sess).copied()
    }
}

/// `/__upload_status`'s body (1.80's JSON-ish text).
pub fn status_body(st: Option<Status>, now: u64) -> String {
    match st {
        Some(s) => format!(
            "{{done:{},total:{},starttime:{},nowtime:{now}}}",
            s.done, s.total, s.starttime
        ),
        None => "{}".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_packets_never_panic(p in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut t = UploadStatus::default();
            t.packet(&p, 1);
            let _ = parse_packet(&p);
        }
    }

    #[test]
    fn packets_and_expiry_as_1_80() {
        let mut t = UploadStatus::default();
        t.packet(b"UPLOAD:abcde:10:100:50:60", 60);
        t.packet(b"UPLOAD:abc:1:2:3:4", 60);
        t.packet(b"UPLOAD:abcdef:1:2:3", 60);
        t.packet(b"junk", 60);
        assert_eq!(
            status_body(t.get("abcde"), 61),
            "{done:10,total:100,starttime:50,nowtime:61}"
        );
        assert_eq!(t.get("abc"), None);
        assert_eq!(status_body(t.get("zzzzz"), 61), "{}");
        t.packet(b"UPLOAD:other:1:2:3:4", 70);
        assert_eq!(t.get("abcde"), None, "quiet for more than 4 s");
        assert!(t.get("other").is_some());
    }
}
