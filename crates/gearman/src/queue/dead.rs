//! The dead-letter list (an extension): jobs given up after `-j` lost
//! attempts, kept so an admin can list, requeue or drop them. Bounded by
//! a count and by bytes; the oldest go first.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::proto::Priority;

/// Why a worker lost a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// Its worker disconnected while running it.
    Disconnected,
    /// Its worker overran its `CAN_DO_TIMEOUT`.
    TimedOut,
}

impl Lost {
    /// One word, for the admin listing.
    pub fn word(self) -> &'static str {
        match self {
            Lost::Disconnected => "worker-disconnected",
            Lost::TimedOut => "worker-timeout",
        }
    }
}

/// A job given up.
#[derive(Debug, Clone)]
pub struct Dead {
    pub seq: u64,
    pub handle: Bytes,
    pub function: Bytes,
    pub unique: Bytes,
    pub reducer: Bytes,
    pub data: Bytes,
    pub priority: Priority,
    pub attempts: u32,
    pub reason: Lost,
}

impl Dead {
    fn size(&self) -> usize {
        self.handle.len()
            + self.function.len()
            + self.unique.len()
            + self.reducer.len()
            + self.data.len()
    }
}

/// The list and its bounds.
#[derive(Debug, Default)]
pub struct DeadLetters {
    list: VecDeque<Dead>,
    bytes: usize,
    max_jobs: usize,
    max_bytes: usize,
}

impl DeadLetters {
    /// At most `max_jobs` jobs and `max_bytes` bytes (0 jobs: keep none).
    pub fn new(max_jobs: usize, max_bytes: usize) -> Self {
        DeadLetters {
            list: VecDeque::new(),
            bytes: 0,
            max_jobs,
            max_bytes,
        }
    }

    /// Keeps `d`, dropping the oldest to stay in bounds; a job larger than
    /// the byte bound alone is not kept.
    pub fn push(&mut self, d: Dead) {
        let size = d.size();
        if self.max_jobs == 0 || size > self.max_bytes {
            return;
        }
        while self.list.len() >= self.max_jobs || self.bytes + size > self.max_bytes {
            let Some(old) = self.list.pop_front() else {
                break;
            };
            self.bytes -= old.size();
        }
        self.bytes += size;
        self.list.push_back(d);
    }

    /// Takes the job with this handle out of the list.
    pub fn take(&mut self, handle: &[u8]) -> Option<Dead> {
        let i = self.list.iter().position(|d| d.handle[..] == *handle)?;
        let d = self.list.remove(i)?;
        self.bytes -= d.size();
        Some(d)
    }

    /// Empties the list; returns how many were dropped.
    pub fn clear(&mut self) -> usize {
        let n = self.list.len();
        self.list.clear();
        self.bytes = 0;
        n
    }

    /// Oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Dead> {
        self.list.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead(seq: u64, data: usize) -> Dead {
        Dead {
            seq,
            handle: Bytes::from(format!("H:x:{seq}")),
            function: Bytes::from_static(b"f"),
            unique: Bytes::new(),
            reducer: Bytes::new(),
            data: Bytes::from(vec![0; data]),
            priority: Priority::Normal,
            attempts: 1,
            reason: Lost::Disconnected,
        }
    }

    #[test]
    fn bounded_by_count_and_bytes_oldest_first() {
        let mut d = DeadLetters::new(3, 100);
        for s in 1..=4 {
            d.push(dead(s, 10));
        }
        let seqs = |d: &DeadLetters| d.iter().map(|x| x.seq).collect::<Vec<_>>();
        assert_eq!(seqs(&d), [2, 3, 4]);
        d.push(dead(5, 70));
        assert_eq!(seqs(&d), [4, 5], "bytes: 15 + 15 + 75 > 100");
        d.push(dead(6, 200));
        assert_eq!(seqs(&d), [4, 5], "too big alone: not kept");
        assert_eq!(d.take(b"H:x:4").map(|x| x.seq), Some(4));
        assert!(d.take(b"H:x:4").is_none());
        assert_eq!(d.clear(), 1);
        assert_eq!(d.bytes, 0);
        let mut none = DeadLetters::new(0, 100);
        none.push(dead(1, 1));
        assert_eq!(none.iter().count(), 0);
    }
}
