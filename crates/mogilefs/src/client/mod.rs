//! The MogileFS client library (feature `client`): what the Perl modules
//! MogileFS::Client and MogileFS::Admin do, on tokio.
//!
//! * [`Trackers`]: several trackers with failover (a refused or timed-out
//!   connect moves to the next one; a failed tracker is skipped for a
//!   while), idle connections reused. Requests and replies are encoded and
//!   parsed by [`crate::proto`], the same code the tracker uses.
//! * [`Client`]: the files of one domain. `store` streams a reader to a
//!   storage node (create_open with `multi_dest`, HTTP PUT with a
//!   Content-Length, create_close with the size; the next destination on a
//!   failed PUT), `fetch` streams a copy into a writer trying each path in
//!   turn, and delete, rename, list_keys, file_info, update_class.
//! * [`Admin`]: hosts, devices, domains, classes, device states and server
//!   settings, as `mogadm` needs them.
//! * [`UtilsConf`]: the MogileFS-Utils configuration file.
//!
//! Storage nodes are spoken to over the crate's own HTTP/1.1 client. This
//! module uses no server code (`storage`, `tracker`, `meta`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), danga_mogilefs::client::Error> {
//! use danga_mogilefs::client::{Client, Options, Trackers};
//! let trackers = Trackers::new(["10.0.0.1:7001", "10.0.0.2:7001"], Options::default())?;
//! let client = Client::new(trackers, "photos");
//! client.store_file("cat.jpg", None, "/tmp/cat.jpg", None).await?;
//! client.fetch_file("cat.jpg", "/tmp/copy.jpg", None).await?;
//! # Ok(()) }
//! ```

mod admin;
mod conf;
mod error;
mod files;
mod http;
mod trackers;

use std::sync::Arc;

pub use admin::{Admin, Class, ClassFields, Device, Domain, Host, HostFields};
pub use conf::{parse_trackers, UtilsConf, DEFAULT_TRACKER_PORT};
pub use error::Error;
pub use files::{Client, FileInfo, KeyPage, StoreOptions, LIST_KEYS_MAX};
pub use trackers::{Options, Trackers};

/// Hears how many bytes of the current transfer have moved so far.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// Fetches a small document from a storage node (`/devN/usage`, `/`):
/// the HTTP status and at most `max` bytes of body, all within `timeout`.
/// For `mogadm check`.
pub async fn http_get_small(
    url: &str,
    max: usize,
    timeout: std::time::Duration,
) -> Result<(u16, Vec<u8>), Error> {
    http::get_small(url, max, timeout).await
}

/// Every pair of a reply, in key order (`Args` keeps them sorted; its
/// encoding is exact, so it splits back losslessly).
fn pairs(args: &crate::proto::Args) -> Vec<(String, String)> {
    let enc = args.encode();
    enc.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec =
                |s: &str| String::from_utf8_lossy(&crate::proto::decode(s.as_bytes())).into_owned();
            (dec(k), dec(v))
        })
        .collect()
}

#[cfg(test)]
mod tests;
