//! danga-perlbal: Perlbal 1.80's reverse proxy (with internal redirects
//! and buffered uploads), web server and management console.
//!
//! * [`proto`]: the command language shared by `perlbal.conf` and the
//!   management port, the tunables table, HTTP/1 request and response
//!   heads, chunked bodies, ranges, dates, the MIME table, web paths and
//!   the reproxy headers; pure (bytes and strings in, values out), never
//!   panics.
//! * [`core`]: the configuration state machine (services, pools, defaults),
//!   node bookkeeping (dead and unverified nodes), the priority queues, the
//!   header rules and the reproxy cache; pure, with time passed in.
//! * [`server`]: the tokio glue: listeners, client and backend
//!   connections, the backend pairing, the web server (sendfile), internal
//!   redirects, upload spooling, and the console.
//!
//! `proto` and `core` use neither tokio nor sockets.

pub mod core;
pub mod proto;
pub mod server;

pub use crate::core::config::Config;
pub use crate::server::Server;
