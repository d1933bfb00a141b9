//! The meta commands: mg, ms, md, ma, mn, me.
//!
//! Return flags are echoed in the order the request listed them; after them
//! come the win/stale markers in the original's order: `Z` (a win token
//! was already handed out), `X` (stale), `W` (this client won).

use std::borrow::Cow;

use crate::proto::{MetaCmd, MetaRequest};
use crate::store::{AllocError, ItemState, Lookup, RelTime, Shard};

use super::arith::Arith;
use super::{Engine, Tally};

/// What a meta reply needs to know about the item for its flags.
struct Seen {
    cas: u64,
    flags: u32,
    nbytes: u32,
    exptime: RelTime,
    fetched_before: bool,
    last_access: RelTime,
}

impl Engine {
    pub(super) fn meta(&self, m: &MetaRequest<'_>, now: RelTime, t: &mut Tally, out: &mut Vec<u8>) {
        if m.cmd == MetaCmd::Noop {
            out.extend_from_slice(b"MN\r\n");
            return;
        }
        t.cmd_meta += 1;
        let key: Cow<'_, [u8]> = m.decoded_key();
        if key.is_empty() || key.len() > crate::store::KEY_MAX {
            out.extend_from_slice(b"CLIENT_ERROR error decoding key\r\n");
            return;
        }
        let hash = crate::store::hash_key(&key);
        let mut shard = self.store.shard(hash);
        match m.cmd {
            MetaCmd::Get => self.mg(m, &key, hash, &mut shard, now, t, out),
            MetaCmd::Set => self.ms(m, &key, hash, &mut shard, now, t, out),
            MetaCmd::Delete => self.md(m, &key, hash, &mut shard, now, t, out),
            MetaCmd::Arith => self.ma(m, &key, hash, &mut shard, now, t, out),
            MetaCmd::Debug => self.me(&key, hash, &mut shard, now, out),
            MetaCmd::Noop => {}
        }
    }

    fn lookup(&self, shard: &mut Shard, key: &[u8], hash: u64, now: RelTime) -> Option<u32> {
        match shard.find(key, hash, now, &self.store.flush) {
            Lookup::Hit(id) => Some(id),
            _ => None,
        }
    }

    /// Writes the flags that every reply echoes (`O`, `k`/`b`) and, when the
    /// item is known, the rest, in request order.
    fn echo_flags(m: &MetaRequest<'_>, seen: Option<&Seen>, now: RelTime, out: &mut Vec<u8>) {
        for f in &m.flags {
            match (f.letter, seen) {
                (b'O', _) => {
                    out.extend_from_slice(b" O");
                    out.extend_from_slice(f.token);
                }
                (b'k', _) => {
                    out.extend_from_slice(b" k");
                    out.extend_from_slice(m.key);
                    if m.has(b'b') {
                        out.extend_from_slice(b" b");
                    }
                }
                (b'c', Some(s)) => push_flag(out, b'c', s.cas),
                (b'f', Some(s)) => push_flag(out, b'f', u64::from(s.flags)),
                (b's', Some(s)) => push_flag(out, b's', u64::from(s.nbytes)),
                (b'h', Some(s)) => push_flag(out, b'h', u64::from(s.fetched_before)),
                (b'l', Some(s)) => {
                    push_flag(out, b'l', u64::from(now.saturating_sub(s.last_access)))
                }
                (b't', Some(s)) => {
                    out.extend_from_slice(b" t");
                    if s.exptime == 0 {
                        out.extend_from_slice(b"-1");
                    } else {
                        let left = i64::from(s.exptime) - i64::from(now);
                        out.extend_from_slice(itoa::Buffer::new().format(left).as_bytes());
                    }
                }
                _ => {}
            }
        }
    }

    fn seen(shard: &Shard, id: u32) -> Seen {
        let meta = shard.meta(id);
        Seen {
            cas: meta.cas,
            flags: meta.flags,
            nbytes: meta.nbytes,
            exptime: meta.exptime,
            fetched_before: meta.state & ItemState::FETCHED != 0,
            last_access: meta.time,
        }
    }

