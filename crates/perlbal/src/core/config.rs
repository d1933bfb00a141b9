//! The configuration that management commands build and change: services,
//! pools, defaults and server settings, with 1.80's checks and messages.
//! The same [`Config::apply`] runs `perlbal.conf` at start-up and every
//! config command typed on the console later; it reports what the server
//! must do about it as an [`Effect`].

use std::collections::BTreeMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use super::access::AccessConf;
use super::error::{ConfigError, LoadError};
use super::plugin_conf::PluginConf;
use super::plugins::{HighpriConf, Plugin};
use super::role::Role;
use crate::proto::command::{Action, Command, Kind, MimeCommand};
use crate::proto::tunables;

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
}

impl Config {
    /// Runs `perlbal.conf`; the first failing line stops it, named with its
    /// number and text.
    pub fn load(
        text: &str,
        lookup: &dyn crate::proto::expand::Lookup,
    ) -> Result<Config, LoadError> {
        let mut cfg = Config::default();
        let mut ctx = Context::default();
        cfg.run_lines(text, lookup, &mut ctx, &mut Vec::new())?;
        Ok(cfg)
    }

    /// Runs the lines of a config file, collecting their effects; the
    /// first failing line stops it, named with its number and text.
    pub(super) fn run_lines(
        &mut self,
        text: &str,
        lookup: &dyn crate::proto::expand::Lookup,
        ctx: &mut Context,
        effects: &mut Vec<Effect>,
    ) -> Result<(), LoadError> {
        for (n, line) in text.lines().enumerate() {
            let mut run = || -> Result<(), ConfigError> {
                if let Some(cmd) = crate::proto::command::parse(line, lookup)? {
                    match self.apply(&cmd, ctx)? {
                        Effect::None | Effect::Quiet => {}
                        e => effects.push(e),
                    }
                }
                Ok(())
            };
            run().map_err(|error| LoadError {
                line: n + 1,
                text: line.trim().to_owned(),
                error,
            })?;
        }
        Ok(())
    }

    pub(super) fn service_mut(&mut self, name: &str) -> Result<&mut ServiceConf, ConfigError> {
        self.services
            .get_mut(name)
            .ok_or_else(|| ConfigError::NoService(name.to_owned()))
    }

