//! mogilefsd's query commands over a [`MetaStore`].
//!
//! [`Tracker::answer`] turns one request line into its reply line; the
//! [`server`] loop feeds it a connection's lines in order. Commands are
//! grouped by subject: [`namespace`] (domains, classes), [`hosts`] (hosts,
//! devices), [`files`] (store, find, rename, list, delete). Deleted files'
//! replicas are removed from the storage nodes by [`deleter`].

pub mod deleter;
mod files;
mod hosts;
pub mod http;
mod namespace;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::meta::{Device, Domain, Host, MetaError, MetaStore};
use crate::proto::{self, Args, ErrCode, Line, Request, Response};

/// The version `!version` reports (the original's).
pub const VERSION: &str = "2.73";

/// Tracker settings from `mogilefsd.conf`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `default_mindevcount`: the implicit `default` class's mindevcount.
    pub default_mindevcount: i64,
    /// `node_timeout`: how long a storage node may take to answer.
    pub node_timeout: Duration,
    /// Age after which a tempfile never closed is abandoned and cleaned.
    pub tempfile_max_age: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            default_mindevcount: 2,
            node_timeout: Duration::from_secs(2),
            tempfile_max_age: Duration::from_secs(3600),
        }
    }
}

/// One tracker process: the store, its settings and the delete queue's bell.
#[derive(Debug)]
pub struct Tracker<M> {
    meta: M,
    settings: Settings,
    deletes: Notify,
}

/// Why a command failed: a protocol error code or a database error.
#[derive(Debug)]
enum Fail {
    Code(ErrCode),
    Db(MetaError),
}

impl From<ErrCode> for Fail {
    fn from(c: ErrCode) -> Self {
        Fail::Code(c)
    }
}

impl From<MetaError> for Fail {
    fn from(e: MetaError) -> Self {
        Fail::Db(e)
    }
}

/// A command's outcome: the `OK` pairs, or why not.
type Outcome = Result<Vec<(String, String)>, Fail>;

/// Builds `OK` pairs from anything displayable.
fn pair(k: impl Into<String>, v: impl ToString) -> (String, String) {
    (k.into(), v.to_string())
}

impl<M: MetaStore> Tracker<M> {
    /// A tracker over `meta`.
    pub fn new(meta: M, settings: Settings) -> Arc<Self> {
        Arc::new(Tracker {
            meta,
            settings,
            deletes: Notify::new(),
        })
    }

    /// The metadata store.
    pub fn meta(&self) -> &M {
        &self.meta
    }

    /// The reply to one request line; `None` for an empty line.
    pub async fn answer(&self, line: &[u8]) -> Option<String> {
        match proto::parse_line(line) {
            Line::Empty => None,
            Line::Admin(cmd) => Some(admin(&cmd)),
            Line::Garbage => Some(Response::err(ErrCode::UnknownCommand).encode(None)),
            Line::Command(req) => {
                let resp = match self.run(&req).await {
                    Ok(pairs) => Response::Ok(pairs),
                    Err(Fail::Code(c)) => Response::err(c),
                    Err(Fail::Db(e)) => {
                        tracing::warn!(error = %e, cmd = %req.cmd, "database error");
                        Response::Err(ErrCode::Db, Some(format!("Database error: {e}")))
                    }
                };
                Some(resp.encode(req.callid()))
            }
        }
    }

    async fn run(&self, req: &Request) -> Outcome {
        let a = &req.args;
        match req.cmd.as_str() {
            "noop" => Ok(Vec::new()),
            "create_domain" => self.create_domain(a).await,
            "delete_domain" => self.delete_domain(a).await,
            "get_domains" => self.get_domains().await,
            "create_class" => self.create_class(a, false).await,
            "update_class" => self.create_class(a, true).await,
            "delete_class" => self.delete_class(a).await,
            "create_host" => self.create_host(a, false).await,
            "update_host" => self.create_host(a, true).await,
            "delete_host" => self.delete_host(a).await,
            "get_hosts" => self.get_hosts(a).await,
            "create_device" => self.create_device(a).await,
            "get_devices" => self.get_devices(a).await,
            "set_state" => self.set_device(a, true).await,
            "set_weight" => self.set_device(a, false).await,
            "create_open" => self.create_open(a).await,
            "create_close" => self.create_close(a).await,
            "get_paths" => self.get_paths(a).await,
            "delete" => self.delete(a).await,
            "updateclass" => self.updateclass(a).await,
            "rename" => self.rename(a).await,
            "list_keys" => self.list_keys(a).await,
            "file_info" => self.file_info(a).await,
            _ => Err(ErrCode::UnknownCommand.into()),
        }
    }

    /// The domain named by `domain=`: `no_domain` / `unreg_domain` if not.
    async fn domain_arg(&self, a: &Args) -> Result<Domain, Fail> {
        let name = a.nonempty("domain").ok_or(ErrCode::NoDomain)?;
        Ok(self.meta.domain(name).await?.ok_or(ErrCode::UnregDomain)?)
    }

    /// Hosts and devices, read together.
    async fn topology(&self) -> Result<(Vec<Host>, Vec<Device>), Fail> {
        Ok((self.meta.hosts().await?, self.meta.devices().await?))
    }

    /// Wakes the delete queue's worker.
    fn deletes_pending(&self) {
        self.deletes.notify_one();
    }
}

/// A `!` admin command's multi-line reply, ending with `.`.
fn admin(cmd: &str) -> String {
    let name = cmd.split_whitespace().next().unwrap_or("");
    let mut out = String::new();
    if name == "version" {
        out.push_str(VERSION);
        out.push_str("\r\n");
    } else {
        out.push_str("Admin commands known to this tracker:\r\n  !version\r\n");
    }
    out.push_str(".\r\n");
    out
}

/// The integer value of `key`, if given and valid.
fn int_arg(a: &Args, key: &str) -> Option<i64> {
    a.nonempty(key).and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests;
