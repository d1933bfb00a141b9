//! What a request looks like when it reaches a backend (1.80's
//! `BackendHTTP::assign_client`): X-Forwarded-For replaced for untrusted
//! clients, appended to for trusted ones, X-Host and X-Forwarded-Host
//! dropped for untrusted ones, nothing touched under `blind_proxy`; then
//! `Connection`, then `HEADER svc REMOVE|INSERT`; always as HTTP/1.0.
//! Also the high-priority cookie test.

use std::net::IpAddr;

use super::netmask::Netmask;
use crate::proto::http::RequestHead;

/// A service's header settings.
#[derive(Debug, Clone, Default)]
pub struct HeaderRules {
    /// `blind_proxy`
    pub blind_proxy: bool,
    /// `always_trusted`
    pub always_trusted: bool,
    /// `trusted_upstream_proxies`
    pub trusted: Vec<Netmask>,
    /// `HEADER svc INSERT`
    pub insert: Vec<(String, String)>,
    /// `HEADER svc REMOVE`
    pub remove: Vec<String>,
    /// `enable_reproxy`: tell backends `X-Proxy-Capabilities: reproxy-file`.
    pub capabilities: bool,
}

impl HeaderRules {
    /// Whether the client's own X-Forwarded-For is believed.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.always_trusted || self.trusted.iter().any(|m| m.contains(peer))
    }

    /// The head to send to the backend.
    pub fn backend_head(&self, req: &RequestHead, peer: IpAddr, keep_alive: bool) -> Vec<u8> {
        let mut h = req.headers.clone();
        if !self.blind_proxy {
            if self.trusts(peer) {
                let mut list: Vec<String> = h
                    .get("X-Forwarded-For")
                    .map(|v| {
                        String::from_utf8_lossy(v)
                            .split(',')
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                list.push(peer.to_string());
                h.set("X-Forwarded-For", list.join(", "));
            } else {
                h.set("X-Forwarded-For", peer.to_string());
                h.remove("X-Host");
                h.remove("X-Forwarded-Host");
            }
        }
        h.remove("Keep-Alive");
        h.set(
            "Connection",
            if keep_alive { "keep-alive" } else { "close" },
        );
        if self.capabilities {
            h.set("X-Proxy-Capabilities", "reproxy-file");
        }
        for name in &self.remove {
            h.remove(name);
        }
        for (name, value) in &self.insert {
            h.set(name, value.as_bytes());
        }
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(req.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(req.uri.as_bytes());
        out.extend_from_slice(b" HTTP/1.0\r\n");
        h.write(&mut out);
        out.extend_from_slice(b"\r\n");
        out
    }
}

impl HeaderRules {
    /// [`HeaderRules::backend_head`] appended to `out`. Without HEADER
    /// rules and for an untrusted (or blind) client, which is the usual
    /// case, the head is written straight from the request, without
    /// copying its headers first.
    pub fn write_backend_head(
        &self,
        req: &RequestHead,
        peer: IpAddr,
        keep_alive: bool,
        out: &mut Vec<u8>,
    ) {
        if !self.remove.is_empty()
            || !self.insert.is_empty()
            || (!self.blind_proxy && self.trusts(peer))
        {
            out.extend_from_slice(&self.backend_head(req, peer, keep_alive));
            return;
        }
        out.extend_from_slice(req.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(req.uri.as_bytes());
        out.extend_from_slice(b" HTTP/1.0\r\n");
        let replaced: &[&str] = if self.blind_proxy {
            &["Keep-Alive", "Connection"]
        } else {
            &[
                "Keep-Alive",
                "Connection",
                "X-Forwarded-For",
                "X-Host",
                "X-Forwarded-Host",
            ]
        };
        for h in &req.headers.0 {
            if replaced.iter().any(|n| h.name.eq_ignore_ascii_case(n))
                || (self.capabilities && h.name.eq_ignore_ascii_case("X-Proxy-Capabilities"))
            {
                continue;
            }
            out.extend_from_slice(h.name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&h.value);
            out.extend_from_slice(b"\r\n");
        }
        if !self.blind_proxy {
            out.extend_from_slice(b"X-Forwarded-For: ");
            crate::proto::http::push_ip(out, peer);
            out.extend_from_slice(b"\r\n");
        }
        if self.capabilities {
            out.extend_from_slice(b"X-Proxy-Capabilities: reproxy-file\r\n");
        }
        out.extend_from_slice(if keep_alive {
            b"Connection: keep-alive\r\n\r\n"
        } else {
            b"Connection: close\r\n\r\n"
        });
    }
}

/// 1.80's high-priority test: cookie `name` whose value contains `contents`.
pub fn high_priority(req: &RequestHead, name: &str, contents: &str) -> bool {
    req.headers
        .0
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Cookie"))
        .flat_map(|h| h.value.split(|b| *b == b';'))
        .filter_map(|pair| {
            let pair = pair.trim_ascii();
            let eq = pair.iter().position(|b| *b == b'=')?;
            Some((&pair[..eq], &pair[eq + 1..]))
        })
        .any(|(n, v)| {
            n == name.as_bytes()
                && (contents.is_empty()
                    || v.windows(contents.len()).any(|w| w == contents.as_bytes()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::parse_request;

    fn req(extra: &str) -> RequestHead {
        let text = format!("GET /x HTTP/1.1\r\nHost: h\r\n{extra}\r\n");
        parse_request(text.as_bytes())
            .expect("ok")
            .expect("complete")
            .0
    }

    fn sent(rules: &HeaderRules, r: &RequestHead, peer: &str) -> String {
        String::from_utf8(rules.backend_head(r, peer.parse().expect("ip"), true)).expect("utf8")
    }

    #[test]
    fn untrusted_clients_lose_their_forwarding_headers() {
        let r = req("X-Forwarded-For: 6.6.6.6\r\nX-Host: evil\r\nX-Forwarded-Host: evil\r\n");
        let out = sent(&HeaderRules::default(), &r, "10.0.0.9");
        assert!(out.starts_with("GET /x HTTP/1.0\r\n"), "{out}");
        assert!(out.contains("X-Forwarded-For: 10.0.0.9\r\n"), "{out}");
        assert!(!out.contains("6.6.6.6") && !out.contains("evil"), "{out}");
        assert!(out.ends_with("Connection: keep-alive\r\n\r\n"), "{out}");
    }

    #[test]
    fn trusted_upstreams_are_appended_to_and_blind_proxy_touches_nothing() {
        let r = req("X-Forwarded-For: 1.2.3.4\r\nX-Host: kept\r\n");
        let rules = HeaderRules {
            trusted: Netmask::parse_list("10.0.0.0/8").expect("valid"),
            ..HeaderRules::default()
        };
        let out = sent(&rules, &r, "10.0.0.9");
        assert!(
            out.contains("X-Forwarded-For: 1.2.3.4, 10.0.0.9\r\n"),
            "{out}"
        );
        assert!(out.contains("X-Host: kept\r\n"), "{out}");
        let blind = HeaderRules {
            blind_proxy: true,
            ..HeaderRules::default()
        };
        let out = sent(&blind, &r, "8.8.8.8");
        assert!(
            out.contains("X-Forwarded-For: 1.2.3.4\r\n") && out.contains("X-Host: kept"),
            "{out}"
        );
    }

    #[test]
    fn header_insert_and_remove() {
        let r = req("X-Secret: 1\r\nX-Via: old\r\n");
        let rules = HeaderRules {
            insert: vec![("X-Via".into(), "perlbal".into())],
            remove: vec!["x-secret".into()],
            ..HeaderRules::default()
        };
        let out = sent(&rules, &r, "10.0.0.1");
        assert!(
            !out.contains("X-Secret") && out.contains("X-Via: perlbal\r\n") && !out.contains("old"),
            "{out}"
        );
    }

    #[test]
    fn the_direct_writer_sends_what_the_general_one_does() {
        let reqs = [
            req(""),
            req("X-Forwarded-For: 6.6.6.6\r\nx-host: evil\r\nKeep-Alive: 300\r\nAccept: */*\r\n"),
            req("connection: close\r\nX-Forwarded-Host: e\r\nCookie: a=b\r\nX-FORWARDED-FOR: 1.1.1.1\r\n"),
        ];
        let trusted = HeaderRules {
            trusted: Netmask::parse_list("10.0.0.0/8").expect("valid"),
            ..HeaderRules::default()
        };
        let with_rules = HeaderRules {
            insert: vec![("X-Via".into(), "perlbal".into())],
            remove: vec!["cookie".into()],
            ..HeaderRules::default()
        };
        let blind = HeaderRules {
            blind_proxy: true,
            ..HeaderRules::default()
        };
        for rules in [&HeaderRules::default(), &trusted, &with_rules, &blind] {
            for r in &reqs {
                for peer in ["10.0.0.9", "192.0.2.1", "::1"] {
                    let peer: IpAddr = peer.parse().expect("ip");
                    for keep in [true, false] {
                        let mut out = b"prefix".to_vec();
                        rules.write_backend_head(r, peer, keep, &mut out);
                        let mut want = b"prefix".to_vec();
                        want.extend_from_slice(&rules.backend_head(r, peer, keep));
                        assert_eq!(
                            String::from_utf8_lossy(&out),
                            String::from_utf8_lossy(&want),
                            "{rules:?} {peer} {keep}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_priority_cookie() {
        assert!(high_priority(
            &req("Cookie: a=1; vip=gold-member\r\n"),
            "vip",
            "gold"
        ));
        assert!(!high_priority(
            &req("Cookie: vip=silver\r\n"),
            "vip",
            "gold"
        ));
        assert!(!high_priority(&req("Cookie: xvip=gold\r\n"), "vip", "gold"));
        assert!(!high_priority(&req(""), "vip", "gold"));
    }
}
