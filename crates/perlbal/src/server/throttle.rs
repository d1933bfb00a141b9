//! The Throttle plugin on a reverse_proxy, as 1.80 decides: a client IP
//! on the whitelist passes; a banned one, a blacklisted one (with
//! `blacklist_action = deny`) or one with more than `max_concurrent`
//! requests in progress gets `403 Forbidden.`; a request outside
//! `path_regex` / `method_regex` passes, as does everything with
//! `default_action = allow`. The rest is throttled: an IP not seen within
//! `throttle_threshold_seconds` passes at once; otherwise its request
//! waits `initial_delay * 2^violations` seconds (at most `max_delay`), and
//! at `ban_threshold` violations the IP is banned for `ban_expiration`
//! seconds and the connection closed. `log_only` computes all of it but
//! neither refuses nor delays (a ban still closes the connection, as in
//! 1.80). State is per service and in memory (no memcached), at most
//! [`MAX_IPS`] addresses remembered. `log_events` picks which decisions
//! are logged (at info level).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regex::Regex;
use tokio::time::Instant;

use super::lock;
use crate::core::netmask::Netmask;
use crate::core::ServiceConf;

/// The most addresses each table remembers; past that, expired entries
/// are dropped, and if none expired the address is not remembered.
pub(crate) const MAX_IPS: usize = 100_000;

/// A service's Throttle settings.
#[derive(Debug)]
pub(crate) struct ThrottleConf {
    whitelist: Vec<Netmask>,
    blacklist: Vec<Netmask>,
    blacklist_deny: bool,
    default_allow: bool,
    path_regex: Option<Regex>,
    method_regex: Option<Regex>,
    log_only: bool,
    threshold: f64,
    initial_delay: u64,
    max_delay: u64,
    max_concurrent: u64,
    ban_threshold: u64,
    ban_expiration: u64,
    instance: String,
    /// `log_events`, as [`Event`] bits.
    log: u16,
    state: Arc<Mutex<ThrottleState>>,
}

/// What `log_events` can name.
#[derive(Debug, Clone, Copy)]
enum Event {
    Ban = 1,
    Unban = 2,
    Whitelisted = 4,
    AllowDefault = 8,
    Banned = 16,
    Blacklisted = 32,
    Concurrent = 64,
    Throttled = 128,
}

/// 1.80's reading of `log_events`: words separated by commas or spaces,
/// later ones winning (`all` sets every event, `none` clears them).
fn log_bits(text: &str) -> u16 {
    let mut bits = 0;
    for word in text.to_ascii_lowercase().split([',', ' ']) {
        bits = match word {
            "ban" => bits | Event::Ban as u16,
            "unban" => bits | Event::Unban as u16,
            "whitelisted" => bits | Event::Whitelisted as u16,
            "banned" => bits | Event::Banned as u16,
            "blacklisted" => bits | Event::Blacklisted as u16,
            "concurrent" => bits | Event::Concurrent as u16,
            "throttled" => bits | Event::Throttled as u16,
            "all" => u16::MAX,
            "none" => 0,
            _ => bits,
        };
    }
    bits
}

impl ThrottleConf {
    fn log(&self, event: Event, ip: IpAddr, what: &str) {
        if self.log & event as u16 != 0 {
            tracing::info!(%ip, service_event = ?event, "Throttle: {what}");
        }
    }
}

/// What the service remembers about client addresses.
#[derive(Debug, Default)]
pub(crate) struct ThrottleState {
    /// Requests in progress per address.
    concurrent: HashMap<IpAddr, u64>,
    /// Banned addresses, until when.
    banned: HashMap<IpAddr, Instant>,
    /// instance+address -> (forgotten at, last request start, violations).
    seen: HashMap<String, (Instant, Instant, u64)>,
}

/// 1.80's list files: one address or CIDR per line, `#` comments.
/// `None` when the file cannot be read or names nothing.
fn load_list(path: &str) -> Option<Vec<Netmask>> {
    let text = std::fs::read_to_string(path).ok()?;
    let list: Vec<Netmask> = text
        .lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or("");
            let start = l.find(|c: char| c.is_ascii_digit() || c == '/' || c == '.')?;
            let run: String = l[start..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '/' || *c == '.')
                .collect();
            Netmask::parse(&run)
        })
        .collect();
    (!list.is_empty()).then_some(list)
}

