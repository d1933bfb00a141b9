//! danga-mogilefs: MogileFS for the Danga stack.
//!
//! * [`storage`] (feature `server`): `mogstored`, the storage node. An HTTP
//!   file server over a docroot of `devN` folders (GET/HEAD with Range,
//!   PUT, DELETE), the `/devN/usage` files the tracker's monitor reads, and
//!   the side channel (`size`, `MD5`/`SHA-1`, `watch`).
//! * [`proto`]: the tracker's line protocol (pure).
//! * [`meta`] (feature `tracker`): the metadata store (schema v17): SQLite
//!   through rusqlite, MySQL / MariaDB through sqlx.
//! * [`tracker`] (feature `tracker`): `mogilefsd`'s query commands,
//!   the connection loop and the delete worker.
//! * [`client`] (feature `client`): the client library (MogileFS::Client
//!   and MogileFS::Admin): several trackers with failover, streamed store
//!   and fetch over HTTP, the admin calls `mogadm` makes.

#[cfg(feature = "server")]
pub mod storage;

pub mod proto;

#[cfg(feature = "tracker")]
pub mod meta;
#[cfg(feature = "tracker")]
pub mod tracker;

#[cfg(feature = "client")]
pub mod client;

#[cfg(any(feature = "client", feature = "tracker"))]
mod nodehttp;
