//! What `--metrics-listen` serves for perlbal: the console's own answers
//! (`queues`, `nodes`, `states`, the request counter of `prof`/`uptime`)
//! turned into Prometheus samples — the same figures an operator reads on
//! the management port.

use std::sync::atomic::Ordering;

use danga_common::metrics::{Exposition, Kind};
use danga_common::LineReply;

use super::manage::Console;
use super::Server;

/// The status classes, as the `code_class` label spells them.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl Server {
    /// The exposition of this perlbal's figures.
    pub fn metrics_text(&self) -> String {
        let sh = &self.shared;
        let mut console = Console::new(sh.clone());
        let mut ask = |cmd: &str| match console.line(cmd) {
            LineReply::Send(t) | LineReply::SendAndClose(t) => t,
            LineReply::Nothing => String::new(),
        };
        let queues = ask("queues");
        let nodes = ask("nodes");
        let states = ask("states");
        let mut e = Exposition::new();
        e.one("perlbal_up", Kind::Gauge, "perlbal is serving.", 1.0);
        e.one(
            "perlbal_requests_total",
            Kind::Counter,
            "HTTP requests read from clients, all services.",
            sh.reqs.load(Ordering::Relaxed) as f64,
        );
        e.one(
            "perlbal_uptime_seconds",
            Kind::Counter,
            "Seconds since perlbal started.",
            (super::now() as u64).saturating_sub(sh.started) as f64,
        );
        let services: Vec<_> = super::lock(&sh.services).values().cloned().collect();
        for rt in &services {
            e.sample(
                "perlbal_service_requests_total",
                Kind::Counter,
                "Requests answered, per service.",
                &[("service", &rt.name)],
                rt.requests.load(Ordering::Relaxed) as f64,
            );
        }
        for rt in &services {
            for (class, n) in CLASSES.iter().zip(&rt.responses) {
                e.sample(
                    "perlbal_service_responses_total",
                    Kind::Counter,
                    "Responses clients got, per service that answered and status class.",
                    &[("service", &rt.name), ("code_class", class)],
                    n.load(Ordering::Relaxed) as f64,
                );
            }
        }
        for rt in &services {
            rt.latency.render(
                &mut e,
                "perlbal_service_request_duration_seconds",
                "Time from a request's head to the end of its answer, per service.",
                &[("service", &rt.name)],
            );
        }
        // `SERVICE-PRIORITY.count N` / `.age N` lines.
        let mut counts = Vec::new();
        let mut ages = Vec::new();
        for line in queues.lines() {
            let Some((key, v)) = line.split_once(' ') else {
                continue;
            };
            let Ok(v) = v.trim().parse::<f64>() else {
                continue;
            };
            let (name, field) = match key.rsplit_once('.') {
                Some(x) => x,
                None => continue,
            };
            let Some((service, pri)) = name.rsplit_once('-') else {
                continue;
            };
            let row = (service.to_owned(), pri.to_owned(), v);
            match field {
                "count" => counts.push(row),
                "age" => ages.push(row),
                _ => {}
            }
        }
        for (s, p, v) in &counts {
            e.sample(
                "perlbal_queue_length",
                Kind::Gauge,
                "Clients waiting for a backend, per service and priority queue.",
                &[("service", s), ("priority", p)],
                *v,
            );
        }
        for (s, p, v) in &ages {
            e.sample(
                "perlbal_queue_oldest_age_seconds",
                Kind::Gauge,
                "How long the oldest waiting client has waited.",
                &[("service", s), ("priority", p)],
                *v,
            );
        }
        // `ip:port key value` and `ip:port responsecodes CODE N` lines.
        let mut node_rows: Vec<(String, &str, f64)> = Vec::new();
        let mut codes: Vec<(String, String, f64)> = Vec::new();
        for line in nodes.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                [node, "responsecodes", code, n] => {
                    if let Ok(n) = n.parse() {
                        codes.push(((*node).to_owned(), (*code).to_owned(), n));
                    }
                }
                [node, key @ ("attempts" | "connects" | "requests" | "verifies"), v] => {
                    if let Ok(v) = v.parse() {
                        node_rows.push(((*node).to_owned(), key, v));
                    }
                }
                _ => {}
            }
        }
        for (key, help) in [
            ("attempts", "Connections attempted to the backend."),
            ("connects", "Connections made to the backend."),
            ("requests", "Requests sent to the backend."),
            ("verifies", "OPTIONS verifications of the backend."),
        ] {
            let name = format!("perlbal_backend_{key}_total");
            for (node, _, v) in node_rows.iter().filter(|r| r.1 == key) {
                e.sample(&name, Kind::Counter, help, &[("backend", node)], *v);
            }
        }
        for (node, code, n) in &codes {
            e.sample(
                "perlbal_backend_recent_responses",
                Kind::Gauge,
                "Status codes among the backend's most recent responses (the console's `nodes`).",
                &[("backend", node), ("code", code)],
                *n,
            );
        }
        let by_node = super::lock(&sh.nodes).responses_by_class();
        for (node, counts) in &by_node {
            let node = node.to_string();
            for (class, n) in CLASSES.iter().zip(counts) {
                e.sample(
                    "perlbal_backend_responses_total",
                    Kind::Counter,
                    "Responses relayed from the backend, by status class.",
                    &[("backend", &node), ("code_class", class)],
                    *n as f64,
                );
            }
        }
        for (class, n) in CLASSES.iter().zip(super::counters::local_responses()) {
            e.sample(
                "perlbal_local_responses_total",
                Kind::Counter,
                "Responses perlbal wrote itself (files, errors, redirects), by status class.",
                &[("code_class", class)],
                n as f64,
            );
        }
        // `class state N` lines.
        for line in states.lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if let [class, state, n] = parts.as_slice() {
                if let Ok(n) = n.parse() {
                    e.sample(
                        "perlbal_connections",
                        Kind::Gauge,
                        "Open connections by kind and state (the console's `states`).",
                        &[("class", class), ("state", state)],
                        n,
                    );
                }
            }
        }
        e.finish()
    }
}
