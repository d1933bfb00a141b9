//! The counters perlbal keeps for the console and `/metrics`: the
//! responses it wrote itself, by status class, and the Stats plugin's
//! per-service counters (1.80's `Stats::Storage`) with its list of recent
//! proxied requests. Per-service request counts and latencies live in
//! [`super::dispatch::ServiceRt`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use super::lock;

/// Responses perlbal wrote itself (web_server files, errors, redirects,
/// console pages), by status class 1xx..5xx: what `/metrics` shows as
/// `perlbal_local_responses_total`.
static LOCAL_RESPONSES: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// The index 0..5 of `code`'s class 1xx..5xx, if it has one.
pub(crate) fn class_index(code: u16) -> Option<usize> {
    usize::from(code / 100).checked_sub(1).filter(|i| *i < 5)
}

/// Counts a response perlbal writes itself with status `code`.
pub(crate) fn count_local(code: u16) {
    if let Some(c) = class_index(code).and_then(|i| LOCAL_RESPONSES.get(i)) {
        c.fetch_add(1, Relaxed);
    }
}

/// The counts of [`LOCAL_RESPONSES`].
pub(crate) fn local_responses() -> [u64; 5] {
    LOCAL_RESPONSES.each_ref().map(|c| c.load(Relaxed))
}

/// How many proxied requests `RECENT` remembers per service.
const RECENT: usize = 100;

/// Stats' counters of one service (1.80's `Stats::Storage`).
#[derive(Default)]
pub(crate) struct StatsStore {
    files_sent: AtomicU64,
    files_reproxied: AtomicU64,
    web_requests: AtomicU64,
    proxy_requests: AtomicU64,
    proxy_requests_highpri: AtomicU64,
    /// `secs http://host/uri`, the last [`RECENT`] proxied requests.
    recent: Mutex<VecDeque<String>>,
}

/// The names `STATS` prints, in its order.
pub(crate) const STAT_KEYS: [&str; 5] = [
    "files_reproxied",
    "files_sent",
    "proxy_requests",
    "proxy_requests_highpri",
    "web_requests",
];

impl StatsStore {
    /// A web_server request (1.80's `start_web_request`).
    pub(crate) fn web_request(&self) {
        self.web_requests.fetch_add(1, Relaxed);
    }

    /// A file goes out (1.80's `start_send_file`).
    pub(crate) fn file_sent(&self) {
        self.files_sent.fetch_add(1, Relaxed);
    }

    /// A backend named a file to send (1.80's `start_file_reproxy`).
    pub(crate) fn file_reproxied(&self) {
        self.files_reproxied.fetch_add(1, Relaxed);
    }

    /// A backend took a request (1.80's `backend_client_assigned`).
    pub(crate) fn proxy_request(&self, high_priority: bool) {
        if high_priority {
            self.proxy_requests_highpri.fetch_add(1, Relaxed);
        } else {
            self.proxy_requests.fetch_add(1, Relaxed);
        }
    }

    /// Remembers a proxied request's line, the oldest dropped past
    /// [`RECENT`].
    pub(crate) fn recent(&self, line: String) {
        let mut recent = lock(&self.recent);
        recent.push_back(line);
        if recent.len() > RECENT {
            recent.pop_front();
        }
    }

    /// The recent lines, oldest first.
    pub(crate) fn recent_lines(&self) -> Vec<String> {
        lock(&self.recent).iter().cloned().collect()
    }

    /// The counters in [`STAT_KEYS`]' order.
    pub(crate) fn values(&self) -> [u64; 5] {
        [
            &self.files_reproxied,
            &self.files_sent,
            &self.proxy_requests,
            &self.proxy_requests_highpri,
            &self.web_requests,
        ]
        .map(|c| c.load(Relaxed))
    }
}

/// Every service's Stats counters, kept across config changes (a
/// service's counters go on where they were when its plugins are rebuilt).
#[derive(Default)]
pub(crate) struct StatsStores(Mutex<BTreeMap<String, Arc<StatsStore>>>);

impl StatsStores {
    /// The counters of `service`, made on first use.
    pub(crate) fn of(&self, service: &str) -> Arc<StatsStore> {
        lock(&self.0).entry(service.to_owned()).or_default().clone()
    }

    /// The counters of `service`, if it ever had them.
    pub(crate) fn get(&self, service: &str) -> Option<Arc<StatsStore>> {
        lock(&self.0).get(service).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_counters_keep_their_order_and_last_hundred_lines() {
        let all = StatsStores::default();
        let st = all.of("web");
        st.web_request();
        st.file_sent();
        st.file_sent();
        st.file_reproxied();
        st.proxy_request(false);
        st.proxy_request(true);
        st.proxy_request(true);
        assert_eq!(all.of("web").values(), [1, 2, 1, 2, 1]);
        assert!(all.get("other").is_none());
        for i in 0..105 {
            st.recent(format!("line {i}"));
        }
        let lines = st.recent_lines();
        assert_eq!(lines.len(), RECENT);
        assert_eq!(lines.first().map(String::as_str), Some("line 5"));
    }
}
