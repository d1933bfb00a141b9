//! The three client queues of a reverse proxy and 1.80's order of taking
//! from them: high, then normal, then low; with queue relief, once the
//! normal queue holds `relief_size` clients, a free backend takes from it
//! first with `relief_chance` percent probability.

use std::collections::VecDeque;

/// A request's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Served first.
    High,
    /// The default.
    Normal,
    /// Served last (bots).
    Low,
}

/// The queues, holding anything (waiting clients in the server).
#[derive(Debug)]
pub struct Queues<T> {
    high: VecDeque<T>,
    normal: VecDeque<T>,
    low: VecDeque<T>,
}

impl<T> Default for Queues<T> {
    fn default() -> Self {
        Queues {
            high: VecDeque::new(),
            normal: VecDeque::new(),
            low: VecDeque::new(),
        }
    }
}

impl<T> Queues<T> {
    /// Queues `item` at the back of its queue.
    pub fn push(&mut self, prio: Priority, item: T) {
        self.queue_mut(prio).push_back(item);
    }

    /// Puts `item` back at the front (a retried request keeps its place).
    pub fn push_front(&mut self, prio: Priority, item: T) {
        self.queue_mut(prio).push_front(item);
    }

    fn queue_mut(&mut self, prio: Priority) -> &mut VecDeque<T> {
        match prio {
            Priority::High => &mut self.high,
            Priority::Normal => &mut self.normal,
            Priority::Low => &mut self.low,
        }
    }

    /// The queue of `prio`.
    pub fn queue(&self, prio: Priority) -> &VecDeque<T> {
        match prio {
            Priority::High => &self.high,
            Priority::Normal => &self.normal,
            Priority::Low => &self.low,
        }
    }

    /// Clients waiting in all queues.
    pub fn len(&self) -> usize {
        self.high.len() + self.normal.len() + self.low.len()
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the next client. `roll` is a number in 0..100 (the dice).
    pub fn pop(&mut self, relief_size: usize, relief_chance: u32, roll: u32) -> Option<T> {
        let relief = relief_size > 0 && self.normal.len() >= relief_size && roll < relief_chance;
        if relief {
            if let Some(t) = self.normal.pop_front() {
                return Some(t);
            }
        }
        self.high
            .pop_front()
            .or_else(|| self.normal.pop_front())
            .or_else(|| self.low.pop_front())
    }

    /// Drops every item `keep` refuses (clients that left).
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.high.retain(&mut keep);
        self.normal.retain(&mut keep);
        self.low.retain(&mut keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn high_then_normal_then_low_with_relief() {
        let mut q = Queues::default();
        q.push(Priority::Low, "bot");
        q.push(Priority::Normal, "n1");
        q.push(Priority::Normal, "n2");
        q.push(Priority::High, "vip");
        assert_eq!(q.pop(0, 0, 0), Some("vip"));
        q.push(Priority::High, "vip2");
        assert_eq!(
            q.pop(2, 50, 10),
            Some("n1"),
            "relief: normal queue long enough, dice low"
        );
        assert_eq!(q.pop(2, 50, 10), Some("vip2"), "normal queue now short");
        assert_eq!(q.pop(0, 0, 0), Some("n2"));
        assert_eq!(q.pop(0, 0, 0), Some("bot"));
        assert_eq!(q.pop(0, 0, 0), None);
    }

    proptest! {
        /// Against a naive model: without relief, every pop returns the
        /// oldest item of the best non-empty queue.
        #[test]
        fn matches_a_model(ops in proptest::collection::vec((0u8..4, 0u32..1000), 0..60)) {
            let mut q = Queues::default();
            let mut model: Vec<(u8, u32)> = Vec::new();
            for (op, v) in ops {
                if op < 3 {
                    let prio = [Priority::High, Priority::Normal, Priority::Low][op as usize];
                    q.push(prio, v);
                    model.push((op, v));
                } else {
                    let best = model.iter().enumerate().min_by_key(|(i, (p, _))| (*p, *i)).map(|(i, _)| i);
                    let want = best.map(|i| model.remove(i).1);
                    prop_assert_eq!(q.pop(0, 0, 0), want);
                }
                prop_assert_eq!(q.len(), model.len());
            }
        }
    }
}
