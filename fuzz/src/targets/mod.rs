//! The targets, one function each, named after their daemon. Each checks
//! what the daemon's parser promises, on any bytes:
//!
//! * it never panics and never loops;
//! * what it consumes lies within the buffer, and is never nothing;
//! * the result does not depend on how the input was split into reads
//!   ([`crate::split::pieces`]);
//! * it never asks for more input while holding more than its stated
//!   budget (the protocol's limits): past that it must refuse;
//! * what it decodes encodes back to the same thing, where the crate has
//!   an encoder.
//!
//! The `*_conn` targets run a daemon's whole connection loop instead
//! ([`crate::conn`]), within a heap budget stated beside each.

mod gearman;
mod loops;
mod memcached;
mod mogilefs;
mod perlbal;

pub use gearman::gearman_packet;
pub use loops::{
    gearmand_conn, memcached_budget, memcached_budget_for, memcached_conn, memcached_conn_with,
    mogstored_conn, mogstored_side_conn, perlbal_web_conn,
};
pub use memcached::{memcached_binary, memcached_text};
pub use mogilefs::{dbi_dsn, mogstored_head, tracker_line};
pub use perlbal::{perlbal_command, perlbal_http_head};
