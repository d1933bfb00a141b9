//! Work results from workers, status queries from clients, and the ends of
//! jobs (done, failed, dropped, requeued).

use bytes::Bytes;

use std::cmp::Reverse;

use super::dead::{Dead, Lost};
use super::job::{Job, JobState};
use super::{ConnId, Outbox, Queue};
use crate::proto::{parse_i64_lenient, Response};

impl Queue {
    /// The number of the job `handle` names, if it is ours and exists.
    pub(super) fn find(&self, handle: &[u8]) -> Option<u64> {
        let seq = self.job_seq(handle)?;
        self.jobs
            .get(&seq)
            .filter(|j| j.handle[..] == *handle)
            .map(|_| seq)
    }

    /// The job `handle` names if worker `from` is running it.
    fn held_by(&self, from: ConnId, handle: &[u8]) -> Option<u64> {
        let seq = self.find(handle)?;
        match self.jobs.get(&seq)?.state {
            JobState::Running { worker, .. } if worker == from => Some(seq),
            _ => None,
        }
    }

    /// The clients waiting for a job (borrowed: no copy per result).
    fn listeners(&self, seq: u64) -> &[ConnId] {
        self.jobs.get(&seq).map_or(&[], |j| &j.listeners)
    }

    /// `WORK_STATUS`: remembered for `GET_STATUS`, forwarded verbatim.
    pub(super) fn work_status(
        &mut self,
        from: ConnId,
        handle: Bytes,
        numerator: Bytes,
        denominator: Bytes,
        out: &mut Outbox,
    ) {
        let Some(seq) = self.held_by(from, &handle) else {
            return not_found(from, "Job given in work result not found", out);
        };
        let Some(job) = self.jobs.get_mut(&seq) else {
            return;
        };
        // C's (uint32_t)atoi(): negative numbers wrap.
        job.numerator = parse_i64_lenient(&numerator) as u32;
        job.denominator = parse_i64_lenient(&denominator) as u32;
        for &c in &job.listeners {
            out.send(
                c,
                Response::WorkStatus {
                    handle: handle.clone(),
                    numerator: numerator.clone(),
                    denominator: denominator.clone(),
                },
            );
        }
    }

    /// `WORK_DATA` (`warning`: `WORK_WARNING`): forwarded to every listener.
    pub(super) fn work_data(
        &mut self,
        from: ConnId,
        handle: Bytes,
        data: Bytes,
        warning: bool,
        out: &mut Outbox,
    ) {
        let Some(seq) = self.held_by(from, &handle) else {
            return not_found(from, "Job does not exist on server", out);
        };
        for &c in self.listeners(seq) {
            let (handle, data) = (handle.clone(), data.clone());
            out.send(
                c,
                if warning {
                    Response::WorkWarning { handle, data }
                } else {
                    Response::WorkData { handle, data }
                },
            );
        }
    }

    /// `WORK_COMPLETE`: the result to every listener; the job ends.
    pub(super) fn work_complete(
        &mut self,
        from: ConnId,
        handle: Bytes,
        data: Bytes,
        out: &mut Outbox,
    ) {
        let Some(seq) = self.held_by(from, &handle) else {
            return not_found(from, "Job given in work result not found", out);
        };
        for &c in self.listeners(seq) {
            let (handle, data) = (handle.clone(), data.clone());
            out.send(c, Response::WorkComplete { handle, data });
        }
        self.remove_job(seq, out);
    }

    /// `WORK_FAIL`: forwarded; the job ends (a background job is gone).
    pub(super) fn work_fail(&mut self, from: ConnId, handle: Bytes, out: &mut Outbox) {
        let Some(seq) = self.held_by(from, &handle) else {
            return not_found(from, "Job given in work result not found", out);
        };
        self.fail(seq, false, out);
    }