    /// `mg`
    #[allow(clippy::too_many_arguments)]
    fn mg(
        &self,
        m: &MetaRequest<'_>,
        key: &[u8],
        hash: u64,
        shard: &mut Shard,
        now: RelTime,
        t: &mut Tally,
        out: &mut Vec<u8>,
    ) {
        t.cmd_get += 1;
        let mut won = false;
        let id = match self.lookup(shard, key, hash, now) {
            Some(id) => {
                t.get_hits += 1;
                id
            }
            None => {
                t.get_misses += 1;
                let Some(ttl) = m.i64_flag(b'N') else {
                    if !m.has(b'q') {
                        out.extend_from_slice(b"EN");
                        Self::echo_flags(m, None, now, out);
                        out.extend_from_slice(b"\r\n");
                    }
                    return;
                };
                // Vivify: an empty item, and this client wins the right to fill it.
                match self.store.alloc(shard, key, 0, now, crate::store::NONE) {
                    Ok(id) => {
                        shard.set_exptime(id, self.realtime(ttl, now));
                        shard.set_cas(id, self.cas());
                        shard.set_state(id, ItemState::TOKEN_SENT, true);
                        shard.link(id, hash);
                        won = true;
                        id
                    }
                    Err(_) => {
                        out.extend_from_slice(b"SERVER_ERROR out of memory\r\n");
                        return;
                    }
                }
            }
        };
        if let Some(ttl) = m.i64_flag(b'T') {
            t.cmd_touch += 1;
            t.touch_hits += 1;
            shard.set_exptime(id, self.realtime(ttl, now));
        }
        let seen = Self::seen(shard, id);
        let state = shard.meta(id).state;
        let stale = state & ItemState::STALE != 0;
        let token_sent = !won && state & ItemState::TOKEN_SENT != 0;
        if !won && !token_sent {
            let recache = m
                .i64_flag(b'R')
                .is_some_and(|r| seen.exptime != 0 && i64::from(seen.exptime) - i64::from(now) < r);
            if stale || recache {
                won = true;
                shard.set_state(id, ItemState::TOKEN_SENT, true);
            }
        }
        out.extend_from_slice(if m.has(b'v') { b"VA " } else { b"HD" });
        if m.has(b'v') {
            out.extend_from_slice(itoa::Buffer::new().format(seen.nbytes).as_bytes());
        }
        Self::echo_flags(m, Some(&seen), now, out);
        if token_sent {
            out.extend_from_slice(b" Z");
        }
        if stale {
            out.extend_from_slice(b" X");
        }
        if won {
            out.extend_from_slice(b" W");
        }
        out.extend_from_slice(b"\r\n");
        if m.has(b'v') {
            for part in shard.value_parts(id) {
                out.extend_from_slice(part);
            }
            out.extend_from_slice(b"\r\n");
        }
        if !m.has(b'u') {
            Self::fetched(shard, id, now);
        }
    }

