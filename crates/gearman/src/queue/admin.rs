//! The admin commands, in the formats `gearadmin` and monitoring scripts
//! parse (gearmand 1.1.20's, byte for byte, except that listings are sorted:
//! by function name, by connection, by job number).

use std::io::Write;

use bytes::Bytes;

use super::job::JobState;
use super::{ConnId, Msg, Outbox, Queue};
use crate::proto::{Admin, DeadLetterCmd};

const OK: &[u8] = b"OK\r\n";

impl Queue {
    /// Answers one admin line from `from`.
    pub fn admin(&mut self, from: ConnId, cmd: &Admin, out: &mut Outbox) {
        let reply = match cmd {
            Admin::Status => self.status(),
            Admin::PriorityStatus => self.priority_status(),
            Admin::Workers => self.workers(),
            Admin::ShowJobs => self.show_jobs(),
            Admin::ShowUniqueJobs => self.show_unique_jobs(),
            Admin::Version => format!("OK {}\n", self.cfg.version).into_bytes(),
            Admin::Getpid => format!("OK {}\n", self.cfg.pid).into_bytes(),
            Admin::Verbose => format!("OK {}\n", self.cfg.verbose).into_bytes(),
            Admin::Shutdown { graceful } => {
                out.shutdown = Some(*graceful);
                OK.to_vec()
            }
            Admin::CancelJob(handle) => self.cancel_job(handle, out),
            Admin::CreateFunction(name) => {
                self.func_id(name);
                OK.to_vec()
            }
            Admin::DropFunction(name) => self.drop_function(name, out),
            Admin::MaxQueue { function, limits } => {
                if let Some(&fid) = self.by_name.get(function) {
                    if let Some(f) = self.func_mut(fid) {
                        f.max_queue = limits.map(|n| n as usize);
                    }
                }
                OK.to_vec()
            }
            Admin::DeadLetter(c) => self.dead_letter(c, out),
            Admin::Fixed(_) | Admin::BadArgs(_) | Admin::Unknown(_) => {
                cmd.fixed_reply().unwrap_or_default()
            }
        };
        out.msgs.push((from, Msg::Text(Bytes::from(reply))));
    }

    /// Live functions, sorted by name.
    fn sorted_functions(&self) -> Vec<&super::function::Function> {
        let mut v: Vec<_> = self.functions.iter().flatten().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    fn status(&self) -> Vec<u8> {
        let mut s = Vec::new();
        for f in self.sorted_functions() {
            s.extend_from_slice(&f.name);
            // A scheduled job counts once it is due.
            let total = f.total.saturating_sub(f.scheduled);
            let _ = writeln!(s, "\t{total}\t{}\t{}", f.running, f.workers);
        }
        s.extend_from_slice(b".\n");
        s
    }

    fn priority_status(&self) -> Vec<u8> {
        let mut s = Vec::new();
        for f in self.sorted_functions() {
            let [h, n, l] = f.queued();
            s.extend_from_slice(&f.name);
            let _ = writeln!(s, "\t{h}\t{n}\t{l}\t{}", f.workers);
        }
        s.extend_from_slice(b".\n");
        s
    }

    fn workers(&self) -> Vec<u8> {
        let mut ids: Vec<&ConnId> = self.conns.keys().collect();
        ids.sort_unstable();
        let mut s = Vec::new();
        for id in ids {
            let Some(c) = self.conns.get(id) else {
                continue;
            };
            s.extend_from_slice(c.label.as_bytes());
            s.push(b' ');
            s.extend_from_slice(c.client_id.as_deref().unwrap_or(b"-"));
            s.extend_from_slice(b" :");
            // gearmand lists the most recent CAN_DO first.
            for a in c.abilities.iter().rev() {
                if let Some(f) = self.func(a.func) {
                    s.push(b' ');
                    s.extend_from_slice(&f.name);
                }
            }
            s.push(b'\n');
        }
        s.extend_from_slice(b".\n");
        s
    }

    fn sorted_jobs(&self) -> Vec<&super::job::Job> {
        let mut seqs: Vec<&u64> = self.jobs.keys().collect();
        seqs.sort_unstable();
        seqs.into_iter().filter_map(|s| self.jobs.get(s)).collect()
    }

    /// `HANDLE\tRETRIES\tIGNORED\tQUEUED`: QUEUED is 1 for background jobs
    /// (gearmand's "in the persistent queue"); IGNORED is always 0 here,
    /// since a job nobody waits for is dropped at once.
    fn show_jobs(&self) -> Vec<u8> {
        let mut s = Vec::new();
        for j in self.sorted_jobs() {
            s.extend_from_slice(&j.handle);
            let _ = writeln!(s, "\t{}\t0\t{}", j.retries, u8::from(j.background));
        }
        s.extend_from_slice(b".\n");
        s
    }

    fn show_unique_jobs(&self) -> Vec<u8> {
        let mut s = Vec::new();
        for j in self.sorted_jobs() {
            s.extend_from_slice(&j.unique);
            s.push(b'\n');
        }
        s.extend_from_slice(b".\n");
        s
    }

    /// `deadletter …`
    fn dead_letter(&mut self, cmd: &DeadLetterCmd, out: &mut Outbox) -> Vec<u8> {
        match cmd {
            DeadLetterCmd::List => {
                let mut s = Vec::new();
                for d in self.dead.iter() {
                    for field in [&d.handle, &d.function, &d.unique] {
                        s.extend_from_slice(field);
                        s.push(b'\t');
                    }
                    let _ = writeln!(s, "{}\t{}", d.attempts, d.reason.word());
                }
                s.extend_from_slice(b".\n");
                s
            }
            DeadLetterCmd::Requeue(h) => match self.dead.take(h) {
                Some(d) => {
                    self.revive(d, out);
                    OK.to_vec()
                }
                None => b"ERR UNKNOWN_JOB\r\n".to_vec(),
            },
            DeadLetterCmd::Drop(h) => match self.dead.take(h) {
                Some(_) => OK.to_vec(),
                None => b"ERR UNKNOWN_JOB\r\n".to_vec(),
            },
            DeadLetterCmd::DropAll => {
                self.dead.clear();
                OK.to_vec()
            }
        }
    }

    /// `cancel job H`: a job no worker has yet is dropped (its clients get
    /// `WORK_FAIL`; gearmand leaves them waiting).
    fn cancel_job(&mut self, handle: &[u8], out: &mut Outbox) -> Vec<u8> {
        let seq = self.find(handle).filter(|s| {
            self.jobs
                .get(s)
                .is_some_and(|j| !matches!(j.state, JobState::Running { .. }))
        });
        match seq {
            Some(seq) => {
                self.fail(seq, false, out);
                OK.to_vec()
            }
            None => b"ERR UNKNOWN_JOB\r\n".to_vec(),
        }
    }

    /// `drop function F`: refused while workers can do it or run its jobs;
    /// its queued jobs are dropped with `WORK_FAIL` to their clients.
    fn drop_function(&mut self, name: &Bytes, out: &mut Outbox) -> Vec<u8> {
        let Some(&fid) = self.by_name.get(name) else {
            return b"ERR function not found\r\n".to_vec();
        };
        if self
            .func(fid)
            .is_some_and(|f| f.workers > 0 || f.running > 0)
        {
            return b"ERR there are still connected workers or executing clients\r\n".to_vec();
        }
        let mut doomed: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.function == fid)
            .map(|(&s, _)| s)
            .collect();
        doomed.sort_unstable();
        for seq in doomed {
            self.fail(seq, false, out);
        }
        self.forget_function(fid);
        OK.to_vec()
    }
}
