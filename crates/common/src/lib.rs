//! danga-common: the machinery every Danga daemon shares, so each daemon is
//! only its protocol and its engine.
//!
//! * [`listen`]: bind TCP (IPv4/IPv6) and unix listeners, the ready file;
//! * [`accept`]: the accept loop, the connection limit and its policies;
//! * [`shutdown`]: stop accepting, close idle connections, drain the rest;
//! * [`framing`]: bounded line and payload framing over `BytesMut`;
//! * [`lines`]: the one read-more/serve-lines loop ([`LineSession`]: max
//!   line, idle timeout, resumed scanning, batched replies);
//! * [`admin`]: the telnet-style line session on top of it;
//! * [`http`], [`metrics`]: the bounded HTTP server of the operator
//!   endpoints and the Prometheus `/metrics` on it;
//! * [`stats`]: named counters and gauges (each daemon renders them);
//! * [`clock`]: the wall clock in UNIX seconds;
//! * [`beneath`]: opening a path confined below a root (`openat2`);
//! * [`netmask`]: IPv4/IPv6 netmasks;
//! * [`process`], [`logging`], [`launch`]: pid files, daemonizing, dropping
//!   root, logs, and the start-up order that ties them together.
//!
//! This crate knows no daemon's protocol and must not depend on any of the
//! system crates.

#![warn(missing_docs)]

pub mod accept;
pub mod admin;
pub mod beneath;
pub mod cli;
pub mod clock;
pub mod framing;
pub mod http;
pub mod launch;
pub mod lines;
pub mod listen;
pub mod logging;
pub mod metrics;
pub mod netmask;
pub mod process;
pub mod shutdown;
pub mod stats;

pub use accept::{Acceptor, AtLimit, Conn, ConnStats};
pub use admin::{serve_lines, LineConfig, LineReply};
pub use launch::Launch;
pub use lines::{LineError, LineSession};
pub use listen::{ListenSpec, Listener, LocalAddr, PeerAddr, Stream};
pub use shutdown::Shutdown;
pub use stats::Registry;
