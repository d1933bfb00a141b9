//! Where everything listens: each daemon's usual port (the originals'
//! defaults where they have one) plus `--base-port`, always on 127.0.0.1.
//!
//! | what                         | port  |
//! |------------------------------|-------|
//! | memcached                    | 11211 |
//! | gearmand                     | 4730  |
//! | mogilefsd (tracker)          | 7001  |
//! | mogstored1 HTTP, side channel| 7500, 7501 |
//! | mogstored2 HTTP, side channel| 7502, 7503 |
//! | perlbal `site` (reverse proxy to the demo app) | 8080 |
//! | perlbal `static` (web_server on DATA/www)      | 8081 |
//! | demo app (perlbal's backend) | 8090  |
//! | perlbal management console   | 60000 |
//! | dashboard (`danga up`'s own page) | 8088 |
//! | metrics: memcached, gearmand (the community exporters' ports) | 9150, 9418 |
//! | metrics: mogilefsd, mogstored1, mogstored2, perlbal | 9410, 9411, 9412, 9413 |

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use anyhow::Context;

/// One storage node's addresses and its device.
#[derive(Debug, Clone, Copy)]
pub struct Store {
    /// Host name registered with the tracker (and the docroot's folder).
    pub name: &'static str,
    /// The device id (`devN` under the docroot).
    pub devid: u32,
    /// HTTP (GET/PUT/DELETE of files).
    pub http: SocketAddr,
    /// The side channel (usage, checksums, `watch`).
    pub side: SocketAddr,
}

/// Every address of the stack.
#[derive(Debug, Clone)]
pub struct Ports {
    pub memcached: SocketAddr,
    pub gearmand: SocketAddr,
    pub tracker: SocketAddr,
    pub stores: [Store; 2],
    pub demo: SocketAddr,
    pub site: SocketAddr,
    pub web: SocketAddr,
    pub mgmt: SocketAddr,
    /// `danga up`'s dashboard page.
    pub dashboard: SocketAddr,
    /// Each daemon's `--metrics-listen`, by the name in the table.
    pub metrics: Vec<(&'static str, SocketAddr)>,
}

impl Ports {
    /// The default ports moved by `base`; an error if one passes 65535.
    pub fn new(base: u16) -> anyhow::Result<Ports> {
        let at = |p: u16| -> anyhow::Result<SocketAddr> {
            let port = p.checked_add(base).with_context(|| {
                format!("--base-port {base} moves port {p} past 65535 (the largest base is 5535)")
            })?;
            Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        };
        Ok(Ports {
            memcached: at(11211)?,
            gearmand: at(4730)?,
            tracker: at(7001)?,
            stores: [
                Store {
                    name: "mogstored1",
                    devid: 1,
                    http: at(7500)?,
                    side: at(7501)?,
                },
                Store {
                    name: "mogstored2",
                    devid: 2,
                    http: at(7502)?,
                    side: at(7503)?,
                },
            ],
            demo: at(8090)?,
            site: at(8080)?,
            web: at(8081)?,
            mgmt: at(60000)?,
            dashboard: at(8088)?,
            metrics: vec![
                ("memcached", at(9150)?),
                ("gearmand", at(9418)?),
                ("mogilefsd", at(9410)?),
                ("mogstored1", at(9411)?),
                ("mogstored2", at(9412)?),
                ("perlbal", at(9413)?),
            ],
        })
    }

    /// The metrics address of `name`.
    pub fn metrics_of(&self, name: &str) -> SocketAddr {
        self.metrics
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .unwrap_or(self.dashboard)
    }

    /// Every address with what uses it.
    pub fn all(&self) -> Vec<(String, SocketAddr)> {
        let mut v = vec![
            ("memcached".to_owned(), self.memcached),
            ("gearmand".to_owned(), self.gearmand),
            ("mogilefsd".to_owned(), self.tracker),
        ];
        for s in &self.stores {
            v.push((format!("{} HTTP", s.name), s.http));
            v.push((format!("{} side channel", s.name), s.side));
        }
        v.extend([
            ("perlbal site".to_owned(), self.site),
            ("perlbal static".to_owned(), self.web),
            ("demo app".to_owned(), self.demo),
            ("perlbal management".to_owned(), self.mgmt),
            ("dashboard".to_owned(), self.dashboard),
        ]);
        v.extend(
            self.metrics
                .iter()
                .map(|(n, a)| (format!("{n} metrics"), *a)),
        );
        v
    }

    /// Fails, naming the first one, if any address is taken (by a stack
    /// already running, or the real daemons on their standard ports).
    pub fn check_free(&self) -> anyhow::Result<()> {
        for (what, addr) in self.all() {
            if let Err(e) = TcpListener::bind(addr) {
                anyhow::bail!(
                    "{addr} ({what}) is not free: {e}; is a stack already running? \
                     --base-port N moves every port by N"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_moves_every_port_and_overflow_is_an_error() {
        let p = Ports::new(1000).expect("ports");
        assert_eq!(p.memcached.port(), 12211);
        assert_eq!(p.mgmt.port(), 61000);
        assert_eq!(p.stores[1].side.port(), 8503);
        let all = p.all();
        let mut ports: Vec<u16> = all.iter().map(|(_, a)| a.port()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), all.len(), "no port used twice");
        assert!(Ports::new(5535).is_ok());
        let e = Ports::new(5536).expect_err("60000 + 5536 > 65535");
        assert!(e.to_string().contains("past 65535"), "{e}");
    }
}
