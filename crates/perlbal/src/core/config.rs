//! The configuration's data model: services, pools, defaults and server
//! settings, and the queries on them. The commands that change it live in
//! `dispatch` (and `set`, `plugin_cmds`); the
//! same [`Config::apply`] runs `perlbal.conf` at start-up and every config
//! command typed on the console later, and reports what the server must
//! do about it as an [`Effect`].

use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use super::access::AccessConf;
use super::error::ConfigError;
use super::files::{FilesHandle, NodefileReads, NodefileText};
use super::plugin_conf::{PluginConf, PLUGIN_TUNABLES};
use super::plugins::{HighpriConf, Plugin};
use super::role::Role;
use crate::proto::tunables::{self, Tunable};

/// A service's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceConf {
    /// Its name.
    pub name: String,
    /// Its role, once set.
    pub role: Option<Role>,
    /// Whether ENABLEd.
    pub enabled: bool,
    /// Tunables set (normalised), defaults excluded.
    pub values: BTreeMap<String, String>,
    /// `HEADER svc INSERT`
    pub insert: Vec<(String, String)>,
    /// `HEADER svc REMOVE`
    pub remove: Vec<String>,
    /// `extra.*` settings (plugin data; no effect in this build).
    pub extra: BTreeMap<String, String>,
    /// `SET plugins = ...`, in order.
    pub plugins: Vec<Plugin>,
    /// AccessControl's rules (kept, like 1.80's, when the plugin is not
    /// registered on the service; used only when it is).
    pub access: AccessConf,
    /// Highpri's patterns, once Highpri was registered on the service.
    pub highpri: Option<HighpriConf>,
    /// The other plugins' settings (VHOST, VPATH, REDIRECT, NotModified).
    pub more: PluginConf,
}

impl ServiceConf {
    /// A tunable's value, or its default.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .or_else(|| tunables::lookup(key).and_then(|t| t.default))
    }

    /// A boolean tunable.
    pub fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("1")
    }

    /// A numeric tunable (0 when unset).
    pub fn num(&self, key: &str) -> u64 {
        self.get(key).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// The listen address (`port` alone means all interfaces).
    pub fn listen(&self) -> Option<SocketAddr> {
        let v = self.values.get("listen")?;
        if v.contains(':') {
            v.parse().ok()
        } else {
            Some(SocketAddr::from(([0, 0, 0, 0], v.parse::<u16>().ok()?)))
        }
    }

    /// Whether this is a management service.
    pub fn is_management(&self) -> bool {
        self.role == Some(Role::Management)
    }
}

/// A pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolConf {
    /// Its name.
    pub name: String,
    /// Its nodes, in order.
    pub nodes: Vec<SocketAddrV4>,
    /// `nodefile`, re-read while running.
    pub nodefile: Option<PathBuf>,
}

/// The per-session context: what `SET key = value` without a name means,
/// and whether successes print `OK` (the console does, the config file
/// does not).
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The last created or USEd service or pool.
    pub last_created: Option<String>,
    /// Print `OK`.
    pub verbose: bool,
}

/// What the server must do after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond the new settings.
    None,
    /// As `None`, and the console prints no `OK` (1.80's plugin setters).
    Quiet,
    /// Open this service's listener.
    Enable(String),
    /// Close it.
    Disable(String),
    /// The listen address of an enabled service changed.
    Rebind(String),
    /// Several of these, in order (an INCLUDEd file's).
    Batch(Vec<Effect>),
}

