//! danga-memcached: memcached 1.6's protocols and engine.
//!
//! * [`proto`]: parsing the text and meta protocols and encoding replies;
//!   pure (bytes in, values out), never panics, never buffers unboundedly.
//! * [`store`]: the slab allocator, the per-class LRU and the hash index;
//!   pure data structures with time passed in, no I/O.
//! * [`exec`]: the commands' semantics on top of the store (what `set`,
//!   `incr`, `mg` ... do), as the original defines them.
//! * `server` (feature `server`): the tokio glue on danga-common.
//!
//! `proto`, `store` and `exec` use neither tokio nor sockets.

pub mod exec;
pub mod proto;
#[cfg(feature = "server")]
pub mod server;
pub mod store;
