//! Netmasks, IPv4 and IPv6: `10.0.0.0/8`, `2001:db8::/32`, a bare address
//! for one host, and the dotted-mask form `10.0.0.0/255.0.0.0`, for every
//! daemon's access lists, trusted proxies and network zones.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// One netmask: a network address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Netmask(IpNet);

impl Netmask {
    /// Parses `addr[/bits]` (IPv4 or IPv6; without `/bits`, the one host).
    /// The host bits of `addr` are dropped: `1.2.3.4/8` is `1.0.0.0/8`.
    pub fn parse(s: &str) -> Option<Netmask> {
        let (ip, bits) = match s.split_once('/') {
            Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, Some(bits.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let bits = bits.unwrap_or(match ip {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        });
        IpNet::new(ip, bits).ok().map(|n| Netmask(n.trunc()))
    }

    /// As [`Netmask::parse`], and also `a.b.c.d/m.m.m.m` with a contiguous
    /// dotted mask (Net::Netmask's forms).
    pub fn parse_net(s: &str) -> Option<Netmask> {
        if let Some((ip, mask)) = s.split_once('/') {
            if let Ok(m) = mask.parse::<Ipv4Addr>() {
                let ip = ip.parse::<Ipv4Addr>().ok()?;
                let bits = ipnet::ipv4_mask_to_prefix(m).ok()?;
                return IpNet::new(IpAddr::V4(ip), bits)
                    .ok()
                    .map(|n| Netmask(n.trunc()));
            }
        }
        Netmask::parse(s)
    }

    /// Parses a comma/space separated list; any bad entry makes the whole
    /// list `None`.
    pub fn parse_list(s: &str) -> Option<Vec<Netmask>> {
        s.split([',', ' '])
            .filter(|p| !p.is_empty())
            .map(Netmask::parse)
            .collect()
    }

    /// Whether `ip` is inside. An IPv4 address and its IPv4-mapped IPv6
    /// form (`::ffff:a.b.c.d`, as a dual-stack listener reports it) match
    /// the same masks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (&self.0, ip) {
            (IpNet::V4(n), IpAddr::V4(a)) => n.contains(&a),
            (IpNet::V4(n), IpAddr::V6(a)) => a.to_ipv4_mapped().is_some_and(|a| n.contains(&a)),
            (IpNet::V6(n), IpAddr::V6(a)) => n.contains(&a),
            (IpNet::V6(n), IpAddr::V4(a)) => n.contains(&a.to_ipv6_mapped()),
        }
    }

    /// The network.
    pub fn net(&self) -> IpNet {
        self.0
    }
}

/// `base/bits`.
impl std::fmt::Display for Netmask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.0.network(), self.0.prefix_len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn ipv4() {
        let m = Netmask::parse("10.1.0.0/16").expect("valid");
        assert!(m.contains(ip("10.1.2.3")));
        assert!(!m.contains(ip("10.2.0.1")));
        assert!(m.contains(ip("::ffff:10.1.9.9")), "v4-mapped");
        assert!(Netmask::parse("127.0.0.1")
            .expect("valid")
            .contains(ip("127.0.0.1")));
        assert!(!m.contains(ip("::1")));
        assert!(Netmask::parse("0.0.0.0/0")
            .expect("valid")
            .contains(ip("8.8.8.8")));
        assert_eq!(Netmask::parse("10.0.0.0/33"), None);
        assert_eq!(Netmask::parse("10/8"), None);
        assert_eq!(Netmask::parse("10.0.0.0/x"), None);
        assert_eq!(Netmask::parse(""), None);
    }

    #[test]
    fn ipv6() {
        let m = Netmask::parse("2001:db8::/32").expect("valid");
        assert!(m.contains(ip("2001:db8:1::5")));
        assert!(!m.contains(ip("2001:db9::1")));
        assert!(!m.contains(ip("10.0.0.1")));
        let host = Netmask::parse("::1").expect("one host");
        assert!(host.contains(ip("::1")));
        assert!(!host.contains(ip("::2")));
        assert_eq!(host.to_string(), "::1/128");
        assert_eq!(
            Netmask::parse("fe80::1234/10")
                .map(|m| m.to_string())
                .as_deref(),
            Some("fe80::/10")
        );
        assert!(Netmask::parse("::/0").expect("all").contains(ip("2a00::1")));
        assert!(Netmask::parse("::ffff:0:0/96")
            .expect("mapped")
            .contains(ip("192.0.2.1")));
        assert_eq!(Netmask::parse("::/129"), None);
        assert_eq!(Netmask::parse("[::1]/128"), None);
    }

    #[test]
    fn forms_and_lists() {
        let shown = |s: &str| Netmask::parse_net(s).map(|m| m.to_string());
        assert_eq!(shown("1.2.3.4/8").as_deref(), Some("1.0.0.0/8"));
        assert_eq!(shown("10.0.0.0/255.0.0.0").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(shown("10.0.0.0").as_deref(), Some("10.0.0.0/32"));
        assert_eq!(shown("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(shown("10.0.0.0/255.0.255.0"), None);
        assert_eq!(shown("10/8"), None);
        assert_eq!(shown("2001:db8::/255.0.0.0"), None);
        assert_eq!(shown("2001:db8::5/64").as_deref(), Some("2001:db8::/64"));
        assert_eq!(
            Netmask::parse_list("10.0.0.0/8, 192.168.0.0/16").map(|l| l.len()),
            Some(2)
        );
        assert_eq!(
            Netmask::parse_list("10.0.0.0/8, 192.168.0.0/16,::1").map(|l| l.len()),
            Some(3)
        );
        assert_eq!(Netmask::parse_list("10.0.0.0/8, nope"), None);
        assert_eq!(Netmask::parse_list(""), Some(vec![]));
    }
}