    /// `WORK_EXCEPTION`: to clients that asked for exceptions; the others
    /// get `WORK_FAIL` (with gearmand's trailing NUL); the job ends.
    pub(super) fn work_exception(
        &mut self,
        from: ConnId,
        handle: Bytes,
        data: Bytes,
        out: &mut Outbox,
    ) {
        let Some(seq) = self.held_by(from, &handle) else {
            return not_found(
                from,
                "An exception was received for a job that does not exist",
                out,
            );
        };
        for &c in self.listeners(seq) {
            let wants = self.conns.get(&c).is_some_and(|c| c.exceptions);
            let handle = handle.clone();
            out.send(
                c,
                if wants {
                    Response::WorkException {
                        handle,
                        data: data.clone(),
                    }
                } else {
                    Response::WorkFail {
                        handle,
                        trailing_nul: true,
                    }
                },
            );
        }
        self.remove_job(seq, out);
    }

    /// `GET_STATUS`
    pub(super) fn get_status(&mut self, from: ConnId, handle: Bytes, out: &mut Outbox) {
        let job = self.find(&handle).and_then(|s| self.jobs.get(&s));
        let reply = match job {
            Some(j) => Response::StatusRes {
                handle,
                known: true,
                running: matches!(j.state, JobState::Running { .. }),
                numerator: j.numerator,
                denominator: j.denominator,
            },
            None => Response::StatusRes {
                handle,
                known: false,
                running: false,
                numerator: 0,
                denominator: 0,
            },
        };
        out.send(from, reply);
    }

    /// `GET_STATUS_UNIQUE`: by unique id, in any function.
    pub(super) fn get_status_unique(&mut self, from: ConnId, unique: Bytes, out: &mut Outbox) {
        let job = (0..self.functions.len())
            .filter_map(|fid| self.uniques.get(&(fid, false, unique.clone())))
            .filter_map(|seq| self.jobs.get(seq))
            .next();
        let reply = match job {
            Some(j) => Response::StatusResUnique {
                unique,
                known: true,
                running: matches!(j.state, JobState::Running { .. }),
                numerator: j.numerator,
                denominator: j.denominator,
                waiting: u32::try_from(j.listeners.len()).unwrap_or(u32::MAX),
            },
            None => Response::StatusResUnique {
                unique,
                known: false,
                running: false,
                numerator: 0,
                denominator: 0,
                waiting: 0,
            },
        };
        out.send(from, reply);
    }

    /// Ends a job with `WORK_FAIL` to its listeners.
    pub(super) fn fail(&mut self, seq: u64, trailing_nul: bool, out: &mut Outbox) {
        let Some(handle) = self.jobs.get(&seq).map(|j| j.handle.clone()) else {
            return;
        };
        for &c in self.listeners(seq) {
            let handle = handle.clone();
            out.send(
                c,
                Response::WorkFail {
                    handle,
                    trailing_nul,
                },
            );
        }
        self.remove_job(seq, out);
    }

    /// A running job lost its worker (disconnect, timeout): back to the
    /// tail of its queue (after its back-off, if set), unless it ran out of
    /// attempts (`-j`: failed to its clients and kept in the dead-letter
    /// list) or nobody waits for it any more.
    pub(super) fn requeue(&mut self, seq: u64, reason: Lost, out: &mut Outbox) {
        let retries = self.cfg.job_retries;
        let Some(job) = self.jobs.get_mut(&seq) else {
            return;
        };
        let JobState::Running { worker, .. } = job.state else {
            return;
        };
        job.retries = job.retries.saturating_add(1);
        if retries != 0 && job.retries >= retries {
            let function = self
                .functions
                .get(job.function)
                .and_then(Option::as_ref)
                .map(|f| f.name.clone())
                .unwrap_or_default();
            let dead = Dead {
                seq,
                handle: job.handle.clone(),
                function,
                unique: job.unique.clone(),
                reducer: job.reducer.clone(),
                data: job.data.clone(),
                priority: job.priority,
                attempts: job.attempts,
                reason,
            };
            self.fail(seq, false, out);
            self.dead.push(dead);
            return;
        }
        if !job.background && job.listeners.is_empty() {
            return self.remove_job(seq, out);
        }
        job.numerator = 0;
        job.denominator = 0;
        let delay = backoff(&self.cfg, job.retries);
        job.state = if delay > 0 {
            JobState::Scheduled
        } else {
            JobState::Queued
        };
        let (fid, p) = (job.function, job.priority);
        if let Some(c) = self.conns.get_mut(&worker) {
            c.running.retain(|&s| s != seq);
        }
        if let Some(f) = self.func_mut(fid) {
            f.running = f.running.saturating_sub(1);
        }
        if delay == 0 {
            return self.enqueue(fid, p, seq, out);
        }
        if let Some(f) = self.func_mut(fid) {
            f.scheduled += 1;
        }
        let when = self.clock.saturating_add(delay);
        let earlier = self.backoffs.peek().is_none_or(|Reverse((w, _))| when < *w);
        self.backoffs.push(Reverse((when, seq)));
        out.timers_changed |= earlier;
    }

