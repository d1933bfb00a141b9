//! The connection table behind `stats conns`: every listener and client
//! connection by file descriptor, with the original's address text
//! (`tcp:127.0.0.1:5000`, `tcp6:[::1]:5000`, `unix:/path`), state name
//! and the time of its last command.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::store::RelTime;

/// The original's connection states (`state_text`), those this server
/// passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnState {
    /// A listening socket.
    Listening = 0,
    /// Between commands, nothing buffered.
    Waiting = 1,
    /// Part of a command line read.
    Read = 2,
    /// Running commands.
    ParseCmd = 3,
    /// Waiting for the rest of a value.
    NRead = 4,
    /// Discarding an over-long value.
    Swallow = 5,
    /// Writing replies.
    MWrite = 6,
    /// Streaming log lines (`watch`).
    Watch = 7,
}

impl ConnState {
    fn name(v: u8) -> &'static str {
        match v {
            0 => "conn_listening",
            1 => "conn_waiting",
            2 => "conn_read",
            3 => "conn_parse_cmd",
            4 => "conn_nread",
            5 => "conn_swallow",
            6 => "conn_mwrite",
            _ => "conn_watch",
        }
    }
}

/// One row of the table.
#[derive(Debug)]
pub struct ConnEntry {
    udp: bool,
    addr: String,
    listen_addr: Option<String>,
    state: AtomicU8,
    last_cmd: AtomicU32,
}

impl ConnEntry {
    /// Sets the state shown.
    pub fn set_state(&self, s: ConnState) {
        self.state.store(s as u8, Relaxed);
    }

    /// Notes a command at `now`.
    pub fn touch(&self, now: RelTime) {
        self.last_cmd.store(now, Relaxed);
    }
}

/// The table, by descriptor.
#[derive(Debug, Default)]
pub struct ConnTable {
    rows: Mutex<BTreeMap<i32, Arc<ConnEntry>>>,
}

/// Removes its row when dropped.
#[derive(Debug)]
pub struct ConnGuard<'a> {
    table: &'a ConnTable,
    fd: i32,
    /// The row, for state and time updates.
    pub entry: Arc<ConnEntry>,
}

impl ConnGuard<'_> {
    /// The descriptor.
    pub fn fd(&self) -> i32 {
        self.fd
    }
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        let mut rows = self.table.rows.lock().unwrap_or_else(|p| p.into_inner());
        if rows
            .get(&self.fd)
            .is_some_and(|e| Arc::ptr_eq(e, &self.entry))
        {
            rows.remove(&self.fd);
        }
    }
}

/// A socket address as the original prints it (`tcp:1.2.3.4:5`,
/// `tcp6:[::1]:5`; `proto` is `tcp` or `udp`).
pub fn addr_text(proto: &str, a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("{proto}:{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("{proto}6:[{}]:{}", v6.ip(), v6.port()),
    }
}

impl ConnTable {
    fn insert(
        &self,
        fd: i32,
        addr: String,
        listen_addr: Option<String>,
        state: ConnState,
        now: RelTime,
    ) -> Arc<ConnEntry> {
        let entry = Arc::new(ConnEntry {
            udp: false,
            addr,
            listen_addr,
            state: AtomicU8::new(state as u8),
            last_cmd: AtomicU32::new(now),
        });
        self.rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fd, Arc::clone(&entry));
        entry
    }

    /// Adds a listening socket (kept for the life of the process).
    pub fn add_listener(&self, fd: i32, addr: String, now: RelTime) {
        self.insert(fd, addr, None, ConnState::Listening, now);
    }

    /// Adds a UDP socket (shown as the original shows its UDP "connection":
    /// a `UDP` line, its local address, state `conn_read`).
    pub fn add_udp(&self, fd: i32, addr: String, now: RelTime) {
        let entry = Arc::new(ConnEntry {
            udp: true,
            addr,
            listen_addr: None,
            state: AtomicU8::new(ConnState::Read as u8),
            last_cmd: AtomicU32::new(now),
        });
        self.rows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fd, entry);
    }

    /// Adds a client connection; its row goes when the guard is dropped.
    pub fn add_client(
        &self,
        fd: i32,
        addr: String,
        listen_addr: String,
        now: RelTime,
    ) -> ConnGuard<'_> {
        let entry = self.insert(fd, addr, Some(listen_addr), ConnState::ParseCmd, now);
        ConnGuard {
            table: self,
            fd,
            entry,
        }
    }

    /// `stats conns`: four (three for listeners) lines per row, by
    /// descriptor, without the closing `END`.
    pub fn render(&self, now: RelTime, out: &mut String) {
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        for (fd, e) in rows.iter() {
            if e.udp {
                let _ = write!(out, "STAT {fd}:UDP UDP\r\n");
            }
            let _ = write!(out, "STAT {fd}:addr {}\r\n", e.addr);
            if let Some(l) = &e.listen_addr {
                let _ = write!(out, "STAT {fd}:listen_addr {l}\r\n");
            }
            let _ = write!(
                out,
                "STAT {fd}:state {}\r\nSTAT {fd}:secs_since_last_cmd {}\r\n",
                ConnState::name(e.state.load(Relaxed)),
                now.saturating_sub(e.last_cmd.load(Relaxed))
            );
        }
    }
}
