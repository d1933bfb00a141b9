//! The AccessControl plugin's rules: an ordered chain of `ALLOW`, `DENY`
//! and `QUEUE_LOW` rules by exact IP or netmask, where the first match
//! wins, and a policy for clients that match none (allow by default).
//! `ACCESS ...` edits the chain of the last created or USEd service with
//! 1.80's checks and messages; DUMPCONFIG prints it back.

use std::net::IpAddr;

use super::netmask::Netmask;
use crate::proto::access::AccessArgs;

/// What a rule does to a matching client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Proxied as usual.
    Allow,
    /// Answered `403 Forbidden` ("Access denied.").
    Deny,
    /// Proxied from the low-priority queue.
    QueueLow,
}

impl Decision {
    fn word(self) -> &'static str {
        match self {
            Decision::Allow => "ALLOW",
            Decision::Deny => "DENY",
            Decision::QueueLow => "QUEUE_LOW",
        }
    }
}

/// What a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The address as a string (1.80 compares strings; a missing value
    /// is kept and matches nothing).
    Ip(String),
    /// A netmask.
    Netmask(Netmask),
}

/// An `ACCESS` command refused, in 1.80's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// `ACCESS POLICY` without `allow` or `deny`.
    #[error("policy must be 'allow' or 'deny'")]
    Policy,
    /// A command word the parser let through but no rule has (1.80's
    /// unreachable branch, kept with its message).
    #[error("can't get here")]
    NoSuchCommand,
    /// `NETMASK` with a bad netmask.
    #[error("Error parsing netmask")]
    Netmask,
    /// Neither `IP` nor `NETMASK`.
    #[error("Unknown item to {cmd}: '{what}'")]
    UnknownItem {
        /// `allow`, `deny` or `queue_low`.
        cmd: String,
        /// The word given.
        what: String,
    },
}

crate::proto::usage::error_text!(AccessError);

/// One service's rule chain (1.80's `extra_config->{_access}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessConf {
    /// The chain, in order.
    pub rules: Vec<(Decision, Match)>,
    /// `ACCESS POLICY deny`
    pub deny_default: bool,
    /// `SET svc.accesscontrol.use_observed_ip`: match the first
    /// X-Forwarded-For address of a trusted upstream proxy instead.
    pub use_observed_ip: bool,
}

impl AccessConf {
    /// Runs `ACCESS <cmd> ...` (the service context is already checked).
    pub fn command(&mut self, a: &AccessArgs) -> Result<(), AccessError> {
        let decision = match a.cmd.as_str() {
            "reset" => {
                let observed = self.use_observed_ip;
                *self = AccessConf::default();
                self.use_observed_ip = observed;
                return Ok(());
            }
            "policy" => {
                // 1.80 checks /^allow|deny$/: "allowx" passes, and only
                // "deny" denies.
                let arg = a.arg1.as_deref().unwrap_or("");
                if !(arg.starts_with("allow") || arg.ends_with("deny")) {
                    return Err(AccessError::Policy);
                }
                self.deny_default = arg == "deny";
                return Ok(());
            }
            "allow" => Decision::Allow,
            "deny" => Decision::Deny,
            "queue_low" => Decision::QueueLow,
            _ => return Err(AccessError::NoSuchCommand),
        };
        let what = a.arg1.as_deref().unwrap_or("");
        let value = a.arg2.clone().unwrap_or_default();
        let rule = match what {
            "ip" => Match::Ip(value),
            "netmask" => Match::Netmask(Netmask::parse_net(&value).ok_or(AccessError::Netmask)?),
            _ => {
                return Err(AccessError::UnknownItem {
                    cmd: a.cmd.clone(),
                    what: what.to_owned(),
                })
            }
        };
        self.rules.push((decision, rule));
        Ok(())
    }

