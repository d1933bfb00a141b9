//! The binary protocol's commands on the engine, as 1.6.18's
//! `proto_bin.c` answers them: the same length checks (a bad one is
//! "invalid arguments" and the connection closes), the same status for
//! each outcome, the error texts, CAS in every success, the opaque echoed,
//! and quiet commands silent on success only (a quiet get stays silent on
//! a miss). Storage goes through the same calls as the text protocol.

use crate::proto::binary::{opcode as op, put_header, status, BinRequest};
use crate::proto::StoreCmd;
use crate::store::{Lookup, RelTime, HEADER, KEY_MAX, NONE};

use super::arith::Arith;
use super::storage::Stored;
use super::{Engine, Tally};

/// Longest SASL mechanism name the original accepts.
const MAX_SASL_MECH_LEN: usize = 32;

/// One connection's SASL state.
#[derive(Debug, Default, Clone, Copy)]
pub struct BinSession {
    /// SASL completed (irrelevant without `-S`).
    pub authenticated: bool,
    sasl_started: bool,
}

/// What the connection does after a binary request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOutcome {
    /// Read the next request.
    Continue,
    /// Write what is pending, then close.
    Close,
    /// Discard this many bytes of the request's body still to come.
    Swallow(usize),
    /// The caller renders `stat` (group = the key) as stat packets.
    Stats,
}

/// Writes responses for one request.
struct Reply<'o> {
    out: &'o mut Vec<u8>,
    opcode: u8,
    opaque: u32,
}

impl Reply<'_> {
    fn header(&mut self, st: u16, extlen: u8, keylen: usize, bodylen: usize, cas: u64) {
        // Key and body lengths come from the store's limits (key <= 250,
        // value <= -I <= 1 GB), so they fit the header's fields.
        let keylen = u16::try_from(keylen).unwrap_or(u16::MAX);
        let bodylen = u32::try_from(bodylen).unwrap_or(u32::MAX);
        put_header(
            self.out,
            self.opcode,
            st,
            extlen,
            keylen,
            bodylen,
            self.opaque,
            cas,
        );
    }

    /// A success with a plain body.
    fn ok(&mut self, body: &[u8], cas: u64) {
        self.header(status::SUCCESS, 0, 0, body.len(), cas);
        self.out.extend_from_slice(body);
    }

    /// An error with the original's text for it.
    fn error(&mut self, st: u16) {
        self.error_text(st, status::text(st));
    }

    fn error_text(&mut self, st: u16, text: &[u8]) {
        self.header(st, 0, 0, text.len(), 0);
        self.out.extend_from_slice(text);
    }
}

fn be32(b: &[u8]) -> u32 {
    b.get(..4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_be_bytes)
}

