//! A registry of named counters and gauges.
//!
//! Code that bumps a number declares it next to itself, with a description;
//! the registry only keeps the list. It has no wire format: each daemon
//! renders [`Registry::snapshot`] the way its original does (memcached
//! `STAT name value`, gearmand's columns, MogileFS `!stats`, ...).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonically increasing count (`total_connections`, `cmd_get`).
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn incr(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Back to zero (memcached `stats reset`).
    pub fn reset(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// A level that goes up and down (`curr_connections`).
#[derive(Clone, Debug, Default)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    /// Adds `n` (may be negative).
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets the value.
    pub fn set(&self, n: i64) {
        self.0.store(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Adds one now and takes it back when the returned guard drops.
    pub fn hold(&self) -> GaugeGuard {
        self.add(1);
        GaugeGuard(self.clone())
    }
}

/// Undoes one [`Gauge::hold`] when dropped.
#[derive(Debug)]
pub struct GaugeGuard(Gauge);

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}

/// A metric's current value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// From a [`Counter`].
    Counter(u64),
    /// From a [`Gauge`].
    Gauge(i64),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Counter(v) => write!(f, "{v}"),
            Value::Gauge(v) => write!(f, "{v}"),
        }
    }
}

#[derive(Debug)]
enum Metric {
    Counter(Counter),
    Gauge(Gauge),
}

#[derive(Debug)]
struct Entry {
    name: &'static str,
    description: &'static str,
    metric: Metric,
}

/// The list of a daemon's metrics, in declaration order.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    entries: Arc<Mutex<Vec<Entry>>>,
}

/// One row of a [`Registry::snapshot`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The metric's name, exactly as the original daemon spells it.
    pub name: &'static str,
    /// What it counts.
    pub description: &'static str,
    /// Its value when the snapshot was taken.
    pub value: Value,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process's registry: what several acceptors of one daemon share,
    /// and what `/metrics` exports (under the daemon's name) without any
    /// code of the daemon's own.
    pub fn global() -> &'static Registry {
        static GLOBAL: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(Registry::new)
    }

    /// The counter `name`, declared now unless it already is (then the
    /// existing one: several acceptors count together). Panics if `name`
    /// is declared as a gauge.
    pub fn shared_counter(&self, name: &'static str, description: &'static str) -> Counter {
        let mut entries = self.lock();
        if let Some(e) = entries.iter().find(|e| e.name == name) {
            match &e.metric {
                Metric::Counter(c) => return c.clone(),
                Metric::Gauge(_) => panic!("invariant: stat {name:?} is a gauge"),
            }
        }
        let c = Counter::default();
        entries.push(Entry {
            name,
            description,
            metric: Metric::Counter(c.clone()),
        });
        c
    }

    /// The gauge `name`, declared now unless it already is, as
    /// [`Registry::shared_counter`].
    pub fn shared_gauge(&self, name: &'static str, description: &'static str) -> Gauge {
        let mut entries = self.lock();
        if let Some(e) = entries.iter().find(|e| e.name == name) {
            match &e.metric {
                Metric::Gauge(g) => return g.clone(),
                Metric::Counter(_) => panic!("invariant: stat {name:?} is a counter"),
            }
        }
        let g = Gauge::default();
        entries.push(Entry {
            name,
            description,
            metric: Metric::Gauge(g.clone()),
        });
        g
    }

    /// Declares a counter.
    ///
    /// # Panics
    /// When `name` is already declared: two pieces of code counting under one
    /// name is a bug, caught by the first test that builds the daemon.
    pub fn counter(&self, name: &'static str, description: &'static str) -> Counter {
        let c = Counter::default();
        self.insert(name, description, Metric::Counter(c.clone()));
        c
    }

    /// Declares a gauge. Panics on a duplicate name, as [`Registry::counter`].
    pub fn gauge(&self, name: &'static str, description: &'static str) -> Gauge {
        let g = Gauge::default();
        self.insert(name, description, Metric::Gauge(g.clone()));
        g
    }

    fn insert(&self, name: &'static str, description: &'static str, metric: Metric) {
        let mut entries = self.lock();
        assert!(
            entries.iter().all(|e| e.name != name),
            "invariant: stat {name:?} declared twice"
        );
        entries.push(Entry {
            name,
            description,
            metric,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // A panic while holding this lock cannot leave the list half-edited
        // (push is the only mutation), so a poisoned lock is still good.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every metric's current value, in declaration order.
    pub fn snapshot(&self) -> Vec<Sample> {
        self.lock()
            .iter()
            .map(|e| Sample {
                name: e.name,
                description: e.description,
                value: match &e.metric {
                    Metric::Counter(c) => Value::Counter(c.get()),
                    Metric::Gauge(g) => Value::Gauge(g.get()),
                },
            })
            .collect()
    }

    /// The value of one metric, by name.
    pub fn get(&self, name: &str) -> Option<Value> {
        self.snapshot()
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| s.value)
    }

    /// Zeroes every counter; gauges keep their level (memcached `stats reset`).
    pub fn reset_counters(&self) {
        for e in self.lock().iter() {
            if let Metric::Counter(c) = &e.metric {
                c.reset();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_levels_in_declaration_order() {
        let reg = Registry::new();
        let total = reg.counter("total_connections", "connections accepted");
        let curr = reg.gauge("curr_connections", "connections open");
        total.add(3);
        let guard = curr.hold();
        let names: Vec<_> = reg.snapshot().iter().map(|s| s.name).collect();
        assert_eq!(names, ["total_connections", "curr_connections"]);
        assert_eq!(reg.get("total_connections"), Some(Value::Counter(3)));
        assert_eq!(reg.get("curr_connections"), Some(Value::Gauge(1)));
        drop(guard);
        reg.reset_counters();
        assert_eq!(reg.get("total_connections"), Some(Value::Counter(0)));
        assert_eq!(reg.get("curr_connections"), Some(Value::Gauge(0)));
    }

    #[test]
    fn shared_metrics_count_together() {
        let reg = Registry::new();
        let a = reg.shared_counter("total_connections", "x");
        let b = reg.shared_counter("total_connections", "x");
        a.incr();
        b.incr();
        assert_eq!(reg.get("total_connections"), Some(Value::Counter(2)));
        assert_eq!(reg.snapshot().len(), 1);
        let g = reg.shared_gauge("curr_connections", "y");
        let _held = reg.shared_gauge("curr_connections", "y").hold();
        assert_eq!(g.get(), 1);
    }

    #[test]
    #[should_panic(expected = "declared twice")]
    fn names_are_unique() {
        let reg = Registry::new();
        reg.counter("cmd_get", "a");
        reg.gauge("cmd_get", "b");
    }
}
