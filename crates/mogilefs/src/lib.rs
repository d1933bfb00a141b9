//! danga-mogilefs: MogileFS for the Danga stack.
//!
//! * [`storage`] (feature `server`): `mogstored`, the storage node. An HTTP
//!   file server over a docroot of `devN` folders (GET/HEAD with Range,
//!   PUT, DELETE), the `/devN/usage` files the tracker's monitor reads, and
//!   the side channel (`size`, `MD5`/`SHA-1`, `watch`).
//!
//! The tracker (`mogilefsd`) and its metadata store arrive later.

#[cfg(feature = "server")]
pub mod storage;