fn be64(b: &[u8]) -> u64 {
    b.get(..8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map_or(0, u64::from_be_bytes)
}

/// The quiet opcodes.
fn is_quiet(opcode: u8) -> bool {
    use op::*;
    matches!(
        opcode,
        SETQ | ADDQ
            | REPLACEQ
            | DELETEQ
            | INCREMENTQ
            | DECREMENTQ
            | QUITQ
            | FLUSHQ
            | APPENDQ
            | PREPENDQ
            | GETQ
            | GETKQ
            | GATQ
            | GATKQ
    )
}

impl Engine {
    /// Runs one binary request, appending its response(s) to `out`.
    /// `oversize` is the length of a value that was too large to read
    /// ([`crate::proto::binary::Frame::Oversize`]); those bytes are still
    /// to come.
    pub fn execute_binary(
        &self,
        req: &BinRequest<'_>,
        oversize: Option<usize>,
        session: &mut BinSession,
        now: RelTime,
        t: &mut Tally,
        out: &mut Vec<u8>,
    ) -> BinOutcome {
        use op::*;
        let h = req.header;
        let mut r = Reply {
            out,
            opcode: h.opcode,
            opaque: h.opaque,
        };
        let keylen = usize::from(h.keylen);
        let extlen = usize::from(h.extlen);
        let bodylen = h.bodylen as usize;
        if keylen + extlen > bodylen {
            r.error(status::UNKNOWN_COMMAND);
            return BinOutcome::Close;
        }
        if self.settings.sasl.is_some()
            && !session.authenticated
            && !matches!(h.opcode, SASL_LIST_MECHS | SASL_AUTH | SASL_STEP | VERSION)
        {
            r.error(status::AUTH_ERROR);
            return BinOutcome::Close;
        }
        if keylen > KEY_MAX {
            r.error(status::EINVAL);
            return BinOutcome::Close;
        }
        let quiet = is_quiet(h.opcode);
        let valid = match h.opcode {
            VERSION | NOOP | QUIT | QUITQ | SASL_LIST_MECHS => {
                extlen == 0 && keylen == 0 && bodylen == 0
            }
            FLUSH | FLUSHQ => keylen == 0 && bodylen == extlen && (extlen == 0 || extlen == 4),
            SET | ADD | REPLACE | SETQ | ADDQ | REPLACEQ => {
                extlen == 8 && keylen != 0 && bodylen >= keylen + 8
            }
            GET | GETQ | GETK | GETKQ => extlen == 0 && bodylen == keylen && keylen > 0,
            DELETE | DELETEQ => keylen > 0 && extlen == 0 && bodylen == keylen,
            INCREMENT | DECREMENT | INCREMENTQ | DECREMENTQ => {
                keylen > 0 && extlen == 20 && bodylen == keylen + 20
            }
            APPEND | PREPEND | APPENDQ | PREPENDQ => keylen > 0 && extlen == 0,
            STAT => extlen == 0,
            SASL_AUTH | SASL_STEP => extlen == 0 && keylen != 0,
            TOUCH | GAT | GATQ | GATK | GATKQ => extlen == 4 && keylen != 0,
            _ => {
                r.error(status::UNKNOWN_COMMAND);
                return swallow(bodylen - keylen - extlen);
            }
        };
        if !valid {
            r.error(status::EINVAL);
            return BinOutcome::Close;
        }
        let rest = oversize.unwrap_or(0);
        match h.opcode {
            VERSION => r.ok(super::VERSION.as_bytes(), 0),
            NOOP => r.ok(b"", 0),
            QUIT | QUITQ => {
                if !quiet {
                    r.ok(b"", 0);
                }
                return BinOutcome::Close;
            }
            FLUSH | FLUSHQ => {
                if !self.settings.flush_enabled {
                    r.error(status::AUTH_ERROR);
                } else {
                    t.cmd_flush += 1;
                    self.flush_all(i64::from(be32(req.extras)), now);
                    if !quiet {
                        r.ok(b"", 0);
                    }
                }
            }
            STAT => return BinOutcome::Stats,
            GET | GETQ | GETK | GETKQ | TOUCH | GAT | GATQ | GATK | GATKQ => {
                self.bin_get(req, quiet, now, t, &mut r)
            }
            DELETE | DELETEQ => self.bin_delete(req, quiet, now, t, &mut r),
            INCREMENT | DECREMENT | INCREMENTQ | DECREMENTQ => {
                self.bin_arith(req, quiet, now, t, &mut r)
            }
            SASL_LIST_MECHS | SASL_AUTH | SASL_STEP => {
                return self.bin_sasl(req, rest, session, t, &mut r)
            }
            _ => return self.bin_store(req, rest, quiet, now, t, &mut r),
        }
        BinOutcome::Continue
    }

    fn bin_get(
        &self,
        req: &BinRequest<'_>,
        quiet: bool,
        now: RelTime,
        t: &mut Tally,
        r: &mut Reply<'_>,
    ) {
        use op::*;
        let opcode = req.header.opcode;
        let touch = matches!(opcode, TOUCH | GAT | GATQ | GATK | GATKQ);
        let with_key = matches!(opcode, GETK | GETKQ | GATK | GATKQ);
        let key = req.key;
        let hash = crate::store::hash_key(key);
        let mut shard = self.store.shard(hash);
        let found = self.find(&mut shard, key, hash, now, t);
        if touch {
            t.cmd_touch += 1;
        } else {
            t.cmd_get += 1;
        }
        let Some(id) = found else {
            if touch {
                t.touch_misses += 1;
            } else {
                t.get_misses += 1;
            }
            if quiet {
            } else if with_key {
                r.header(status::KEY_ENOENT, 0, key.len(), key.len(), 0);
                r.out.extend_from_slice(key);
            } else {
                r.error(status::KEY_ENOENT);
            }
            return;
        };
        if touch {
            t.touch_hits += 1;
            let exptime = self.realtime(i64::from(be32(req.extras)), now);
            shard.set_exptime(id, exptime);
        } else {
            t.get_hits += 1;
        }
        Self::fetched(&mut shard, id, now);
        let meta = shard.meta(id);
        let vlen = if opcode == TOUCH {
            0
        } else {
            shard.value_len(id)
        };
        let klen = if with_key { key.len() } else { 0 };
        r.header(status::SUCCESS, 4, klen, 4 + klen + vlen, meta.cas);
        r.out.extend_from_slice(&meta.flags.to_be_bytes());
        if with_key {
            r.out.extend_from_slice(key);
        }
        if vlen > 0 {
            for part in shard.value_parts(id) {
                r.out.extend_from_slice(part);
            }
        }
    }

    fn bin_store(
        &self,
        req: &BinRequest<'_>,
        rest: usize,
        quiet: bool,
        now: RelTime,
        t: &mut Tally,
        r: &mut Reply<'_>,
    ) -> BinOutcome {
        use op::*;
        let h = req.header;
        let base = match h.opcode {
            SET | SETQ => StoreCmd::Set,
            ADD | ADDQ => StoreCmd::Add,
            REPLACE | REPLACEQ => StoreCmd::Replace,
            APPEND | APPENDQ => StoreCmd::Append,
            _ => StoreCmd::Prepend,
        };
        let concat = matches!(base, StoreCmd::Append | StoreCmd::Prepend);
        let vlen = h.value_len();
        // The original refuses an item that cannot be allocated before it
        // reads the value; a set then also drops the old value.
        if rest > 0 || HEADER + req.key.len() + vlen > self.store.config().item_size_max {
            t.store_too_large += 1;
            if base == StoreCmd::Set {
                self.remove(req.key, now);
            }
            r.error(status::E2BIG);
            return swallow(rest);
        }
        let (flags, exptime) = if concat {
            (0, 0)
        } else {
            (
                be32(req.extras),
                be32(req.extras.get(4..).unwrap_or_default()),
            )
        };
        let cmd = if h.cas != 0 && !concat {
            StoreCmd::Cas
        } else {
            base
        };
        let res = self.store_item(
            cmd,
            req.key,
            flags,
            i64::from(exptime),
            req.value,
            h.cas,
            now,
            t,
        );
        match res {
            Stored::Stored(cas) => {
                if !quiet {
                    r.ok(b"", cas);
                }
            }
            Stored::Exists => r.error(status::KEY_EEXISTS),
            Stored::NotFound => r.error(status::KEY_ENOENT),
            Stored::TooLarge | Stored::NoMemory if !concat => {
                if cmd == StoreCmd::Set {
                    self.remove(req.key, now);
                }
                if res == Stored::TooLarge {
                    r.error(status::E2BIG);
                } else {
                    r.error_text(status::ENOMEM, b"Out of memory allocating item");
                }
            }
            Stored::NotStored | Stored::TooLarge | Stored::NoMemory => r.error(match cmd {
                StoreCmd::Add => status::KEY_EEXISTS,
                StoreCmd::Replace => status::KEY_ENOENT,
                _ => status::NOT_STORED,
            }),
        }
        BinOutcome::Continue
    }

    fn bin_delete(
        &self,
        req: &BinRequest<'_>,
        quiet: bool,
        now: RelTime,
        t: &mut Tally,
        r: &mut Reply<'_>,
    ) {
        let hash = crate::store::hash_key(req.key);
        let mut shard = self.store.shard(hash);
        let Some(id) = self.find(&mut shard, req.key, hash, now, t) else {
            t.delete_misses += 1;
            return r.error(status::KEY_ENOENT);
        };
        let cas = req.header.cas;
        if cas != 0 && cas != shard.meta(id).cas {
            return r.error(status::KEY_EEXISTS);
        }
        t.delete_hits += 1;
        shard.unlink(id);
        if !quiet {
            r.ok(b"", 0);
        }
    }

    fn bin_arith(
        &self,
        req: &BinRequest<'_>,
        quiet: bool,
        now: RelTime,
        t: &mut Tally,
        r: &mut Reply<'_>,
    ) {
        let h = req.header;
        let incr = matches!(h.opcode, op::INCREMENT | op::INCREMENTQ);
        let delta = be64(req.extras);
        let initial = be64(req.extras.get(8..).unwrap_or_default());
        let exptime = be32(req.extras.get(16..).unwrap_or_default());
        let key = req.key;
        let hash = crate::store::hash_key(key);
        let mut shard = self.store.shard(hash);
        let found = match shard.find(key, hash, now, &self.store.flush) {
            Lookup::Hit(id) => Some(id),
            _ => None,
        };
        let result = match found {
            Some(id) if h.cas != 0 && shard.meta(id).cas != h.cas => Arith::Exists,
            Some(id) => self.apply_delta(&mut shard, id, hash, delta, incr, None, now),
            None if exptime != u32::MAX => {
                // Create the item with the initial value (as an add).
                let mut digits = itoa::Buffer::new();
                let digits = digits.format(initial).as_bytes();
                match self.store.alloc(&mut shard, key, digits.len(), now, NONE) {
                    Ok(id) => {
                        shard.write_value(id, digits);
                        shard.set_flags(id, 0);
                        shard.set_exptime(id, self.realtime(i64::from(exptime), now));
                        shard.set_cas(id, self.cas());
                        shard.link(id, hash);
                        Arith::Value(initial, id)
                    }
                    Err(_) => {
                        return r.error_text(status::ENOMEM, b"Out of memory allocating new item")
                    }
                }
            }
            None => Arith::NotFound,
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
                if !quiet {
                    r.ok(&v.to_be_bytes(), shard.meta(id).cas);
                }
            }
            Arith::NotFound => {
                if incr {
                    t.incr_misses += 1;
                } else {
                    t.decr_misses += 1;
                }
                r.error(status::KEY_ENOENT);
            }
            Arith::NonNumeric => r.error(status::DELTA_BADVAL),
            Arith::Exists => r.error(status::KEY_EEXISTS),
            Arith::NoMemory => r.error_text(status::ENOMEM, b"Out of memory incrementing value"),
        }
    }

    fn bin_sasl(
        &self,
        req: &BinRequest<'_>,
        rest: usize,
        session: &mut BinSession,
        t: &mut Tally,
        r: &mut Reply<'_>,
    ) -> BinOutcome {
        let Some(users) = &self.settings.sasl else {
            r.error(status::UNKNOWN_COMMAND);
            return swallow(rest);
        };
        if req.header.opcode == op::SASL_LIST_MECHS {
            session.authenticated = false;
            r.ok(b"PLAIN", 0);
            return BinOutcome::Continue;
        }
        if req.key.len() > MAX_SASL_MECH_LEN {
            r.error(status::EINVAL);
            return swallow(rest);
        }
        if rest > 0 {
            r.error(status::ENOMEM);
            return swallow(rest);
        }
        session.authenticated = false;
        let ok = if req.header.opcode == op::SASL_AUTH {
            let plain = req.key == b"PLAIN";
            session.sasl_started = plain && req.value.is_empty();
            if session.sasl_started {
                // No initial response: ask for it (an empty challenge).
                r.header(status::AUTH_CONTINUE, 0, 0, 0, 0);
                return BinOutcome::Continue;
            }
            plain && users.check_plain(req.value)
        } else {
            // A step answers the empty challenge of a PLAIN start.
            let started = std::mem::take(&mut session.sasl_started);
            started && users.check_plain(req.value)
        };
        t.auth_cmds += 1;
        if ok {
            session.authenticated = true;
            r.ok(b"Authenticated", 0);
        } else {
            t.auth_errors += 1;
            r.error(status::AUTH_ERROR);
        }
        BinOutcome::Continue
    }
}

fn swallow(n: usize) -> BinOutcome {
    if n == 0 {
        BinOutcome::Continue
    } else {
        BinOutcome::Swallow(n)
    }
}
