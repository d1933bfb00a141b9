//! The job engine: functions, jobs, workers and clients, as gearmand 1.1
//! defines them; pure and synchronous.
//!
//! [`Queue::handle`] takes one request from one connection (and the time)
//! and appends to an [`Outbox`] every packet it causes, addressed to the
//! connections that must receive it (the sender, the clients waiting on a
//! job, a sleeping worker to wake). The server delivers the outbox; tests
//! read it. Nothing here blocks, sleeps or does I/O.
//!
//! Semantics (gearmand 1.1.20 unless noted):
//!
//! * a function's jobs wait in three FIFO queues, high, normal and low.
//!   A worker gets the oldest job of the highest priority among **all** its
//!   functions (gearmand 2.0's global priority, gearmand#173; 1.1 tries the
//!   functions one after the other);
//! * unique coalescing is keyed by (function, unique); `-` makes the data
//!   the key. A second submit gets the same handle; every foreground
//!   submitter becomes a listener and gets the job's packets;
//! * a worker that disconnects or overruns its `CAN_DO_TIMEOUT` puts its
//!   jobs back at the tail of their queue, at once or after an exponential
//!   back-off (`retry_backoff_ms`, an extension); after `-j` attempts (0 =
//!   unlimited) the job is dropped, its clients get `WORK_FAIL`, and it is
//!   kept in the bounded dead-letter list for `deadletter` (an extension);
//! * `SUBMIT_JOB_SCHED` becomes an epoch job due at the next matching
//!   minute (UTC); a function with no worker and no job, unused for
//!   `forget_idle_ms`, is forgotten; names own their bytes;
//! * a foreground client that disconnects drops its queued jobs that nobody
//!   else waits for, at once (gearmand marks them and drops them when a
//!   worker would get them); background jobs stay;
//! * a sleeping worker (`PRE_SLEEP`) gets one `NOOP` when a job it can do
//!   becomes runnable; each new job wakes every sleeper of the function
//!   (gearmand's `-w 0`), or at most `wakeup` of them when that is set;
//! * `SUBMIT_JOB_EPOCH` jobs are invisible until due, and sleepers are woken
//!   when they come due ([`Queue::tick`]; gearmand 1.1 never wakes them,
//!   gearmand#101).

mod admin;
mod conn;
mod dead;
mod function;
mod grab;
mod idhash;
mod job;
mod submit;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_admin;
#[cfg(test)]
mod tests_model;
#[cfg(test)]
mod tests_workers;
mod work;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use bytes::Bytes;

use crate::proto::{Request, Response};
use conn::Conn;
use function::{FuncId, Function};
pub(crate) use idhash::IdMap;
use job::{Job, JobState};

/// A connection, as the server numbers them.
pub type ConnId = u64;

/// The time, passed in by the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Now {
    /// Wall-clock seconds since the epoch (for `SUBMIT_JOB_EPOCH`).
    pub unix: i64,
    /// A monotonic clock in milliseconds (for `CAN_DO_TIMEOUT`).
    pub millis: u64,
}

/// The engine's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Job handles are `<prefix>:<n>`; gearmand's is `H:<hostname>`.
    pub handle_prefix: String,
    /// `-j`: attempts before a job is dropped (0 = unlimited).
    pub job_retries: u32,
    /// A lost job waits `retry_backoff_ms << (retries - 1)` (at most
    /// `retry_backoff_max_ms`) before a worker gets it again; 0 = at once.
    pub retry_backoff_ms: u64,
    /// The longest back-off.
    pub retry_backoff_max_ms: u64,
    /// Jobs given up after `-j` kept in the dead-letter list (0 = none).
    pub dead_letters: usize,
    /// Bytes the dead-letter list may hold.
    pub dead_letter_bytes: usize,
    /// Sleeping workers woken per runnable job (0 = all, as gearmand).
    pub wakeup: u32,
    /// `--exceptions`: connections start with the `exceptions` option on.
    pub exceptions: bool,
    /// What `version` answers (`OK <version>`).
    pub version: String,
    /// What `getpid` answers.
    pub pid: u32,
    /// What `verbose` answers (gearmand's level name).
    pub verbose: String,
    /// A function with no worker and no job, unused this long (ms), is
    /// forgotten, unless an admin set its `maxqueue` (gearmand keeps every
    /// name for ever, so new names grow its memory without bound).
    pub forget_idle_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            handle_prefix: "H:localhost".into(),
            job_retries: 0,
            retry_backoff_ms: 0,
            retry_backoff_max_ms: 60_000,
            dead_letters: 1000,
            dead_letter_bytes: 64 << 20,
            wakeup: 0,
            exceptions: false,
            version: crate::VERSION.into(),
            pid: 0,
            verbose: "ERROR".into(),
            forget_idle_ms: 300_000,
        }
    }
}