/// Whether a list file can be used, with 1.80's complaint if not.
pub(crate) fn check_list(path: &str) -> Result<(), String> {
    if std::fs::metadata(path).is_err() {
        return Err(format!("Unable to open file {path}"));
    }
    load_list(path)
        .map(|_| ())
        .ok_or_else(|| format!("{path} contains no recognizable CIDRs"))
}

impl ThrottleConf {
    /// From the service's settings; `state` is kept across config changes.
    pub fn new(svc: &ServiceConf, state: Arc<Mutex<ThrottleState>>) -> ThrottleConf {
        let list = |key: &str| {
            let path = svc.get(key)?;
            let got = load_list(path);
            if got.is_none() {
                tracing::warn!(service = %svc.name, path, "Throttle: no usable CIDR list");
            }
            got
        };
        let regex = |key: &str| {
            svc.get(key)
                .filter(|r| !r.is_empty())
                .and_then(|r| Regex::new(r).ok())
        };
        let num =
            |key: &str, default: u64| svc.get(key).and_then(|v| v.parse().ok()).unwrap_or(default);
        ThrottleConf {
            whitelist: list("whitelist_file").unwrap_or_default(),
            blacklist: list("blacklist_file").unwrap_or_default(),
            blacklist_deny: svc.get("blacklist_action").unwrap_or("deny") == "deny",
            default_allow: svc.get("default_action") == Some("allow"),
            path_regex: regex("path_regex"),
            method_regex: regex("method_regex"),
            log_only: svc.get("log_only") == Some("1"),
            threshold: num("throttle_threshold_seconds", 60) as f64,
            initial_delay: num("initial_delay", 3),
            max_delay: num("max_delay", 300),
            max_concurrent: num("max_concurrent", 2),
            ban_threshold: num("ban_threshold", 0),
            ban_expiration: num("ban_expiration", 60),
            instance: svc.get("instance_name").unwrap_or("Throttle").to_owned(),
            log: log_bits(svc.get("log_events").unwrap_or("all")),
            state,
        }
    }
}

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Handle it after this wait.
    Go(Duration),
    /// `403 Forbidden.`
    Deny,
    /// Close the connection (a new ban).
    Close,
}

/// Counts a request in progress from an address until dropped.
pub(crate) struct InProgress {
    state: Arc<Mutex<ThrottleState>>,
    ip: IpAddr,
}

impl Drop for InProgress {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        if let Some(n) = st.concurrent.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.concurrent.remove(&self.ip);
            }
        }
    }
}

/// Drops expired entries when a table is full; whether there is room.
fn room<K, V>(table: &mut HashMap<K, V>, expired: impl Fn(&V) -> bool) -> bool {
    if table.len() >= MAX_IPS {
        table.retain(|_, v| !expired(v));
    }
    table.len() < MAX_IPS
}