    /// Applies one config command. Query commands are not config commands
    /// and are refused here (the console answers them).
    pub fn apply(&mut self, cmd: &Command, ctx: &mut Context) -> Result<Effect, ConfigError> {
        match cmd {
            Command::Create { kind, name } => {
                if self.services.contains_key(name) {
                    return Err(ConfigError::ServiceExists(name.clone()));
                }
                if self.pools.contains_key(name) {
                    return Err(ConfigError::PoolExists(name.clone()));
                }
                match kind {
                    Kind::Service => {
                        let svc = ServiceConf {
                            name: name.clone(),
                            ..ServiceConf::default()
                        };
                        self.services.insert(name.clone(), svc);
                    }
                    Kind::Pool => {
                        self.pools_by_hand = true;
                        self.pools.insert(
                            name.clone(),
                            PoolConf {
                                name: name.clone(),
                                ..PoolConf::default()
                            },
                        );
                    }
                }
                ctx.last_created = Some(name.clone());
                Ok(Effect::None)
            }
            Command::Use { name } => {
                if !self.services.contains_key(name) && !self.pools.contains_key(name) {
                    return Err(ConfigError::NoPoolOrService(name.clone()));
                }
                ctx.last_created = Some(name.clone());
                Ok(Effect::None)
            }
            Command::Set { target, key, value } => {
                let name = target
                    .clone()
                    .or_else(|| ctx.last_created.clone())
                    .ok_or(ConfigError::NoContext)?;
                if self.services.contains_key(&name) {
                    self.set_service(&name, key, value)
                } else if self.pools.contains_key(&name) {
                    self.set_pool(&name, key, value).map(|()| Effect::None)
                } else {
                    Err(ConfigError::NoServiceOrPool(name))
                }
            }
            Command::Default { key, value } => {
                let tun = self
                    .tunable(key)
                    .ok_or_else(|| ConfigError::UnknownParameter(key.clone()))?;
                if !tun.supported {
                    return Err(ConfigError::Unsupported(key.clone()));
                }
                let value = tun.normalise(value)?;
                self.defaults.insert(key.clone(), value);
                Ok(Effect::None)
            }
            Command::Enable { name, on } => {
                let svc = self.service_mut(name)?;
                match (on, svc.enabled) {
                    (true, true) => Err(ConfigError::AlreadyEnabled(name.clone())),
                    (false, false) => Err(ConfigError::AlreadyDisabled(name.clone())),
                    (false, true) if svc.is_management() => Err(ConfigError::DisableManagement),
                    (true, false) => {
                        if svc.role.is_none() {
                            return Err(ConfigError::NoRole(name.clone()));
                        }
                        svc.enabled = true;
                        Ok(Effect::Enable(name.clone()))
                    }
                    (false, true) => {
                        svc.enabled = false;
                        Ok(Effect::Disable(name.clone()))
                    }
                }
            }
            Command::Pool {
                action,
                pool,
                ip,
                port,
            } => {
                let pl = self
                    .pools
                    .get_mut(pool)
                    .ok_or_else(|| ConfigError::NoPool(pool.clone()))?;
                let node = SocketAddrV4::new(*ip, *port);
                match action {
                    Action::Add => {
                        if !pl.nodes.contains(&node) {
                            pl.nodes.push(node);
                        }
                    }
                    Action::Remove => pl.nodes.retain(|n| *n != node),
                }
                Ok(Effect::None)
            }
            Command::Header {
                service,
                action,
                name,
                value,
            } => {
                let svc = self.service_mut(service)?;
                match (action, value) {
                    (Action::Add, Some(v)) => svc.insert.push((name.clone(), v.clone())),
                    (Action::Add, None) => return Err(ConfigError::NoHeaderValue),
                    (Action::Remove, _) => svc.remove.push(name.clone()),
                }
                Ok(Effect::None)
            }
            Command::Server { key, value } => self.set_server(key, value).map(|()| Effect::None),
            Command::Load { plugin } => self.load_plugin(plugin),
            Command::Unload { plugin } => Ok(self.unload_plugin(plugin)),
            Command::Access(args) => self.access(args, ctx),
            Command::Vhost(args) => self.vhost(args, ctx),
            Command::Vpath(args) => self.vpath(args, ctx),
            Command::Redirect(args) => self.redirect(args, ctx),
            Command::Include(args) => self.include(args, ctx),
            Command::Mime(m) => self.mime_command(m).map(|_| Effect::None),
            Command::Verbose { on } => {
                ctx.verbose = *on;
                Ok(Effect::None)
            }
            Command::Perl { command } => Err(if self.loaded(crate::core::Plugin::Cgilike) {
                ConfigError::Perl(command.to_ascii_uppercase())
            } else {
                ConfigError::UnknownCommand(command.clone())
            }),
            Command::Unsupported { command } => {
                Err(ConfigError::UnsupportedCommand(command.clone()))
            }
            _ => Err(ConfigError::NotConfig),
        }
    }

    /// Re-reads every pool's nodefile; returns whether any node list changed.
    pub fn reload_nodefiles(&mut self) -> bool {
        let mut changed = false;
        for pl in self.pools.values_mut() {
            let Some(path) = &pl.nodefile else { continue };
            if let Ok(text) = std::fs::read_to_string(path) {
                let nodes = parse_nodefile(&text);
                if nodes != pl.nodes {
                    pl.nodes = nodes;
                    changed = true;
                }
            }
        }
        changed
    }

    /// `MIME [list|set ext type|remove ext]`: the lines to print (a list
    /// ends with `.`), or 1.80's error.
    pub fn mime_command(&mut self, cmd: &MimeCommand) -> Result<Vec<String>, ConfigError> {
        match cmd {
            MimeCommand::List => {
                let mut out: Vec<String> = self
                    .mime
                    .0
                    .iter()
                    .map(|(e, m)| format!("{e} {m}"))
                    .collect();
                out.push(".".into());
                Ok(out)
            }
            MimeCommand::Set { ext, mime } => {
                self.mime.0.insert(ext.clone(), mime.clone());
                Ok(vec![format!("{ext} set to {mime}.")])
            }
            MimeCommand::Remove { ext } => match self.mime.0.remove(ext) {
                Some(_) => Ok(vec![format!("{ext} removed.")]),
                None => Err(ConfigError::NoExtension(ext.clone())),
            },
            MimeCommand::SetUsage => Err(ConfigError::MimeSetUsage),
            MimeCommand::Usage => Err(ConfigError::MimeUsage),
        }
    }

    /// `DUMPCONFIG`'s lines (without the final `OK`).
    pub fn dump(&self) -> Vec<String> {
        super::dump::dump(self)
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