    /// `ms`
    #[allow(clippy::too_many_arguments)]
    fn ms(
        &self,
        m: &MetaRequest<'_>,
        key: &[u8],
        hash: u64,
        shard: &mut Shard,
        now: RelTime,
        t: &mut Tally,
        out: &mut Vec<u8>,
    ) {
        t.cmd_set += 1;
        let quiet = m.has(b'q');
        let mode = m
            .flag(b'M')
            .and_then(|f| f.token.first().copied())
            .unwrap_or(b'S');
        let old = self.lookup(shard, key, hash, now);
        let mut stale = false;
        if let Some(compare) = m.u64_flag(b'C') {
            match old {
                None => {
                    t.cas_misses += 1;
                    return Self::ms_status(m, b"NF", 0, out);
                }
                Some(o) => {
                    let cas = shard.meta(o).cas;
                    if cas != compare {
                        if m.has(b'I') && compare < cas {
                            stale = true;
                        } else {
                            t.cas_badval += 1;
                            return Self::ms_status(m, b"EX", 0, out);
                        }
                    }
                    t.cas_hits += 1;
                }
            }
        }
        let vivify = m.i64_flag(b'N');
        let concat = matches!(mode, b'A' | b'a' | b'P' | b'p');
        let refuse = match (mode, old) {
            (b'E' | b'e', Some(o)) => {
                shard.bump(o, now);
                true
            }
            (b'R' | b'r', None) => true,
            (b'A' | b'a' | b'P' | b'p', None) => vivify.is_none(),
            _ => false,
        };
        if refuse {
            return Self::ms_status(m, b"NS", 0, out);
        }
        let prior = if concat { old } else { None };
        let old_len = prior.map_or(0, |o| shard.value_len(o));
        let nbytes = m.data.len() + old_len;
        if crate::store::HEADER + key.len() + nbytes > self.store.config().item_size_max {
            t.store_too_large += 1;
            out.extend_from_slice(b"SERVER_ERROR object too large for cache\r\n");
            return;
        }
        let id =
            match self
                .store
                .alloc(shard, key, nbytes, now, prior.unwrap_or(crate::store::NONE))
            {
                Ok(id) => id,
                Err(AllocError::TooLarge) => {
                    t.store_too_large += 1;
                    out.extend_from_slice(b"SERVER_ERROR object too large for cache\r\n");
                    return;
                }
                Err(AllocError::OutOfMemory) => {
                    t.store_no_memory += 1;
                    out.extend_from_slice(b"SERVER_ERROR out of memory storing object\r\n");
                    return;
                }
            };
        match prior {
            Some(o) => {
                let meta = shard.meta(o);
                super::storage::concat_into(shard, id, o, m.data, matches!(mode, b'A' | b'a'));
                shard.set_flags(id, meta.flags);
                shard.set_exptime(id, meta.exptime);
            }
            None => {
                shard.write_value(id, m.data);
                let flags = m
                    .u64_flag(b'F')
                    .and_then(|f| u32::try_from(f).ok())
                    .unwrap_or(0);
                shard.set_flags(id, flags);
                let ttl = m
                    .i64_flag(b'T')
                    .or(if concat { vivify } else { None })
                    .unwrap_or(0);
                shard.set_exptime(id, self.realtime(ttl, now));
            }
        }
        let cas = m.u64_flag(b'E').unwrap_or_else(|| self.cas());
        shard.set_cas(id, cas);
        if stale {
            // A stale set keeps the old item's expiry and its win token.
            if let Some(o) = old {
                let before = shard.meta(o);
                shard.set_exptime(id, before.exptime);
                if before.state & ItemState::TOKEN_SENT != 0 {
                    shard.set_state(id, ItemState::TOKEN_SENT, true);
                }
            }
            shard.set_state(id, ItemState::STALE, true);
        }
        // Only append/prepend protected the old item; look it up again.
        if let Some(o) = self.lookup(shard, key, hash, now) {
            shard.unlink(o);
        }
        shard.link(id, hash);
        if !quiet {
            Self::ms_status(m, b"HD", cas, out);
        }
    }