/// Something to send to one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// A binary packet.
    Packet(Response),
    /// Admin protocol text.
    Text(Bytes),
}

/// What handling requests produced, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Messages and their destination, in the order they must be sent.
    pub msgs: Vec<(ConnId, Msg)>,
    /// Persistent-queue rows of jobs that ended: delete them.
    pub done_rows: Vec<u64>,
    /// A timer ([`Queue::next_wakeup`]) moved earlier.
    pub timers_changed: bool,
    /// `shutdown` (`Some(true)` for `shutdown graceful`).
    pub shutdown: Option<bool>,
}

impl Outbox {
    fn send(&mut self, to: ConnId, r: Response) {
        self.msgs.push((to, Msg::Packet(r)));
    }

    /// Empties it, keeping its memory.
    pub fn clear(&mut self) {
        self.msgs.clear();
        self.done_rows.clear();
        self.timers_changed = false;
        self.shutdown = None;
    }
}

/// The engine. See the module docs.
#[derive(Debug)]
pub struct Queue {
    cfg: Config,
    /// Jobs by their number (the `n` of `H:host:n`).
    jobs: IdMap<Job>,
    next_job: u64,
    /// Counts pushes onto any queue (FIFO order across functions).
    enqueued: u64,
    /// Slots of dropped or forgotten functions are `None` and listed in
    /// `free_funcs` for reuse (no job, ability or unique refers to them).
    functions: Vec<Option<Function>>,
    free_funcs: Vec<FuncId>,
    /// Names own their bytes: never a slice of the packet that named them.
    by_name: HashMap<Bytes, FuncId>,
    /// The function [`Queue::func_id`] found last (its slot, checked by
    /// name before use): most submits name the same function as the one
    /// before, and comparing a name costs less than hashing it.
    last_func: FuncId,
    /// The monotonic clock (ms) at the last [`Queue::tick`].
    clock: u64,
    /// When idle functions are looked for next.
    next_sweep: u64,
    /// (function, `-`, key) → job.
    uniques: HashMap<(FuncId, bool, Bytes), u64>,
    conns: IdMap<Conn>,
    /// Epoch jobs not yet due: (when, job).
    epochs: BinaryHeap<Reverse<(i64, u64)>>,
    /// Running jobs with a timeout: (deadline, job, assignment).
    timeouts: BinaryHeap<Reverse<(u64, u64, u32)>>,
    /// Lost jobs backing off before their next attempt: (clock ms, job).
    backoffs: BinaryHeap<Reverse<(u64, u64)>>,
    /// Jobs given up after `-j` attempts.
    dead: dead::DeadLetters,
}

