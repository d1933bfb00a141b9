//! One function: its three job queues, its counters and its sleeping
//! workers.
//!
//! Queues hold job numbers. A job removed while queued (its client left,
//! `cancel job`) leaves a stale number behind that is skipped when it
//! reaches the front, so removal is O(1); when stale numbers outnumber live
//! ones the queue is compacted, so memory stays proportional to live jobs.

use std::collections::VecDeque;

use bytes::Bytes;

use super::ConnId;
use crate::proto::Priority;

/// A function's index in the engine.
pub type FuncId = usize;

/// Compact a queue once it holds this many stale entries (and more stale
/// than live ones).
const COMPACT_AT: usize = 64;

/// One function.
#[derive(Debug, Clone)]
pub struct Function {
    pub name: Bytes,
    /// (enqueue order, job) per priority.
    queues: [VecDeque<(u64, u64)>; 3],
    /// Live jobs per queue.
    queued: [usize; 3],
    stale: [usize; 3],
    /// Epoch jobs not yet due.
    pub scheduled: usize,
    /// Every job of the function: queued, scheduled and running.
    pub total: usize,
    pub running: usize,
    /// Connections that can do it.
    pub workers: usize,
    /// Possibly sleeping workers: (connection, sleep generation). Entries of
    /// a finished sleep stay until popped or compacted.
    pub sleepers: VecDeque<(ConnId, u64)>,
    /// `maxqueue` per priority (0 = unlimited).
    pub max_queue: [usize; 3],
    /// The engine's clock (ms) when it was last named by a submit,
    /// `CAN_DO` or job end.
    pub last_used: u64,
}

impl Function {
    pub fn new(name: Bytes) -> Self {
        Function {
            name,
            queues: Default::default(),
            queued: [0; 3],
            stale: [0; 3],
            scheduled: 0,
            total: 0,
            running: 0,
            workers: 0,
            sleepers: VecDeque::new(),
            max_queue: [0; 3],
            last_used: 0,
        }
    }

    /// Live queued jobs per priority (epoch jobs not yet due count as
    /// normal, as gearmand lists them).
    pub fn queued(&self) -> [usize; 3] {
        let mut q = self.queued;
        q[Priority::Normal.index()] += self.scheduled;
        q
    }

    /// Whether some job is runnable now.
    pub fn has_runnable(&self) -> bool {
        self.queued.iter().any(|&n| n > 0)
    }

    /// Appends a job to the tail of its priority's queue; `order` grows
    /// with every push, engine-wide, so fronts of different functions
    /// compare by how long they waited.
    pub fn push(&mut self, p: Priority, order: u64, seq: u64) {
        self.queues[p.index()].push_back((order, seq));
        self.queued[p.index()] += 1;
    }

    /// The oldest live job of priority `p` as (order, job), dropping stale
    /// entries in front; `live` says whether a job is still queued here.
    pub fn front(&mut self, p: Priority, live: impl Fn(u64) -> bool) -> Option<(u64, u64)> {
        let i = p.index();
        if self.queued[i] == 0 {
            self.stale[i] = 0;
            self.queues[i].clear();
            shrink(&mut self.queues[i]);
            return None;
        }
        while let Some(&(order, seq)) = self.queues[i].front() {
            if live(seq) {
                return Some((order, seq));
            }
            self.queues[i].pop_front();
            self.stale[i] = self.stale[i].saturating_sub(1);
        }
        None
    }

    /// Takes the front job of `p` (which [`Function::front`] just returned).
    pub fn pop_front(&mut self, p: Priority) {
        let i = p.index();
        if self.queues[i].pop_front().is_some() {
            self.queued[i] = self.queued[i].saturating_sub(1);
        }
        if self.queued[i] == 0 {
            shrink(&mut self.queues[i]);
        }
    }

    /// A queued job left without being taken: its entry goes stale.
    pub fn forget_queued(&mut self, p: Priority, live: impl Fn(u64) -> bool) {
        let i = p.index();
        self.queued[i] = self.queued[i].saturating_sub(1);
        self.stale[i] += 1;
        if self.stale[i] >= COMPACT_AT && self.stale[i] > self.queued[i] {
            self.queues[i].retain(|&(_, s)| live(s));
            self.stale[i] = 0;
            shrink(&mut self.queues[i]);
        }
    }

    /// Keeps the sleeper list proportional to the workers.
    pub fn add_sleeper(
        &mut self,
        conn: ConnId,
        generation: u64,
        wakeable: impl Fn(ConnId, u64) -> bool,
    ) {
        if self.sleepers.len() > 2 * self.workers + 16 {
            self.sleepers.retain(|&(c, g)| wakeable(c, g));
        }
        self.sleepers.push_back((conn, generation));
    }
}

/// Gives memory back after a burst (gearmand#284).
fn shrink(q: &mut VecDeque<(u64, u64)>) {
    if q.capacity() > 1024 && q.len() < q.capacity() / 4 {
        q.shrink_to(q.len().max(64));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn stale_entries_are_skipped_and_compacted() {
        let mut f = Function::new(Bytes::from_static(b"f"));
        for s in 0..200 {
            f.push(Priority::Low, s, s);
        }
        let mut gone = HashSet::new();
        for s in 0..150 {
            gone.insert(s);
            let g = gone.clone();
            f.forget_queued(Priority::Low, move |x| !g.contains(&x));
        }
        assert_eq!(f.queued(), [0, 0, 50]);
        assert!(f.queues[2].len() < 200, "compacted");
        let g = gone.clone();
        assert_eq!(
            f.front(Priority::Low, |x| !g.contains(&x)),
            Some((150, 150))
        );
        f.pop_front(Priority::Low);
        assert_eq!(f.queued(), [0, 0, 49]);
        assert_eq!(f.front(Priority::High, |_| true), None);
    }
}
