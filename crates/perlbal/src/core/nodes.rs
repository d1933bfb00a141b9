//! What the proxy remembers about backend nodes, as 1.80 does: counters for
//! `NODES`, nodes skipped for a second after a connect error, and nodes
//! used unverified for 60 s after an OPTIONS reply that could not keep the
//! connection alive (`NOVERIFY`). Time is passed in (seconds since the
//! epoch, fractional), so this stays pure.

use std::collections::BTreeMap;
use std::net::SocketAddr;

/// How long a node that refused a connection is skipped.
pub const DEAD_FOR: f64 = 1.0;
/// How long a node whose OPTIONS reply closed the connection goes unverified.
pub const NOVERIFY_FOR: u64 = 60;
/// How many recent response codes `NODES` reports per node.
const RECENT_CODES: usize = 15;

/// Counters of one node (1.80's `%NodeStats`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Connection attempts.
    pub attempts: u64,
    /// Epoch seconds of the last attempt.
    pub lastattempt: u64,
    /// Successful connects.
    pub connects: u64,
    /// Epoch seconds of the last connect.
    pub lastconnect: u64,
    /// OPTIONS verifications done.
    pub verifies: u64,
    /// Requests answered.
    pub requests: u64,
    /// Epoch seconds of the last response.
    pub lastresponse: u64,
    /// The most recent response codes.
    pub responsecodes: Vec<u16>,
    /// Every response since start, by status class (1xx..5xx).
    pub by_class: [u64; 5],
}

/// Every node's state.
#[derive(Debug, Default)]
pub struct NodeBook {
    stats: BTreeMap<SocketAddr, NodeStats>,
    dead_until: BTreeMap<SocketAddr, f64>,
    noverify_until: BTreeMap<SocketAddr, u64>,
}

impl NodeBook {
    /// A connection attempt starts.
    pub fn attempt(&mut self, node: SocketAddr, now: f64) {
        let s = self.stats.entry(node).or_default();
        s.attempts += 1;
        s.lastattempt = now as u64;
    }

    /// Connections attempted to `node` (1.80's `node_used`).
    pub fn used(&self, node: SocketAddr) -> u64 {
        self.stats.get(&node).map_or(0, |s| s.attempts)
    }

    /// The connect succeeded.
    pub fn connected(&mut self, node: SocketAddr, now: f64) {
        let s = self.stats.entry(node).or_default();
        s.connects += 1;
        s.lastconnect = now as u64;
        self.dead_until.remove(&node);
    }

    /// The connect failed: skip the node for [`DEAD_FOR`].
    pub fn connect_failed(&mut self, node: SocketAddr, now: f64) {
        self.dead_until.insert(node, now + DEAD_FOR);
    }

    /// Whether new connections to `node` are skipped now.
    pub fn is_dead(&self, node: SocketAddr, now: f64) -> bool {
        self.dead_until.get(&node).is_some_and(|t| *t > now)
    }

    /// When the earliest skipped node may be tried again.
    pub fn next_revival(&self, now: f64) -> Option<f64> {
        self.dead_until
            .values()
            .copied()
            .filter(|t| *t > now)
            .min_by(f64::total_cmp)
    }

    /// An OPTIONS verification was sent.
    pub fn verified(&mut self, node: SocketAddr) {
        self.stats.entry(node).or_default().verifies += 1;
    }

    /// The OPTIONS reply could not keep the connection: stop verifying.
    pub fn mark_noverify(&mut self, node: SocketAddr, now: f64) {
        self.noverify_until.insert(node, now as u64 + NOVERIFY_FOR);
    }

    /// Whether a new connection to `node` must be verified.
    pub fn needs_verify(&mut self, node: SocketAddr, now: f64) -> bool {
        match self.noverify_until.get(&node) {
            Some(t) if *t >= now as u64 => false,
            Some(_) => {
                self.noverify_until.remove(&node);
                true
            }
            None => true,
        }
    }

    /// A response came back from `node`.
    pub fn responded(&mut self, node: SocketAddr, code: u16, now: f64) {
        let s = self.stats.entry(node).or_default();
        s.requests += 1;
        s.lastresponse = now as u64;
        s.responsecodes.push(code);
        if let Some(n) = usize::from(code / 100)
            .checked_sub(1)
            .and_then(|i| s.by_class.get_mut(i))
        {
            *n += 1;
        }
        if s.responsecodes.len() > RECENT_CODES {
            s.responsecodes.remove(0);
        }
    }

    /// Each node's responses since start by status class (1xx..5xx).
    pub fn responses_by_class(&self) -> Vec<(SocketAddr, [u64; 5])> {
        self.stats.iter().map(|(n, s)| (*n, s.by_class)).collect()
    }

    /// `NODES [node]`: 1.80's lines, without the final `.`.
    pub fn render(&self, only: Option<SocketAddr>) -> Vec<String> {
        let mut out = Vec::new();
        for (node, s) in &self.stats {
            if only.is_some_and(|o| o != *node) {
                continue;
            }
            for (k, v) in [
                ("attempts", s.attempts),
                ("lastattempt", s.lastattempt),
                ("connects", s.connects),
                ("lastconnect", s.lastconnect),
                ("verifies", s.verifies),
                ("requests", s.requests),
                ("lastresponse", s.lastresponse),
            ] {
                if v > 0 {
                    out.push(format!("{node} {k} {v}"));
                }
            }
            let mut codes: BTreeMap<u16, usize> = BTreeMap::new();
            for c in &s.responsecodes {
                *codes.entry(*c).or_default() += 1;
            }
            for (c, n) in codes {
                out.push(format!("{node} responsecodes {c} {n}"));
            }
        }
        out
    }

    /// `NOVERIFY`: `ip:port seconds-left` lines.
    pub fn render_noverify(&self, now: f64) -> Vec<String> {
        self.noverify_until
            .iter()
            .map(|(n, t)| format!("{n} {}", *t as i64 - now as i64))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn dead_for_a_second_then_retried() {
        let mut b = NodeBook::default();
        let a = n("10.0.0.1:80");
        b.attempt(a, 100.0);
        b.connect_failed(a, 100.0);
        assert!(b.is_dead(a, 100.5));
        assert_eq!(b.next_revival(100.5), Some(101.0));
        assert!(!b.is_dead(a, 101.0));
        b.connected(a, 101.0);
        assert_eq!(b.next_revival(101.0), None);
    }

    #[test]
    fn noverify_for_a_minute_and_nodes_lines() {
        let mut b = NodeBook::default();
        let a = n("10.0.0.1:80");
        assert!(b.needs_verify(a, 0.0));
        b.mark_noverify(a, 10.0);
        assert!(!b.needs_verify(a, 69.0));
        assert_eq!(b.render_noverify(20.0), vec!["10.0.0.1:80 50".to_owned()]);
        assert!(b.needs_verify(a, 71.0));
        b.attempt(a, 5.0);
        b.responded(a, 200, 6.0);
        b.responded(a, 200, 6.0);
        let lines = b.render(Some(a));
        assert!(lines.contains(&"10.0.0.1:80 attempts 1".to_owned()));
        assert!(lines.contains(&"10.0.0.1:80 responsecodes 200 2".to_owned()));
        assert!(b.render(Some(n("10.0.0.2:80"))).is_empty());
    }
}