    /// An `ms` status line: of the return flags the original echoes only
    /// `O`, `k` (with `b`) and `c` (the new CAS; 0 when nothing was stored).
    fn ms_status(m: &MetaRequest<'_>, code: &[u8], cas: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(code);
        for f in &m.flags {
            match f.letter {
                b'O' => {
                    out.extend_from_slice(b" O");
                    out.extend_from_slice(f.token);
                }
                b'k' => {
                    out.extend_from_slice(b" k");
                    out.extend_from_slice(m.key);
                    if m.has(b'b') {
                        out.extend_from_slice(b" b");
                    }
                }
                b'c' => push_flag(out, b'c', cas),
                _ => {}
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    /// A status line (`HD`, `NS`, `EX`, `NF`) with the echoed flags.
    fn status(
        m: &MetaRequest<'_>,
        code: &[u8],
        seen: Option<&Seen>,
        now: RelTime,
        out: &mut Vec<u8>,
    ) {
        out.extend_from_slice(code);
        Self::echo_flags(m, seen, now, out);
        out.extend_from_slice(b"\r\n");
    }

    /// `md`
    #[allow(clippy::too_many_arguments)]
    fn md(
        &self,
        m: &MetaRequest<'_>,
        key: &[u8],
        hash: u64,
        shard: &mut Shard,
        now: RelTime,
        t: &mut Tally,
        out: &mut Vec<u8>,
    ) {
        let Some(id) = self.lookup(shard, key, hash, now) else {
            t.delete_misses += 1;
            return Self::status(m, b"NF", None, now, out);
        };
        if let Some(compare) = m.u64_flag(b'C') {
            if shard.meta(id).cas != compare {
                return Self::status(m, b"EX", None, now, out);
            }
        }
        t.delete_hits += 1;
        if m.has(b'I') {
            // Invalidate: keep the item, stale, with a fresh CAS.
            shard.set_state(id, ItemState::STALE, true);
            shard.set_state(id, ItemState::TOKEN_SENT, false);
            let cas = m.u64_flag(b'E').unwrap_or_else(|| self.cas());
            shard.set_cas(id, cas);
            if let Some(ttl) = m.i64_flag(b'T') {
                shard.set_exptime(id, self.realtime(ttl, now));
            }
        } else {
            shard.unlink(id);
        }
        if !m.has(b'q') {
            Self::status(m, b"HD", None, now, out);
        }
    }

    /// `ma`
    #[allow(clippy::too_many_arguments)]
    fn ma(
        &self,
        m: &MetaRequest<'_>,
        key: &[u8],
        hash: u64,
        shard: &mut Shard,
        now: RelTime,
        t: &mut Tally,
        out: &mut Vec<u8>,
    ) {
        let incr = !matches!(
            m.flag(b'M').and_then(|f| f.token.first()),
            Some(b'D' | b'd' | b'-')
        );
        let delta = m.u64_flag(b'D').unwrap_or(1);
        let found = self.lookup(shard, key, hash, now);
        let result = match found {
            None => match m.i64_flag(b'N') {
                Some(ttl) => {
                    // Autovivify with the initial value (the delta is not applied).
                    let initial = m.u64_flag(b'J').unwrap_or(0);
                    let mut digits = itoa::Buffer::new();
                    let digits = digits.format(initial).as_bytes();
                    match self
                        .store
                        .alloc(shard, key, digits.len(), now, crate::store::NONE)
                    {
                        Ok(id) => {
                            shard.write_value(id, digits);
                            shard.set_exptime(id, self.realtime(ttl, now));
                            let cas = m.u64_flag(b'E').unwrap_or_else(|| self.cas());
                            shard.set_cas(id, cas);
                            shard.link(id, hash);
                            Arith::Value(initial, id)
                        }
                        Err(_) => Arith::NoMemory,
                    }
                }
                None => Arith::NotFound,
            },
            Some(id) => match m.u64_flag(b'C') {
                Some(c) if shard.meta(id).cas != c => Arith::Exists,
                _ => self.apply_delta(shard, id, hash, delta, incr, m.u64_flag(b'E'), now),
            },
        };
        match result {
            Arith::Value(v, id) => {
                if found.is_some() {
                    if incr {
                        t.incr_hits += 1;
                    } else {
                        t.decr_hits += 1;
                    }
                }
                if let Some(ttl) = m.i64_flag(b'T') {
                    shard.set_exptime(id, self.realtime(ttl, now));
                }
                let seen = Self::seen(shard, id);
                if m.has(b'v') {
                    let mut digits = itoa::Buffer::new();
                    let digits = digits.format(v).as_bytes();
                    out.extend_from_slice(b"VA ");
                    out.extend_from_slice(itoa::Buffer::new().format(digits.len()).as_bytes());
                    Self::echo_flags(m, Some(&seen), now, out);
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(digits);
                    out.extend_from_slice(b"\r\n");
                } else if !m.has(b'q') {
                    Self::status(m, b"HD", Some(&seen), now, out);
                }
            }
            Arith::NotFound => {
                if incr {
                    t.incr_misses += 1;
                } else {
                    t.decr_misses += 1;
                }
                Self::status(m, b"NF", None, now, out);
            }
            Arith::Exists => Self::status(m, b"EX", None, now, out),
            Arith::NonNumeric => out.extend_from_slice(
                b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
            ),
            Arith::NoMemory => Self::status(m, b"NS", None, now, out),
        }
    }

    /// `me`: the debug line.
    fn me(&self, key: &[u8], hash: u64, shard: &mut Shard, now: RelTime, out: &mut Vec<u8>) {
        let Some(id) = self.lookup(shard, key, hash, now) else {
            out.extend_from_slice(b"EN\r\n");
            return;
        };
        let meta = shard.meta(id);
        let exp = if meta.exptime == 0 {
            -1
        } else {
            i64::from(meta.exptime) - i64::from(now)
        };
        out.extend_from_slice(b"ME ");
        out.extend_from_slice(key);
        out.extend_from_slice(
            format!(
                " exp={exp} la={} cas={} fetch={} cls={} size={}\r\n",
                now.saturating_sub(meta.time),
                meta.cas,
                if meta.state & ItemState::FETCHED != 0 {
                    "yes"
                } else {
                    "no"
                },
                meta.class,
                meta.total_size
            )
            .as_bytes(),
        );
    }
}

fn push_flag(out: &mut Vec<u8>, letter: u8, n: u64) {
    out.push(b' ');
    out.push(letter);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}
