//! danga-nagios: what the four Nagios plugins of the Danga stack share, and
//! the checks themselves.
//!
//! The plugins follow the Monitoring Plugins development guidelines:
//!
//! * one line on stdout, `SERVICE STATUS - text | perfdata`, where every
//!   perfdata item is `'label'=value[UOM];warn;crit;min;max` ([`Perf`]);
//! * exit codes 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN ([`Status`]);
//! * thresholds in the range syntax `[@]start:end` ([`Range`]);
//! * `-H host -p port -w warn -c crit -t timeout[:STATE] -v`, `-V` and
//!   `-h` ([`cli::Common`]); bad arguments, `-h` and `-V` exit 3;
//! * a hard time limit: the check stops after `-t` seconds whatever it was
//!   doing (a watchdog covers even a hung name lookup), and a time-out is
//!   CRITICAL unless `-t N:STATE` says otherwise: the guidelines reserve
//!   UNKNOWN for the plugin's own failures, not for a server that does not
//!   answer.
//!
//! The network side is plain blocking `std::net` with deadlines ([`net`]):
//! a plugin makes a handful of round trips and exits, so a runtime would
//! only add start-up time. Each daemon's check lives in [`plugins`], split
//! into the round trips and a pure function from parsed replies to a
//! [`Report`], which unit tests drive without sockets.
//!
//! This crate owns no daemon code and must not depend on the daemons'
//! server features: it speaks their admin protocols from the outside, as
//! Nagios would against the originals.

// The plugins are short-lived blocking programs without a tokio runtime:
// deadlines come from std's clock.
#![allow(clippy::disallowed_types)]

pub mod cli;
pub mod net;
pub mod perfdata;
pub mod plugins;
pub mod range;
pub mod report;
pub mod run;

pub use cli::{Common, Timeout};
pub use net::{CheckError, LineConn, Target};
pub use perfdata::{Perf, Value};
pub use range::Range;
pub use report::{classify, Report, Status};
pub use run::{run, Plugin};
