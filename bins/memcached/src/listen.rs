//! memcached's listeners from `-p`, `-s`, `-a`, `-l` and `-U`: `-l`
//! takes `[notls:]ADDR[:PORT]` as 1.6 does (brackets around an IPv6
//! address with a port).

use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use danga_common::ListenSpec;

use crate::cli;

/// The ready-file name of TLS listeners' plain siblings (`-l notls:`).
pub const NOTLS_NAME: &str = "memcached-notls";

pub fn listen_specs(cli: &cli::Cli) -> anyhow::Result<Vec<ListenSpec>> {
    if let Some(path) = &cli.unix_socket {
        let mode = u32::from_str_radix(&cli.unix_mask, 8).context("invalid -a unix mask")?;
        return Ok(vec![ListenSpec::unix("memcached", path, mode)]);
    }
    let port = match cli.port {
        0 => return Ok(Vec::new()),
        -1 => 0,
        p => u16::try_from(p).context("invalid -p port")?,
    };
    Ok(listen_addrs(cli)?
        .into_iter()
        .map(|l| {
            let name = if cli.enable_ssl && l.notls {
                NOTLS_NAME
            } else {
                "memcached"
            };
            ListenSpec::tcp(name, SocketAddr::new(l.ip, l.port.unwrap_or(port)))
        })
        .collect())
}

/// One `-l` entry: `[notls:]ADDR[:PORT]`, the address maybe in brackets.
struct ListenAddr {
    ip: IpAddr,
    port: Option<u16>,
    notls: bool,
}

/// The `-l` entries (every IPv4 interface when none is given).
fn listen_addrs(cli: &cli::Cli) -> anyhow::Result<Vec<ListenAddr>> {
    if cli.listen.is_empty() {
        return Ok(vec![ListenAddr {
            ip: IpAddr::from([0, 0, 0, 0]),
            port: None,
            notls: false,
        }]);
    }
    cli.listen
        .iter()
        .map(|h| parse_listen(h, cli.enable_ssl))
        .collect()
}

fn parse_listen(entry: &str, ssl: bool) -> anyhow::Result<ListenAddr> {
    let (notls, h) = match entry.strip_prefix("notls:") {
        Some(rest) if !ssl => {
            anyhow::bail!("'notls' option is valid only when SSL is enabled (-l {rest})")
        }
        Some(rest) => (true, rest),
        None => (false, entry),
    };
    let bad = || format!("invalid -l address {h}");
    // `[v6]:port`, `v4:port`, or a bare address (an IPv6 one has colons).
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        let (host, after) = rest.split_once(']').with_context(bad)?;
        (host, after.strip_prefix(':'))
    } else if h.matches(':').count() == 1 {
        let (host, port) = h.split_once(':').with_context(bad)?;
        (host, Some(port))
    } else {
        (h, None)
    };
    let port = port
        .map(|p| p.parse::<u16>().with_context(bad))
        .transpose()?;
    Ok(ListenAddr {
        ip: host.parse().with_context(bad)?,
        port,
        notls,
    })
}

/// `-U`: one UDP socket per `-l` address, bound before start-up goes on.
pub fn udp_sockets(cli: &cli::Cli) -> anyhow::Result<Vec<std::net::UdpSocket>> {
    if cli.udp_port == 0 || cli.unix_socket.is_some() {
        return Ok(Vec::new());
    }
    let mut ips: Vec<IpAddr> = Vec::new();
    for l in listen_addrs(cli)? {
        if !ips.contains(&l.ip) {
            ips.push(l.ip);
        }
    }
    ips.into_iter()
        .map(|ip| {
            let addr = SocketAddr::new(ip, cli.udp_port);
            let s =
                std::net::UdpSocket::bind(addr).with_context(|| format!("binding UDP {addr}"))?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_entries_take_notls_and_ports() {
        let l = parse_listen("notls:127.0.0.1:2100", true).expect("notls");
        assert!(l.notls);
        assert_eq!(l.port, Some(2100));
        assert_eq!(l.ip, IpAddr::from([127, 0, 0, 1]));
        let l = parse_listen("[::1]:2101", true).expect("v6 port");
        assert_eq!((l.ip.is_ipv6(), l.port, l.notls), (true, Some(2101), false));
        let l = parse_listen("::1", false).expect("bare v6");
        assert_eq!((l.ip.is_ipv6(), l.port), (true, None));
        assert_eq!(parse_listen("10.0.0.1", false).expect("v4").port, None);
        assert!(parse_listen("notls:127.0.0.1", false).is_err());
        assert!(parse_listen("127.0.0.1:http", false).is_err());
    }
}
