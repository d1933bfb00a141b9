//! gearmand through the network: packet rows against Debian's gearmand
//! 1.1.20, the gearman/gearadmin CLI, Perl and Python clients, bad input,
//! and durable background jobs.

mod cli;
mod client;
mod client_api;
mod clients;
mod conformance;
mod durable;
mod issue19;
mod robustness;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use danga_gearman::proto::{Command, HEADER_LEN};
use danga_testkit::{have_command, require, wait_for, Daemon, Spawn};

/// A running job server and its address.
pub struct Gd {
    pub daemon: Daemon,
    pub addr: SocketAddr,
}

/// Our gearmand on an ephemeral loopback port.
pub fn ours(extra: &[&str]) -> Gd {
    let mut args = vec!["-p", "0", "-L", "127.0.0.1"];
    args.extend_from_slice(extra);
    let daemon = Daemon::start("gearmand", &args);
    let addr = daemon.addr("gearmand");
    Gd { daemon, addr }
}

/// Debian's gearmand.
pub const ORIGINAL: &str = "/usr/sbin/gearmand";

/// Debian's gearmand 1.1.20 on an ephemeral port (`None` outside CI when
/// it is not installed). It has no ready file: its port is found in
/// /proc once it listens.
pub fn original(extra: &[&str]) -> Option<Gd> {
    if !require(
        "Debian's gearmand (gearman-job-server)",
        have_command(ORIGINAL),
    ) {
        return None;
    }
    let mut args = vec!["-p", "0", "-L", "127.0.0.1", "-l", "none"];
    args.extend_from_slice(extra);
    let daemon = Spawn::external(ORIGINAL).args(&args).start();
    let pid = daemon.pid();
    let mut port = None;
    wait_for(Duration::from_secs(10), || {
        port = listening_port(pid);
        port.is_some()
    });
    let port = port.unwrap_or_else(|| panic!("{ORIGINAL} never listened:\n{}", daemon.stderr()));
    Some(Gd {
        daemon,
        addr: ([127, 0, 0, 1], port).into(),
    })
}

/// The port of a listening IPv4 TCP socket that process `pid` holds.
fn listening_port(pid: u32) -> Option<u16> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let inodes: Vec<String> = fds
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).ok()?;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // local_address st ... inode; 0A = LISTEN.
        let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
        if *state != "0A" || !inodes.iter().any(|i| i == inode) {
            return None;
        }
        u16::from_str_radix(local.split(':').nth(1)?, 16).ok()
    })
}

/// Both servers, ours first, for rows that must hold on each.
pub fn both() -> Vec<(&'static str, Gd)> {
    let mut v = vec![("danga", ours(&[]))];
    if let Some(o) = original(&[]) {
        v.push(("gearmand 1.1.20", o));
    }
    v
}

/// A raw protocol connection with timeouts.
pub struct Wire {
    s: TcpStream,
    buf: Vec<u8>,
}

/// A packet as received: type and raw data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkt {
    pub kind: u32,
    pub data: Vec<u8>,
}

impl Pkt {
    /// The data split into the type's arguments.
    pub fn args(&self) -> Vec<Vec<u8>> {
        let n = Command::from_u32(self.kind).map_or(1, Command::arg_count);
        if n == 0 {
            return Vec::new();
        }
        let mut out: Vec<Vec<u8>> = self
            .data
            .splitn(n, |&b| b == 0)
            .map(<[u8]>::to_vec)
            .collect();
        out.resize(n, Vec::new());
        out
    }

    /// The arguments as text (lossy), for readable asserts.
    pub fn text(&self) -> Vec<String> {
        self.args()
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }
}

/// Encodes a request packet.
pub fn req(cmd: Command, args: &[&str]) -> Vec<u8> {
    let data = args.join("\0");
    let len = u32::try_from(data.len()).expect("small packet");
    let mut out = b"\0REQ".to_vec();
    out.extend_from_slice(&cmd.code().to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data.as_bytes());
    out
}

impl Wire {
    pub fn connect(addr: SocketAddr) -> Wire {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.set_nodelay(true).expect("nodelay");
        Wire { s, buf: Vec::new() }
    }

    pub fn raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    /// Writes `bytes`; an error when the server is gone.
    pub fn try_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.s.write_all(bytes)
    }

    pub fn send(&mut self, cmd: Command, args: &[&str]) {
        self.raw(&req(cmd, args));
    }

    /// The next packet; `None` when the server closed the connection.
    pub fn recv(&mut self) -> Option<Pkt> {
        loop {
            if self.buf.len() >= HEADER_LEN {
                let len =
                    u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]]);
                let total = HEADER_LEN + len as usize;
                if self.buf.len() >= total {
                    assert_eq!(&self.buf[..4], b"\0RES", "response magic");
                    let kind =
                        u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]);
                    let data = self.buf[HEADER_LEN..total].to_vec();
                    self.buf.drain(..total);
                    return Some(Pkt { kind, data });
                }
            }
            let mut chunk = [0u8; 65536];
            match self.s.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading a packet (have {:?}): {e}", self.buf),
            }
        }
    }

    /// The next packet, which must be of type `cmd`; returns its arguments.
    pub fn expect(&mut self, cmd: Command) -> Vec<String> {
        let p = self
            .recv()
            .unwrap_or_else(|| panic!("closed while waiting for {}", cmd.name()));
        assert_eq!(
            p.kind,
            cmd.code(),
            "wanted {}, got {:?} {:?}",
            cmd.name(),
            Command::from_u32(p.kind).map(Command::name),
            p.text()
        );
        p.text()
    }

    /// Nothing arrives within `ms` milliseconds.
    pub fn silent(&mut self, ms: u64) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        self.s
            .set_read_timeout(Some(Duration::from_millis(ms)))
            .expect("timeout");
        let mut one = [0u8; 1];
        let quiet = match self.s.read(&mut one) {
            Ok(0) => true,
            Ok(_) => {
                self.buf.push(one[0]);
                false
            }
            Err(_) => true,
        };
        self.s
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        quiet
    }

    /// An admin command and its reply (listings end with `.\n`).
    pub fn admin(&mut self, line: &str, listing: bool) -> String {
        self.raw(line.as_bytes());
        let done = |b: &[u8]| {
            if listing {
                b == b".\n" || b.ends_with(b"\n.\n")
            } else {
                b.ends_with(b"\n")
            }
        };
        let mut chunk = [0u8; 4096];
        while !done(&self.buf) {
            let n = self.s.read(&mut chunk).expect("admin reply");
            assert!(n > 0, "closed during admin reply");
            self.buf.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned()
    }
}

/// gearmand's `-q MySQL` options for a test database
/// (`mysql://user[:pass]@host:port/name`).
pub(crate) fn mysql_queue_args(db: &danga_testkit::TestDb) -> Vec<String> {
    let url = db.url().trim_start_matches("mysql://");
    let (auth, rest) = url.rsplit_once('@').expect("url with @");
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let hostport = rest.split('/').next().expect("host");
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "3306"));
    let mut args = vec![
        "-q",
        "MySQL",
        "--mysql-host",
        host,
        "--mysql-port",
        port,
        "--mysql-user",
        user,
        "--mysql-db",
        db.name(),
    ];
    if !password.is_empty() {
        args.extend_from_slice(&["--mysql-password", password]);
    }
    args.into_iter().map(str::to_owned).collect()
}
