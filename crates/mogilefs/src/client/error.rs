//! What can go wrong talking to trackers and storage nodes.

use std::io;
use std::time::Duration;

/// An error of the client library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tracker answered `ERR <code> <text>`. Displayed as the Perl
    /// client's `errstr`: `code text`.
    #[error("{code} {text}")]
    Tracker {
        /// The error code (`unknown_key`, `domain_exists`, ...).
        code: String,
        /// The decoded text.
        text: String,
    },
    /// No tracker address was given.
    #[error("no trackers given")]
    NoTrackers,
    /// Every tracker refused the connection or timed out.
    #[error("couldn't connect to any tracker: {0}")]
    Unreachable(String),
    /// A tracker connection broke or timed out during a request.
    #[error("tracker {tracker}: {reason}")]
    TrackerIo {
        /// `host:port` of the tracker.
        tracker: String,
        /// What happened.
        reason: String,
    },
    /// A tracker sent a reply line that is neither `OK` nor `ERR`.
    #[error("tracker {tracker}: unexpected reply {line:?}")]
    Protocol {
        /// `host:port` of the tracker.
        tracker: String,
        /// The start of the line.
        line: String,
    },
    /// A storage node failed an HTTP request.
    #[error("{url}: {reason}")]
    Http {
        /// The URL asked.
        url: String,
        /// Status line or transport error.
        reason: String,
    },
    /// No storage node holds a readable copy (or the tracker gave no paths).
    #[error("no paths found or key does not exist")]
    NoPaths,
    /// Storage transfers stalled longer than the idle timeout.
    #[error("{url}: no progress for {idle:?}")]
    Stalled {
        /// The URL asked.
        url: String,
        /// The idle timeout.
        idle: Duration,
    },
    /// Every copy (fetch) or destination (store) was tried and failed; each
    /// attempt's error in order.
    #[error("every {} failed: {}", what, join(.errors))]
    AllFailed {
        /// `copy` or `destination`.
        what: &'static str,
        /// One error per attempt.
        errors: Vec<Error>,
    },
    /// A local file or stream failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Error {
    /// The tracker's error code, if this is an `ERR` reply.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Tracker { code, .. } => Some(code),
            _ => None,
        }
    }
}

fn join(errors: &[Error]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