    /// DUMPCONFIG's lines: the rules, then the policy.
    pub fn dump(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .rules
            .iter()
            .map(|(d, m)| match m {
                Match::Ip(ip) => format!("ACCESS {} IP {ip}", d.word()),
                Match::Netmask(n) => format!("ACCESS {} NETMASK {n}", d.word()),
            })
            .collect();
        let policy = if self.deny_default { "DENY" } else { "ALLOW" };
        out.push(format!("ACCESS POLICY {policy}"));
        out
    }

    /// The first matching rule's decision, else the policy's. `observed`
    /// is the client's address as a trusted proxy reported it, used when
    /// `use_observed_ip` is on.
    pub fn decide(&self, peer: IpAddr, observed: Option<IpAddr>) -> Decision {
        let ip = match (self.use_observed_ip, observed) {
            (true, Some(o)) => o,
            _ => peer,
        };
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let text = ip.to_string();
        for (decision, rule) in &self.rules {
            let hit = match rule {
                Match::Ip(s) => *s == text,
                Match::Netmask(n) => n.contains(ip),
            };
            if hit {
                return *decision;
            }
        }
        if self.deny_default {
            Decision::Deny
        } else {
            Decision::Allow
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::access::parse;

    fn run(c: &mut AccessConf, line: &str) -> Result<(), String> {
        let words: Vec<&str> = line.split(' ').collect();
        Ok(c.command(&parse(&words)?)?)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn first_match_wins_then_the_policy() {
        let mut c = AccessConf::default();
        run(&mut c, "allow ip 10.1.1.1").expect("ok");
        run(&mut c, "deny netmask 10.1.0.0/16").expect("ok");
        run(&mut c, "queue_low netmask 10.0.0.0/8").expect("ok");
        assert_eq!(c.decide(ip("10.1.1.1"), None), Decision::Allow);
        assert_eq!(c.decide(ip("10.1.9.9"), None), Decision::Deny);
        assert_eq!(c.decide(ip("10.2.0.1"), None), Decision::QueueLow);
        assert_eq!(c.decide(ip("192.0.2.1"), None), Decision::Allow);
        assert_eq!(c.decide(ip("::ffff:10.2.0.1"), None), Decision::QueueLow);
        run(&mut c, "policy deny").expect("ok");
        assert_eq!(c.decide(ip("192.0.2.1"), None), Decision::Deny);
        c.use_observed_ip = true;
        assert_eq!(
            c.decide(ip("192.0.2.1"), Some(ip("10.1.1.1"))),
            Decision::Allow
        );
        assert_eq!(
            c.dump(),
            [
                "ACCESS ALLOW IP 10.1.1.1",
                "ACCESS DENY NETMASK 10.1.0.0/16",
                "ACCESS QUEUE_LOW NETMASK 10.0.0.0/8",
                "ACCESS POLICY DENY",
            ]
        );
        run(&mut c, "reset whatever").expect("ok");
        assert_eq!(c.dump(), ["ACCESS POLICY ALLOW"]);
    }

    #[test]
    fn errors_as_1_80() {
        let mut c = AccessConf::default();
        let err = |c: &mut AccessConf, l: &str| run(c, l).expect_err("error");
        assert_eq!(err(&mut c, "policy"), "policy must be 'allow' or 'deny'");
        assert_eq!(
            err(&mut c, "policy frob"),
            "policy must be 'allow' or 'deny'"
        );
        assert_eq!(err(&mut c, "allow host x"), "Unknown item to allow: 'host'");
        assert_eq!(err(&mut c, "queue_low"), "Unknown item to queue_low: ''");
        assert_eq!(err(&mut c, "deny netmask 10/8"), "Error parsing netmask");
        // 1.80's /^allow|deny$/ lets these through; neither denies.
        run(&mut c, "policy allowx").expect("ok");
        run(&mut c, "policy xdeny").expect("ok");
        assert!(!c.deny_default);
        run(&mut c, "allow ip").expect("ok");
        assert_eq!(c.dump()[0], "ACCESS ALLOW IP ");
    }
}
