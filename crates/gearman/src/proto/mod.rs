//! The Gearman wire protocols, pure (bytes in, values out; no tokio, no
//! sockets): the binary packets of gearmand 1.1's `PROTOCOL` and the text
//! admin lines that share its port.
//!
//! * [`frame`]: where a packet or an admin line ends; bad magic, oversized
//!   declared lengths and over-long lines are errors, found without
//!   allocating what a header declares;
//! * [`Request`] / [`Response`]: one variant per packet type; arguments
//!   are checked strictly inside the packet (never a read past it) and
//!   share the packet's memory;
//! * [`Admin`]: the admin commands and their fixed error replies.
//!
//! Every function here is total: any byte sequence gives a value or an
//! error, never a panic (`proptests.rs`).

mod admin;
mod args;
mod command;
pub mod frame;
#[cfg(test)]
mod packet_tests;
#[cfg(test)]
mod proptests;
mod request;
mod response;
pub mod sched;

pub use admin::{Admin, DeadLetterCmd};
pub(crate) use args::shared_concat;
pub use args::{put_packet, split_args, Args, MAX_ARGS};
pub use command::Command;
pub use frame::{parse_frame, Frame, FrameError, Limits, Magic, HEADER_LEN};
pub use request::{
    parse_i64_lenient, Grab, Priority, Request, RequestError, SubmitJob, MAX_UNIQUE,
};
pub use response::Response;
pub use sched::Sched;