/// Everything the commands configure.
#[derive(Debug, Default)]
pub struct Config {
    /// Services by name.
    pub services: BTreeMap<String, ServiceConf>,
    /// Pools by name.
    pub pools: BTreeMap<String, PoolConf>,
    /// `DEFAULT key = value`, applied when a later service gets its role.
    pub defaults: BTreeMap<String, String>,
    /// `SERVER pidfile`
    pub pidfile: Option<PathBuf>,
    /// `SERVER metrics_listen = ip:port` (an extension: Prometheus metrics).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `SERVER max_connections`
    pub max_connections: Option<usize>,
    /// `SERVER aio_mode` as given (`none` or `ioaio`): either way file
    /// work runs on this build's blocking pool. 1.80 keeps it out of
    /// DUMPCONFIG, and so does this.
    pub aio_mode: Option<String>,
    /// `SERVER aio_threads`, as given (the blocking pool sizes itself).
    pub aio_threads: Option<i64>,
    /// `SERVER max_reproxy_connections = n` (0: no limit).
    pub reproxy_max: u64,
    /// `SERVER max_reproxy_connections(host:port) = n`.
    pub reproxy_max_host: BTreeMap<String, u64>,
    /// The web server's MIME table (the `MIME` command changes it).
    pub mime: crate::proto::mime::MimeTable,
    /// Set once the server runs (start-up-only settings refuse then).
    pub running: bool,
    /// No pool created by hand yet (1.80's `$vivify_pools`).
    pub(crate) pools_by_hand: bool,
    /// Plugins `LOAD`ed, in order.
    pub(crate) loaded: Vec<Plugin>,
    /// How many INCLUDEs are being run, one inside the other.
    pub(crate) include_depth: usize,
    /// What the commands read from the filesystem through.
    pub(crate) files: FilesHandle,
}

impl Config {
    /// An empty configuration whose commands read `files` (the real
    /// filesystem in [`Config::default`]).
    pub fn with_files(files: std::sync::Arc<dyn super::files::Files>) -> Config {
        Config {
            files: FilesHandle(files),
            ..Config::default()
        }
    }

    /// The pools' nodefiles, to re-read (see [`Config::apply_nodefiles`]).
    pub fn nodefile_reads(&self) -> NodefileReads {
        NodefileReads {
            paths: self
                .pools
                .values()
                .filter_map(|p| Some((p.name.clone(), p.nodefile.clone()?)))
                .collect(),
            files: self.files.clone(),
        }
    }

    /// Re-reads every pool's nodefile (blocking) and applies it; returns
    /// whether any node list changed.
    pub fn reload_nodefiles(&mut self) -> bool {
        let read = self.nodefile_reads().read();
        self.apply_nodefiles(&read)
    }

    /// Applies nodefiles read afresh: a pool that still has that nodefile
    /// takes its nodes. Returns whether any node list changed.
    pub fn apply_nodefiles(&mut self, read: &[NodefileText]) -> bool {
        let mut changed = false;
        for (pool, path, text) in read {
            let Some(pl) = self.pools.get_mut(pool) else {
                continue;
            };
            if pl.nodefile.as_ref() != Some(path) {
                continue;
            }
            let nodes = parse_nodefile(text);
            if nodes != pl.nodes {
                pl.nodes = nodes;
                changed = true;
            }
        }
        changed
    }

    /// Whether `LOAD` has loaded `p` (and no `UNLOAD` since).
    pub fn loaded(&self, p: Plugin) -> bool {
        self.loaded.contains(&p)
    }

    /// A tunable: 1.80's own, or one a loaded plugin added.
    pub fn tunable(&self, key: &str) -> Option<&'static Tunable> {
        crate::proto::tunables::lookup(key).or_else(|| {
            PLUGIN_TUNABLES
                .iter()
                .find(|(p, t)| t.name == key && self.loaded(*p))
                .map(|(_, t)| t)
        })
    }

    /// A service, or 1.80's error naming it.
    pub(super) fn service_mut(&mut self, name: &str) -> Result<&mut ServiceConf, ConfigError> {
        self.services
            .get_mut(name)
            .ok_or_else(|| ConfigError::NoService(name.to_owned()))
    }
}

/// A nodefile: `ip[:port]` per line, `#` comments, port 80 by default.
pub fn parse_nodefile(text: &str) -> Vec<SocketAddrV4> {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or("").trim();
            if l.is_empty() {
                return None;
            }
            match l.split_once(':') {
                Some((ip, port)) => Some(SocketAddrV4::new(ip.parse().ok()?, port.parse().ok()?)),
                None => Some(SocketAddrV4::new(l.parse().ok()?, 80)),
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
