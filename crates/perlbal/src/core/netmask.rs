//! IPv4 netmasks (`10.0.0.0/8`, or a bare address for `/32`), as
//! `trusted_upstream_proxies` and Net::Netmask take them.

use std::net::{IpAddr, Ipv4Addr};

/// One netmask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Netmask {
    base: u32,
    mask: u32,
}

impl Netmask {
    /// Parses `a.b.c.d[/bits]`.
    pub fn parse(s: &str) -> Option<Netmask> {
        let (ip, bits) = match s.split_once('/') {
            Some((ip, bits)) => (ip, bits.parse::<u32>().ok().filter(|b| *b <= 32)?),
            None => (s, 32),
        };
        let ip: Ipv4Addr = ip.parse().ok()?;
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        Some(Netmask {
            base: u32::from(ip) & mask,
            mask,
        })
    }

    /// Parses as Net::Netmask's `new2` does for the forms perlbal configs
    /// use: `a.b.c.d`, `a.b.c.d/bits`, `a.b.c.d/m.m.m.m` (a contiguous mask).
    pub fn parse_net(s: &str) -> Option<Netmask> {
        if let Some((ip, mask)) = s.split_once('/') {
            if let Ok(m) = mask.parse::<Ipv4Addr>() {
                let m = u32::from(m);
                if m.leading_ones() + m.trailing_zeros() != 32 {
                    return None;
                }
                return Netmask::parse(&format!("{ip}/{}", m.leading_ones()));
            }
        }
        Netmask::parse(s)
    }

    /// Parses a comma/space separated list, skipping nothing: any bad entry
    /// makes the whole list `None`.
    pub fn parse_list(s: &str) -> Option<Vec<Netmask>> {
        s.split([',', ' '])
            .filter(|p| !p.is_empty())
            .map(Netmask::parse)
            .collect()
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => u32::from(v4) & self.mask == self.base,
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .is_some_and(|v4| u32::from(v4) & self.mask == self.base),
        }
    }
}

/// `base/bits`, as Net::Netmask prints itself.
impl std::fmt::Display for Netmask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}",
            Ipv4Addr::from(self.base),
            self.mask.count_ones()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        let m = Netmask::parse("10.1.0.0/16").expect("valid");
        assert!(m.contains("10.1.2.3".parse().expect("ip")));
        assert!(!m.contains("10.2.0.1".parse().expect("ip")));
        assert!(Netmask::parse("127.0.0.1")
            .expect("valid")
            .contains("127.0.0.1".parse().expect("ip")));
        assert!(Netmask::parse("0.0.0.0/0")
            .expect("valid")
            .contains("8.8.8.8".parse().expect("ip")));
        assert_eq!(Netmask::parse("10.0.0.0/33"), None);
        assert_eq!(
            Netmask::parse_list("10.0.0.0/8, 192.168.0.0/16").map(|l| l.len()),
            Some(2)
        );
        assert_eq!(Netmask::parse_list("10.0.0.0/8, nope"), None);
        let shown = |s: &str| Netmask::parse_net(s).map(|m| m.to_string());
        assert_eq!(shown("1.2.3.4/8").as_deref(), Some("1.0.0.0/8"));
        assert_eq!(shown("10.0.0.0/255.0.0.0").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(shown("10.0.0.0").as_deref(), Some("10.0.0.0/32"));
        assert_eq!(shown("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(shown("10.0.0.0/255.0.255.0"), None);
        assert_eq!(shown("10/8"), None);
    }
}
