//! Workers: abilities, sleeping and waking, taking jobs.

use std::cmp::Reverse;

use bytes::Bytes;

use super::conn::Ability;
use super::function::{FuncId, Function};
use super::idhash::IdMap;
use super::job::{Job, JobState};
use super::{ConnId, Now, Outbox, Queue};
use crate::proto::{Grab, Priority, Response};

impl Queue {
    /// `CAN_DO` / `CAN_DO_TIMEOUT` (`timeout_ms` 0 = none).
    pub(super) fn can_do(&mut self, from: ConnId, name: Bytes, timeout_ms: u32) {
        let fid = self.func_id(&name);
        let Some(conn) = self.conns.get_mut(&from) else {
            return;
        };
        if let Some(a) = conn.abilities.iter_mut().find(|a| a.func == fid) {
            a.timeout_ms = timeout_ms;
            return;
        }
        conn.abilities.push(Ability {
            func: fid,
            timeout_ms,
        });
        let (sleeping, generation) = (conn.sleeping && !conn.noop_sent, conn.sleep_gen);
        if let Some(f) = self.func_mut(fid) {
            f.workers += 1;
            if sleeping {
                f.sleepers.push_back((from, generation));
            }
        }
    }

    /// `CANT_DO`
    pub(super) fn cant_do(&mut self, from: ConnId, name: &Bytes, out: &mut Outbox) {
        let Some(&fid) = self.by_name.get(name) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(&from) else {
            return;
        };
        let before = conn.abilities.len();
        conn.abilities.retain(|a| a.func != fid);
        if conn.abilities.len() < before {
            if let Some(f) = self.func_mut(fid) {
                f.workers = f.workers.saturating_sub(1);
            }
            let gone = [Ability {
                func: fid,
                timeout_ms: 0,
            }];
            self.hand_over(&gone, out);
        }
    }

    /// `RESET_ABILITIES`
    pub(super) fn reset_abilities(&mut self, from: ConnId, out: &mut Outbox) {
        let Some(conn) = self.conns.get_mut(&from) else {
            return;
        };
        let gone = std::mem::take(&mut conn.abilities);
        for a in &gone {
            if let Some(f) = self.func_mut(a.func) {
                f.workers = f.workers.saturating_sub(1);
            }
        }
        self.hand_over(&gone, out);
    }

    /// A worker stops doing these functions (it left, or dropped them):
    /// it may have been the one woken for their waiting jobs, so wake
    /// someone else for each that has runnable jobs. Without this, one
    /// `NOOP` per job could leave a job waiting while its workers sleep.
    pub(super) fn hand_over(&mut self, gone: &[Ability], out: &mut Outbox) {
        for a in gone {
            if self.func(a.func).is_some_and(Function::has_runnable) {
                self.wake(a.func, out);
            }
        }
    }

    /// `PRE_SLEEP`: a `NOOP` at once if a job is waiting, else sleep until
    /// one arrives.
    pub(super) fn pre_sleep(&mut self, from: ConnId, out: &mut Outbox) {
        let Queue {
            conns, functions, ..
        } = self;
        let Some(conn) = conns.get(&from) else {
            return;
        };
        let func = |fid: FuncId| functions.get(fid).and_then(Option::as_ref);
        if conn
            .abilities
            .iter()
            .any(|a| func(a.func).is_some_and(Function::has_runnable))
        {
            out.send(from, Response::Noop);
            return;
        }
        let Some(conn) = conns.get_mut(&from) else {
            return;
        };
        conn.sleeping = true;
        conn.noop_sent = false;
        conn.sleep_gen += 1;
        let generation = conn.sleep_gen;
        let conns = &*conns;
        let wakeable = |c: ConnId, g: u64| conns.get(&c).is_some_and(|c| c.wakeable(g));
        if let Some(conn) = conns.get(&from) {
            for a in &conn.abilities {
                if let Some(Some(f)) = functions.get_mut(a.func) {
                    f.add_sleeper(from, generation, wakeable);
                }
            }
        }
    }

    /// A job of `fid` became runnable: `NOOP` to every sleeper of the
    /// function, or to at most `wakeup` of them when it is not 0.
    pub(super) fn wake(&mut self, fid: FuncId, out: &mut Outbox) {
        let mut left = match self.cfg.wakeup {
            0 => u32::MAX,
            n => n,
        };
        let Some(Some(f)) = self.functions.get_mut(fid) else {
            return;
        };
        while left > 0 {
            let Some((c, generation)) = f.sleepers.pop_front() else {
                break;
            };
            let Some(conn) = self.conns.get_mut(&c) else {
                continue;
            };
            if conn.wakeable(generation) {
                conn.noop_sent = true;
                out.send(c, Response::Noop);
                left -= 1;
            }
        }
    }

    /// `GRAB_JOB*`: the oldest job of the highest priority among the
    /// worker's functions, or `NO_JOB`.
    pub(super) fn grab(&mut self, from: ConnId, kind: Grab, now: Now, out: &mut Outbox) {
        let Queue {
            conns,
            functions,
            jobs,
            timeouts,
            ..
        } = self;
        let Some(conn) = conns.get_mut(&from) else {
            return;
        };
        conn.sleeping = false;
        conn.noop_sent = false;
        let Some((seq, ability)) = take(&conn.abilities, functions, jobs) else {
            out.send(from, Response::NoJob);
            return;
        };
        conn.running.push(seq);
        let Some(Some(f)) = functions.get_mut(ability.func) else {
            return;
        };
        f.running += 1;
        let Some(job) = jobs.get_mut(&seq) else {
            return;
        };
        job.attempts = job.attempts.wrapping_add(1);
        job.state = JobState::Running {
            worker: from,
            attempt: job.attempts,
        };
        let function = f.name.clone();
        let (handle, data) = (job.handle.clone(), job.data.clone());
        let reply = match kind {
            Grab::Plain => Response::JobAssign {
                handle,
                function,
                data,
            },
            Grab::All if !job.reducer.is_empty() => Response::JobAssignAll {
                handle,
                function,
                unique: job.unique.clone(),
                reducer: job.reducer.clone(),
                data,
            },
            Grab::Uniq | Grab::All => Response::JobAssignUniq {
                handle,
                function,
                unique: job.unique.clone(),
                data,
            },
        };
        if ability.timeout_ms > 0 {
            let deadline = now.millis.saturating_add(u64::from(ability.timeout_ms));
            let earlier = timeouts
                .peek()
                .is_none_or(|Reverse((d, _, _))| deadline < *d);
            timeouts.push(Reverse((deadline, seq, job.attempts)));
            out.timers_changed |= earlier;
        }
        out.send(from, reply);
    }
}

/// Takes the job a worker with `abilities` gets next off its queue.
fn take(
    abilities: &[Ability],
    functions: &mut [Option<Function>],
    jobs: &IdMap<Job>,
) -> Option<(u64, Ability)> {
    let live = |s: u64| jobs.get(&s).is_some_and(|j| j.state == JobState::Queued);
    for p in Priority::ALL {
        let mut best: Option<(u64, u64, Ability)> = None;
        for a in abilities {
            let Some(Some(f)) = functions.get_mut(a.func) else {
                continue;
            };
            if let Some((order, seq)) = f.front(p, live) {
                if best.is_none_or(|(o, _, _)| order < o) {
                    best = Some((order, seq, *a));
                }
            }
        }
        if let Some((_, seq, a)) = best {
            if let Some(Some(f)) = functions.get_mut(a.func) {
                f.pop_front(p);
            }
            return Some((seq, a));
        }
    }
    None
}
