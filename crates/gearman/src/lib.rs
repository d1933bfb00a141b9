//! danga-gearman: a drop-in gearmand (1.1.20 semantics).
//!
//! * [`proto`]: the binary packets and the admin text protocol; pure;
//! * [`queue`]: the job engine (functions, priorities, unique coalescing,
//!   workers, sleeping and waking, retries, admin listings); pure and
//!   synchronous, time passed in; it turns one request from one connection
//!   into the packets to send to which connections;
//! * `server` (feature `server`): the tokio glue on danga-common;
//! * `client` (feature `client`): the async client and worker library
//!   over several job servers (tokio; neither `server` nor `queue`);
//! * `tls` (feature `tls`, on with `server` and `client`): rustls
//!   configurations from PEM files, for `--ssl` and the client library;
//! * `persist` (feature `persist`): durable background jobs in SQLite or
//!   MySQL/MariaDB (sqlx).
//!
//! `proto` and `queue` use neither tokio nor sockets, and nothing here
//! depends on another system crate.

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "persist")]
pub mod persist;
pub mod proto;
pub mod queue;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "tls")]
pub mod tls;

/// The gearmand version this server answers `version` with.
pub const VERSION: &str = "1.1.20";