impl Queue {
    /// An empty queue.
    pub fn new(cfg: Config) -> Self {
        Queue {
            dead: dead::DeadLetters::new(cfg.dead_letters, cfg.dead_letter_bytes),
            jobs: IdMap::default(),
            next_job: 1,
            enqueued: 0,
            functions: Vec::new(),
            free_funcs: Vec::new(),
            by_name: HashMap::new(),
            last_func: FuncId::MAX,
            clock: 0,
            next_sweep: 0,
            uniques: HashMap::new(),
            conns: IdMap::default(),
            epochs: BinaryHeap::new(),
            timeouts: BinaryHeap::new(),
            backoffs: BinaryHeap::new(),
            cfg,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// A new connection; `label` is what `workers` shows before the client
    /// id (gearmand: `FD IP`).
    pub fn connect(&mut self, id: ConnId, label: String) {
        self.conns.insert(id, Conn::new(label, self.cfg.exceptions));
    }

    /// Handles one request from `from`.
    pub fn handle(&mut self, from: ConnId, req: Request, now: Now, out: &mut Outbox) {
        match req {
            Request::Submit(job) => self.submit(Some(from), job, Vec::new(), now, out),
            Request::SubmitSched { mut job, sched } => match sched.next_after(now.unix) {
                Some(when) => {
                    job.when = Some(when);
                    self.submit(Some(from), job, Vec::new(), now, out)
                }
                None => {
                    let (code, text) = crate::proto::RequestError::BadSchedule.code_and_text();
                    out.send(from, Response::error(code, text))
                }
            },
            Request::CanDo(f) => self.can_do(from, f, 0),
            Request::CanDoTimeout { function, timeout } => {
                let ms = crate::proto::parse_i64_lenient(&timeout);
                let ms = if ms <= 0 {
                    0
                } else {
                    u32::try_from(ms.max(1000)).unwrap_or(u32::MAX)
                };
                self.can_do(from, function, ms)
            }
            Request::CantDo(f) => self.cant_do(from, &f, out),
            Request::ResetAbilities => self.reset_abilities(from, out),
            Request::PreSleep => self.pre_sleep(from, out),
            Request::Grab(kind) => self.grab(from, kind, now, out),
            Request::WorkStatus {
                handle,
                numerator,
                denominator,
            } => self.work_status(from, handle, numerator, denominator, out),
            Request::WorkComplete { handle, data } => self.work_complete(from, handle, data, out),
            Request::WorkFail { handle } => self.work_fail(from, handle, out),
            Request::WorkException { handle, data } => self.work_exception(from, handle, data, out),
            Request::WorkData { handle, data } => self.work_data(from, handle, data, false, out),
            Request::WorkWarning { handle, data } => self.work_data(from, handle, data, true, out),
            Request::GetStatus(handle) => self.get_status(from, handle, out),
            Request::GetStatusUnique(unique) => self.get_status_unique(from, unique, out),
            Request::EchoReq(data) => out.send(from, Response::EchoRes(data)),
            Request::SetClientId(id) => {
                if let Some(c) = self.conns.get_mut(&from) {
                    // Its own copy: kept as long as the connection.
                    c.client_id = Some(Bytes::copy_from_slice(&id));
                }
            }
            Request::OptionReq(opt) => {
                if opt.eq_ignore_ascii_case(b"exceptions") {
                    if let Some(c) = self.conns.get_mut(&from) {
                        c.exceptions = true;
                    }
                    out.send(from, Response::OptionRes(opt));
                } else {
                    out.send(
                        from,
                        Response::error("UNKNOWN_OPTION", "Server does not recognize given option"),
                    );
                }
            }
        }
    }

    /// A connection closed: its running jobs go back to their queues, its
    /// abilities go, and its foreground jobs nobody else waits for are
    /// dropped unless a worker already runs them.
    pub fn disconnect(&mut self, id: ConnId, out: &mut Outbox) {
        let Some(conn) = self.conns.remove(&id) else {
            return;
        };
        let clock = self.clock;
        for a in &conn.abilities {
            if let Some(f) = self.func_mut(a.func) {
                f.workers = f.workers.saturating_sub(1);
                f.last_used = clock;
            }
        }
        self.hand_over(&conn.abilities, out);
        for seq in conn.running {
            self.requeue(seq, dead::Lost::Disconnected, out);
        }
        for (seq, _) in conn.listening {
            let Some(job) = self.jobs.get_mut(&seq) else {
                continue;
            };
            job.listeners.retain(|&l| l != id);
            if job.listeners.is_empty()
                && !job.background
                && !matches!(job.state, JobState::Running { .. })
            {
                self.remove_job(seq, out);
            }
        }
    }

    /// Makes due epoch jobs runnable (waking sleepers) and requeues jobs
    /// whose worker overran its `CAN_DO_TIMEOUT`. Cheap when nothing is due.
    pub fn tick(&mut self, now: Now, out: &mut Outbox) {
        self.clock = now.millis;
        if now.millis >= self.next_sweep {
            self.next_sweep = now
                .millis
                .saturating_add((self.cfg.forget_idle_ms / 4).max(1000));
            self.forget_idle_functions();
        }
        while let Some(&Reverse((when, seq))) = self.epochs.peek() {
            if when > now.unix {
                break;
            }
            self.epochs.pop();
            self.promote(seq, out);
        }
        while let Some(&Reverse((deadline, seq, attempt))) = self.timeouts.peek() {
            if deadline > now.millis {
                break;
            }
            self.timeouts.pop();
            let expired = self.jobs.get(&seq).is_some_and(
                |j| matches!(j.state, JobState::Running { attempt: a, .. } if a == attempt),
            );
            if expired {
                self.requeue(seq, dead::Lost::TimedOut, out);
            }
        }
        while let Some(&Reverse((when, seq))) = self.backoffs.peek() {
            if when > now.millis {
                break;
            }
            self.backoffs.pop();
            self.promote(seq, out);
        }
    }

    /// Milliseconds until [`Queue::tick`] has something to do, if ever.
    pub fn next_wakeup(&self, now: Now) -> Option<u64> {
        let epoch = self.epochs.peek().map(|Reverse((when, _))| {
            u64::try_from(when.saturating_sub(now.unix))
                .unwrap_or(0)
                .saturating_mul(1000)
        });
        let timeout = self
            .timeouts
            .peek()
            .map(|Reverse((deadline, _, _))| deadline.saturating_sub(now.millis));
        let backoff = self
            .backoffs
            .peek()
            .map(|Reverse((when, _))| when.saturating_sub(now.millis));
        [epoch, timeout, backoff].into_iter().flatten().min()
    }

    /// Jobs in memory (queued, scheduled or running).
    pub fn job_count(&self) -> usize {
        self.jobs.len()
    }

    fn func(&self, id: FuncId) -> Option<&Function> {
        self.functions.get(id).and_then(Option::as_ref)
    }

    fn func_mut(&mut self, id: FuncId) -> Option<&mut Function> {
        self.functions.get_mut(id).and_then(Option::as_mut)
    }

    /// The function called `name`, created if new (with its own copy of
    /// the name).
    fn func_id(&mut self, name: &[u8]) -> FuncId {
        let clock = self.clock;
        let last = self.last_func;
        if let Some(f) = self.func_mut(last).filter(|f| f.name[..] == *name) {
            f.last_used = clock;
            return last;
        }
        if let Some(&id) = self.by_name.get(name) {
            if let Some(f) = self.func_mut(id) {
                f.last_used = clock;
            }
            self.last_func = id;
            return id;
        }
        let name = crate::proto::shared_concat(&[name]);
        let mut f = Function::new(name.clone());
        f.last_used = clock;
        let id = match self.free_funcs.pop() {
            Some(id) => {
                if let Some(slot) = self.functions.get_mut(id) {
                    *slot = Some(f);
                }
                id
            }
            None => {
                self.functions.push(Some(f));
                self.functions.len() - 1
            }
        };
        self.by_name.insert(name, id);
        id
    }

    /// Frees a function's slot and name.
    fn forget_function(&mut self, id: FuncId) {
        let Some(f) = self.functions.get_mut(id).and_then(Option::take) else {
            return;
        };
        self.by_name.remove(&f.name);
        self.free_funcs.push(id);
    }

    /// Forgets functions nobody has used for `forget_idle_ms`.
    fn forget_idle_functions(&mut self) {
        let (clock, idle) = (self.clock, self.cfg.forget_idle_ms);
        let doomed: Vec<FuncId> = self
            .functions
            .iter()
            .enumerate()
            .filter_map(|(id, f)| {
                let f = f.as_ref()?;
                let unused = f.workers == 0
                    && f.total == 0
                    && f.max_queue == [0; 3]
                    && clock.saturating_sub(f.last_used) >= idle;
                unused.then_some(id)
            })
            .collect();
        for id in doomed {
            self.forget_function(id);
        }
        if self.functions.len() > 64 && self.free_funcs.len() > self.functions.len() / 2 {
            // Trailing free slots go, so the table shrinks after a burst.
            while self.functions.last().is_some_and(Option::is_none) {
                self.functions.pop();
            }
            let len = self.functions.len();
            self.free_funcs.retain(|&id| id < len);
            self.functions.shrink_to_fit();
            self.free_funcs.shrink_to_fit();
        }
    }

    /// Puts a job at the tail of its queue and wakes a sleeper.
    fn enqueue(&mut self, fid: FuncId, p: crate::proto::Priority, seq: u64, out: &mut Outbox) {
        self.enqueued += 1;
        let order = self.enqueued;
        if let Some(f) = self.func_mut(fid) {
            f.push(p, order, seq);
        }
        self.wake(fid, out);
    }

    /// The job number in one of our handles.
    fn job_seq(&self, handle: &[u8]) -> Option<u64> {
        let rest = handle.strip_prefix(self.cfg.handle_prefix.as_bytes())?;
        let digits = rest.strip_prefix(b":")?;
        if digits.is_empty() || digits.len() > 20 {
            return None;
        }
        // Decimal digits only; past u64::MAX is no job of ours.
        digits.iter().try_fold(0u64, |n, &d| {
            if !d.is_ascii_digit() {
                return None;
            }
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })
    }
}
