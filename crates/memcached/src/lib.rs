//! danga-memcached: memcached 1.6's protocols and engine.
//!
//! * [`proto`]: parsing the text and meta protocols and encoding replies;
//!   pure (bytes in, values out), never panics, never buffers unboundedly.
//! * [`store`]: the slab allocator, the per-class LRU and the hash index;
//!   pure data structures with time passed in, no I/O.
//! * [`exec`]: the commands' semantics on top of the store (what `set`,
//!   `incr`, `mg` ... do), as the original defines them.
//! * [`restart`]: the `-e` warm-restart files (save at a graceful stop,
//!   load at start) through the store's item-level interface.
//! * `server` (feature `server`): the tokio glue on danga-common.
//! * `client` (feature `client`): the client library with the original
//!   key-to-server mappings; without `server` it pulls in neither the
//!   store nor the daemon.
//!
//! `proto`, `store` and `exec` use neither tokio nor sockets; `proto` is
//! built without any feature (what a fuzzer or a load generator needs).

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "server")]
pub mod exec;
pub mod proto;
#[cfg(feature = "server")]
pub mod restart;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod store;
