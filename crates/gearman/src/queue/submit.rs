//! Submitting jobs: coalescing, `maxqueue`, epoch scheduling, and replaying
//! a persistent queue.

use std::cmp::Reverse;

use bytes::Bytes;

use super::job::{Job, JobState};
use super::{ConnId, Now, Outbox, Queue};
use crate::proto::{Response, SubmitJob};

impl Queue {
    /// Submits a job for `from` (`None`: replayed from the persistent
    /// queue, no reply). `rows` are the persistent-queue rows already
    /// written for it; they are deleted when the job ends, or at once if
    /// the job is refused.
    pub fn submit(
        &mut self,
        from: Option<ConnId>,
        req: SubmitJob,
        rows: Vec<u64>,
        now: Now,
        out: &mut Outbox,
    ) {
        let fid = self.func_id(&req.function);
        let key = coalescing_key(&req.unique, &req.data);
        if let Some((dash, k)) = &key {
            if let Some(&seq) = self.uniques.get(&(fid, *dash, k.clone())) {
                self.coalesce(from, seq, &req, rows, out);
                return;
            }
        }
        let p = req.priority;
        if let Some(f) = self.func(fid) {
            let max = f.max_queue[p.index()];
            if from.is_some() && max > 0 && f.total >= max {
                out.done_rows.extend(rows);
                if let Some(c) = from {
                    out.send(c, Response::error("QUEUE_ERROR", "Job queue is full"));
                }
                return;
            }
        }
        let seq = self.next_job;
        self.next_job += 1;
        let handle = job_handle(&self.cfg.handle_prefix, seq);
        let when = req.when.unwrap_or(0);
        let scheduled = when > now.unix;
        let mut job = Job {
            handle: handle.clone(),
            function: fid,
            unique: req.unique,
            key: key.clone(),
            reducer: req.reducer.unwrap_or_default(),
            data: req.data,
            priority: p,
            background: req.background,
            state: if scheduled {
                JobState::Scheduled
            } else {
                JobState::Queued
            },
            listeners: Vec::new(),
            numerator: 0,
            denominator: 0,
            retries: 0,
            attempts: 0,
            rows,
        };
        if let (Some(c), false) = (from, req.background) {
            if let Some(conn) = self.conns.get_mut(&c) {
                job.listeners.push(c);
                *conn.listening.entry(seq).or_insert(0) += 1;
            }
        }
        self.jobs.insert(seq, job);
        if let Some((dash, k)) = key {
            self.uniques.insert((fid, dash, k), seq);
        }
        let Some(f) = self.func_mut(fid) else {
            return;
        };
        f.total += 1;
        if scheduled {
            f.scheduled += 1;
            let earlier = self.epochs.peek().is_none_or(|Reverse((w, _))| when < *w);
            self.epochs.push(Reverse((when, seq)));
            out.timers_changed |= earlier;
        } else {
            self.enqueue(fid, p, seq, out);
        }
        if let Some(c) = from {
            out.send(c, Response::JobCreated(handle));
        }
    }

    /// A submit whose (function, unique) matches a job in memory: the same
    /// handle; a foreground submitter listens, a background one makes the
    /// job outlive its clients.
    fn coalesce(
        &mut self,
        from: Option<ConnId>,
        seq: u64,
        req: &SubmitJob,
        rows: Vec<u64>,
        out: &mut Outbox,
    ) {
        let Some(job) = self.jobs.get_mut(&seq) else {
            return;
        };
        job.rows.extend(rows);
        if req.background {
            job.background = true;
        } else if let Some(c) = from {
            if let Some(conn) = self.conns.get_mut(&c) {
                job.listeners.push(c);
                *conn.listening.entry(seq).or_insert(0) += 1;
            }
        }
        if let Some(c) = from {
            out.send(c, Response::JobCreated(job.handle.clone()));
        }
    }

    /// An epoch job came due: queue it and wake a sleeper.
    pub(super) fn promote(&mut self, seq: u64, out: &mut Outbox) {
        let Some(job) = self.jobs.get_mut(&seq) else {
            return;
        };
        if job.state != JobState::Scheduled {
            return;
        }
        job.state = JobState::Queued;
        let (fid, p) = (job.function, job.priority);
        if let Some(f) = self.func_mut(fid) {
            f.scheduled = f.scheduled.saturating_sub(1);
        }
        self.enqueue(fid, p, seq, out);
    }
}

/// `<prefix>:<seq>`, built without the formatting machinery (one per job).
fn job_handle(prefix: &str, seq: u64) -> Bytes {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(seq);
    crate::proto::shared_concat(&[prefix.as_bytes(), b":", digits.as_bytes()])
}

/// The unique index key of a job: (is `-`, key); `None` when it has none.
pub(super) fn coalescing_key(unique: &Bytes, data: &Bytes) -> Option<(bool, Bytes)> {
    match &unique[..] {
        b"" => None,
        b"-" if data.is_empty() => None,
        b"-" => Some((true, data.clone())),
        _ => Some((false, unique.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::job_handle;

    #[test]
    fn job_handles_are_prefix_colon_decimal() {
        assert_eq!(&job_handle("H:x", 0)[..], b"H:x:0");
        assert_eq!(&job_handle("H:x", 7)[..], b"H:x:7");
        assert_eq!(&job_handle("H:x", 1234567890)[..], b"H:x:1234567890");
        let max = format!("H:x:{}", u64::MAX);
        assert_eq!(&job_handle("H:x", u64::MAX)[..], max.as_bytes());
        assert_eq!(&job_handle("", 10)[..], b":10");
    }
}
