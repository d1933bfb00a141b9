//! The `watch` log: lines the original's logger emits (`item_get`,
//! `item_store`, `eviction`, `conn_new`, `conn_close`), fanned out to the
//! connections watching them. Each watcher has a bounded buffer
//! (`-o watcher_logbuf_size`, KB); lines that do not fit are counted and
//! reported as `skipped=N` once there is room again. When nobody watches
//! a kind, logging it costs one relaxed load.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// `watch fetchers` (the default).
pub const FETCHERS: u16 = 1;
/// `watch mutations`.
pub const MUTATIONS: u16 = 2;
/// `watch evictions`.
pub const EVICTIONS: u16 = 4;
/// `watch connevents`.
pub const CONNEVENTS: u16 = 8;
/// `watch rawcmds`, `sysevents`, `proxyreqs`, `proxyevents`, `proxyuser`:
/// accepted; this server emits none of them.
pub const OTHER: u16 = 16;

/// The flags for `watch <names>`, or None for an unknown name.
pub fn parse_flags<'a>(names: impl IntoIterator<Item = &'a [u8]>) -> Option<u16> {
    let mut f = 0;
    let mut any = false;
    for n in names {
        any = true;
        f |= match n {
            b"fetchers" => FETCHERS,
            b"mutations" => MUTATIONS,
            b"evictions" => EVICTIONS,
            b"connevents" => CONNEVENTS,
            b"rawcmds" | b"sysevents" | b"proxyreqs" | b"proxyevents" | b"proxyuser" => OTHER,
            _ => return None,
        };
    }
    Some(if any { f } else { FETCHERS })
}

struct Buffer {
    data: Vec<u8>,
    skipped: u64,
}

/// One watching connection's queue.
pub struct Watcher {
    flags: u16,
    cap: usize,
    buf: Mutex<Buffer>,
    wake: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("flags", &self.flags)
            .finish()
    }
}

impl Watcher {
    fn push(&self, line: &[u8]) {
        let mut b = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        if b.data.len() + line.len() > self.cap {
            b.skipped += 1;
            return;
        }
        b.data.extend_from_slice(line);
        drop(b);
        (self.wake)();
    }

    /// Moves what is queued into `out` (swapping buffers, no copy), then
    /// `skipped=N` if lines were dropped for lack of room: the room is
    /// free again now.
    pub fn take(&self, out: &mut Vec<u8>) {
        out.clear();
        let mut b = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::swap(&mut b.data, out);
        if b.skipped > 0 {
            out.extend_from_slice(format!("skipped={}\n", b.skipped).as_bytes());
            b.skipped = 0;
        }
    }
}

/// The watchers and the log-entry counter.
#[derive(Debug, Default)]
pub struct Logger {
    mask: AtomicU16,
    gid: AtomicU64,
    watchers: Mutex<Vec<Arc<Watcher>>>,
}

impl Logger {
    /// Whether anyone watches `kind`.
    #[inline]
    pub fn wants(&self, kind: u16) -> bool {
        self.mask.load(Relaxed) & kind != 0
    }

    fn remask(&self, ws: &[Arc<Watcher>]) {
        self.mask
            .store(ws.iter().fold(0, |m, w| m | w.flags), Relaxed);
    }

    /// Adds a watcher of `flags` with a `cap`-byte buffer; `wake` is called
    /// after lines are queued.
    pub fn add(&self, flags: u16, cap: usize, wake: Box<dyn Fn() + Send + Sync>) -> Arc<Watcher> {
        let w = Arc::new(Watcher {
            flags,
            cap: cap.max(512),
            buf: Mutex::new(Buffer {
                data: Vec::new(),
                skipped: 0,
            }),
            wake,
        });
        let mut ws = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        ws.push(Arc::clone(&w));
        self.remask(&ws);
        w
    }

    /// Removes a watcher.
    pub fn remove(&self, w: &Arc<Watcher>) {
        let mut ws = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        ws.retain(|x| !Arc::ptr_eq(x, w));
        self.remask(&ws);
    }

    /// Watchers now.
    pub fn count(&self) -> usize {
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Emits one line of `kind`: `ts=<sec>.<usec> gid=<n> ` then what
    /// `body` writes (which ends without the newline).
    pub fn log(&self, kind: u16, body: impl FnOnce(&mut String)) {
        if !self.wants(kind) {
            return;
        }
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let gid = self.gid.fetch_add(1, Relaxed) + 1;
        let mut line = String::with_capacity(128);
        let _ = write!(
            line,
            "ts={}.{} gid={gid} ",
            ts.as_secs(),
            ts.subsec_micros()
        );
        body(&mut line);
        line.push('\n');
        let ws = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        for w in ws.iter().filter(|w| w.flags & kind != 0) {
            w.push(line.as_bytes());
        }
    }
}

/// Percent-encodes a key as the original's `uriencode` does.
pub fn uri_encode(key: &[u8], out: &mut String) {
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_buffers_skip_and_say_so() {
        let log = Logger::default();
        let w = log.add(FETCHERS, 512, Box::new(|| {}));
        assert!(log.wants(FETCHERS) && !log.wants(MUTATIONS));
        for _ in 0..20 {
            log.log(FETCHERS, |s| s.push_str(&"x".repeat(60)));
        }
        log.log(MUTATIONS, |s| s.push_str("not watched"));
        let mut out = Vec::new();
        w.take(&mut out);
        let text = String::from_utf8(out).expect("utf8");
        let (lines, note) = text.rsplit_once("skipped=").expect("a skipped note");
        assert!(lines.len() <= 512, "{}", lines.len());
        assert!(
            note.ends_with('\n') && note.trim().parse::<u64>().is_ok(),
            "{note}"
        );
        assert!(!text.contains("not watched"));
        log.log(FETCHERS, |s| s.push_str("after"));
        let mut out = Vec::new();
        w.take(&mut out);
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.starts_with("ts=") && text.ends_with(" after\n"),
            "{text}"
        );
        log.remove(&w);
        assert!(!log.wants(FETCHERS));
    }

    #[test]
    fn flags_parse_as_the_original() {
        assert_eq!(parse_flags(Vec::<&[u8]>::new()), Some(FETCHERS));
        assert_eq!(
            parse_flags([&b"mutations"[..], b"evictions"]),
            Some(MUTATIONS | EVICTIONS)
        );
        assert_eq!(parse_flags([&b"bogus"[..]]), None);
    }
}

thread_local! {
    static CFD: std::cell::Cell<i32> = const { std::cell::Cell::new(-1) };
}

/// Names the connection whose requests run next on this thread (the
/// `cfd=` of the log lines); the server sets it before executing.
pub fn set_cfd(fd: i32) {
    CFD.with(|c| c.set(fd));
}

/// The connection set by [`set_cfd`] (-1 if none).
pub fn cfd() -> i32 {
    CFD.with(std::cell::Cell::get)
}