/// Decides on a request from `ip` for `method uri`; the request counts as
/// in progress while the returned guard lives.
pub(crate) fn decide(
    t: &ThrottleConf,
    ip: IpAddr,
    method: &str,
    uri: &str,
) -> (Verdict, Option<InProgress>) {
    let now = Instant::now();
    let mut st = lock(&t.state);
    let counted = st.concurrent.contains_key(&ip) || st.concurrent.len() < MAX_IPS;
    let guard = counted.then(|| {
        *st.concurrent.entry(ip).or_default() += 1;
        InProgress {
            state: t.state.clone(),
            ip,
        }
    });
    let in_progress = st.concurrent.get(&ip).copied().unwrap_or(0);
    if st.banned.get(&ip).is_some_and(|until| *until <= now) {
        st.banned.remove(&ip);
        t.log(Event::Unban, ip, "unbanning");
    }
    let listed = |l: &[Netmask]| l.iter().any(|n| n.contains(ip));
    // 1.80's order: whitelist, ban, blacklist, concurrency, path, method.
    enum R {
        Allow,
        Throttle,
        Deny,
    }
    let result = if listed(&t.whitelist) {
        t.log(
            Event::Whitelisted,
            ip,
            "letting a whitelisted address through",
        );
        R::Allow
    } else if st.banned.contains_key(&ip) {
        t.log(Event::Banned, ip, "refusing a banned address");
        R::Deny
    } else if listed(&t.blacklist) {
        t.log(Event::Blacklisted, ip, "blacklisted address");
        if t.blacklist_deny {
            R::Deny
        } else {
            R::Throttle
        }
    } else if in_progress > t.max_concurrent {
        t.log(Event::Concurrent, ip, "too many concurrent requests");
        R::Deny
    } else if t.path_regex.as_ref().is_some_and(|r| !r.is_match(uri))
        || t.method_regex.as_ref().is_some_and(|r| !r.is_match(method))
        || t.default_allow
    {
        R::Allow
    } else {
        R::Throttle
    };
    match result {
        R::Allow => return (Verdict::Go(Duration::ZERO), guard),
        R::Deny if !t.log_only => return (Verdict::Deny, guard),
        // With log_only a refusal goes on down the throttle path (1.80).
        R::Deny | R::Throttle => {}
    }
    let key = format!("{}{ip}", t.instance);
    let last = st
        .seen
        .get(&key)
        .filter(|(until, _, _)| now < *until)
        .map(|(_, start, n)| (*start, *n));
    let violations = last.map_or(0, |(_, n)| n);
    let remember = |st: &mut ThrottleState, exp: Duration, count: u64| {
        if st.seen.contains_key(&key) || room(&mut st.seen, |(until, _, _)| *until <= now) {
            st.seen.insert(key.clone(), (now + exp, now, count));
        }
    };
    remember(
        &mut st,
        Duration::from_secs_f64(t.threshold.max(0.0)),
        violations,
    );
    let Some((last_start, _)) = last else {
        t.log(
            Event::AllowDefault,
            ip,
            "allowing an address not seen lately",
        );
        return (Verdict::Go(Duration::ZERO), guard);
    };
    if now.duration_since(last_start).as_secs_f64() >= t.threshold {
        t.log(
            Event::AllowDefault,
            ip,
            "allowing an address that waited long enough",
        );
        return (Verdict::Go(Duration::ZERO), guard);
    }
    let factor = 1u64
        .checked_shl(u32::try_from(violations).unwrap_or(u32::MAX))
        .unwrap_or(u64::MAX);
    let delay = t.initial_delay.saturating_mul(factor).min(t.max_delay);
    let violations = violations + 1;
    if t.ban_threshold > 0 && violations >= t.ban_threshold {
        t.log(Event::Ban, ip, "banning");
        if !t.log_only
            && (st.banned.contains_key(&ip) || room(&mut st.banned, |until| *until <= now))
        {
            st.banned
                .insert(ip, now + Duration::from_secs(t.ban_expiration));
        }
        return (Verdict::Close, guard);
    }
    remember(&mut st, Duration::from_secs(delay), violations);
    t.log(Event::Throttled, ip, "throttling");
    let wait = if t.log_only { 0 } else { delay };
    (Verdict::Go(Duration::from_secs(wait)), guard)
}

#[cfg(test)]
mod tests {
    use super::{load_list, log_bits, Event};

    #[test]
    fn log_events_and_list_files_read_as_1_80() {
        assert_eq!(log_bits("all"), u16::MAX);
        assert_eq!(
            log_bits("ban, unban"),
            Event::Ban as u16 | Event::Unban as u16
        );
        assert_eq!(log_bits("all,none,throttled"), Event::Throttled as u16);
        let dir = tempfile::tempdir().expect("dir");
        let f = dir.path().join("list.txt");
        std::fs::write(
            &f,
            "# comment 1.2.3.4\n10.0.0.0/8 office\n  192.168.1.7\nnothing\n",
        )
        .expect("write");
        let list = load_list(&f.display().to_string()).expect("a list");
        assert_eq!(list.len(), 2);
        assert!(list[0].contains("10.9.8.7".parse().expect("ip")));
        assert!(list[1].contains("192.168.1.7".parse().expect("ip")));
        std::fs::write(&f, "# nothing here\n").expect("write");
        assert!(load_list(&f.display().to_string()).is_none());
    }
}