    /// `deadletter requeue H`: the job runs again, as a background job
    /// with its old handle; a job in memory with the same unique key
    /// takes its place instead.
    pub(super) fn revive(&mut self, d: Dead, out: &mut Outbox) {
        let fid = self.func_id(&d.function);
        let key = super::submit::coalescing_key(&d.unique, &d.data);
        if let Some((dash, k)) = &key {
            if self.uniques.contains_key(&(fid, *dash, k.clone())) {
                return;
            }
            self.uniques.insert((fid, *dash, k.clone()), d.seq);
        }
        let job = Job {
            handle: d.handle,
            function: fid,
            unique: d.unique,
            key,
            reducer: d.reducer,
            data: d.data,
            priority: d.priority,
            background: true,
            state: JobState::Queued,
            listeners: Vec::new(),
            numerator: 0,
            denominator: 0,
            retries: 0,
            attempts: d.attempts,
            rows: Vec::new(),
        };
        self.jobs.insert(d.seq, job);
        if let Some(f) = self.func_mut(fid) {
            f.total += 1;
        }
        self.enqueue(fid, d.priority, d.seq, out);
    }

    /// Forgets a job wherever it is; its persistent rows are to be deleted.
    pub(super) fn remove_job(&mut self, seq: u64, out: &mut Outbox) {
        let Some(job) = self.jobs.remove(&seq) else {
            return;
        };
        let Job {
            function,
            key,
            state,
            listeners,
            priority,
            rows,
            ..
        } = job;
        if let Some((dash, k)) = key {
            let entry = (function, dash, k);
            if self.uniques.get(&entry) == Some(&seq) {
                self.uniques.remove(&entry);
            }
        }
        for c in listeners {
            if let Some(conn) = self.conns.get_mut(&c) {
                conn.listening.remove(&seq);
            }
        }
        if let JobState::Running { worker, .. } = state {
            if let Some(c) = self.conns.get_mut(&worker) {
                c.running.retain(|&s| s != seq);
            }
        }
        out.done_rows.extend(rows);
        let jobs = &self.jobs;
        let Some(Some(f)) = self.functions.get_mut(function) else {
            return;
        };
        f.last_used = self.clock;
        f.total = f.total.saturating_sub(1);
        match state {
            JobState::Scheduled => f.scheduled = f.scheduled.saturating_sub(1),
            JobState::Running { .. } => f.running = f.running.saturating_sub(1),
            JobState::Queued => f.forget_queued(priority, |s| {
                jobs.get(&s).is_some_and(|j| j.state == JobState::Queued)
            }),
        }
    }
}

/// The wait before retry number `retries` (1 = the first).
fn backoff(cfg: &super::Config, retries: u32) -> u64 {
    if cfg.retry_backoff_ms == 0 {
        return 0;
    }
    let shift = retries.saturating_sub(1).min(32);
    let doubled = cfg.retry_backoff_ms.saturating_mul(1 << shift);
    doubled.min(cfg.retry_backoff_max_ms.max(cfg.retry_backoff_ms))
}

fn not_found(from: ConnId, text: &'static str, out: &mut Outbox) {
    out.send(from, Response::error("JOB_NOT_FOUND", text));
}
