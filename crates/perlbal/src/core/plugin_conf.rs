//! The configuration side of the plugins added in part 3: Vhosts'
//! `VHOST`, Vpaths' `VPATH`, Redirect's `REDIRECT HOST`, Include's
//! `INCLUDE`, NotModified's pattern, and the tunables that
//! MaxContentLength and XFFExtras add once loaded; with 1.80's checks and
//! messages.

use std::collections::BTreeMap;

use super::config::{Config, Context, Effect};
use super::error::ConfigError;
use super::plugins::Plugin;
use super::role::Role;
use crate::proto::plugin_cmd::Route;
use crate::proto::tunables::{ForRole, Tunable, Type};
use crate::proto::usage::Usage;

/// A service's settings for these plugins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginConf {
    /// `VHOST host = service` (hosts lower-cased).
    pub vhosts: BTreeMap<String, String>,
    /// `VPATH regex = service`, in order.
    pub vpaths: Vec<(String, String)>,
    /// `REDIRECT HOST from to` (both lower-cased).
    pub redirect: BTreeMap<String, String>,
    /// `SET svc.notmodified.host_pattern = re` (none: the plugin does
    /// nothing, as in 1.80).
    pub notmodified: Option<String>,
}

const WEB_SERVER: ForRole = ForRole::Only(Role::WebServer);
const REVERSE_PROXY: ForRole = ForRole::Only(Role::ReverseProxy);

/// Tunables that exist once their plugin is loaded (1.80's `add_tunable`).
pub const PLUGIN_TUNABLES: &[(Plugin, Tunable)] = &[
    (
        Plugin::Cgilike,
        Tunable {
            name: "cgi_program",
            role: ForRole::Any,
            kind: Type::Str,
            default: None,
            supported: true,
        },
    ),
    (
        Plugin::Cgilike,
        Tunable {
            name: "cgi_uri_prefix",
            role: ForRole::Any,
            kind: Type::Str,
            default: Some("/"),
            supported: true,
        },
    ),
    (
        Plugin::Cgilike,
        Tunable {
            name: "cgi_timeout",
            role: ForRole::Any,
            kind: Type::Int,
            default: Some("30"),
            supported: true,
        },
    ),
    (
        Plugin::Cgilike,
        Tunable {
            name: "cgi_max_output",
            role: ForRole::Any,
            kind: Type::Size,
            default: Some("10485760"),
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "whitelist_file",
            role: ForRole::Any,
            kind: Type::Str,
            default: None,
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "blacklist_file",
            role: ForRole::Any,
            kind: Type::Str,
            default: None,
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "default_action",
            role: ForRole::Any,
            kind: Type::Str,
            default: Some("throttle"),
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "blacklist_action",
            role: ForRole::Any,
            kind: Type::Str,
            default: Some("deny"),
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "path_regex",
            role: ForRole::Any,
            kind: Type::Str,
            default: None,
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "method_regex",
            role: ForRole::Any,
            kind: Type::Str,
            default: None,
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "log_events",
            role: ForRole::Any,
            kind: Type::Str,
            default: Some("all"),
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "log_only",
            role: ForRole::Any,
            kind: Type::Bool,
            default: Some("0"),
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "throttle_threshold_seconds",
            role: ForRole::Any,
            kind: Type::Int,
            default: Some("60"),
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "initial_delay",
            role: ForRole::Any,
            kind: Type::Int,
            default: Some("3"),
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "max_delay",
            role: ForRole::Any,
            kind: Type::Int,
            default: Some("300"),
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "max_concurrent",
            role: ForRole::Any,
            kind: Type::Int,
            default: Some("2"),
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "ban_threshold",
            role: ForRole::Any,
            kind: Type::Int,
            default: Some("0"),
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "ban_expiration",
            role: ForRole::Any,
            kind: Type::Int,
            default: Some("60"),
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "memcached_servers",
            role: ForRole::Any,
            kind: Type::Str,
            default: None,
            supported: false,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "memcached_async_clients",
            role: ForRole::Any,
            kind: Type::Int,
            default: Some("10"),
            supported: true,
        },
    ),
    (
        Plugin::Throttle,
        Tunable {
            name: "instance_name",
            role: ForRole::Any,
            kind: Type::Str,
            default: Some("Throttle"),
            supported: true,
        },
    ),
    (
        Plugin::LazyCDN,
        Tunable {
            name: "fallback_service",
            role: WEB_SERVER,
            kind: Type::Str,
            default: None,
            supported: true,
        },
    ),
    (
        Plugin::LazyCDN,
        Tunable {
            name: "fallback_udp_ping_addr",
            role: WEB_SERVER,
            kind: Type::Str,
            default: None,
            supported: true,
        },
    ),
    (
        Plugin::EchoService,
        Tunable {
            name: "echo_delay",
            role: ForRole::Only(Role::Echo),
            kind: Type::Int,
            default: Some("0"),
            supported: true,
        },
    ),
    (
        Plugin::MaxContentLength,
        Tunable {
            name: "max_content_length",
            role: ForRole::Any,
            kind: Type::Int,
            default: Some("0"),
            supported: true,
        },
    ),
    (
        Plugin::XFFExtras,
        Tunable {
            name: "send_backend_port",
            role: REVERSE_PROXY,
            kind: Type::Bool,
            default: Some("0"),
            supported: true,
        },
    ),
    (
        Plugin::XFFExtras,
        Tunable {
            name: "send_backend_proto",
            role: REVERSE_PROXY,
            kind: Type::Bool,
            default: Some("0"),
            supported: true,
        },
    ),
];

/// How deep INCLUDEs may nest (a file including itself stops here).
const MAX_INCLUDE_DEPTH: usize = 8;

impl Config {
    /// A tunable: 1.80's own, or one a loaded plugin added.
    pub fn tunable(&self, key: &str) -> Option<&'static Tunable> {
        crate::proto::tunables::lookup(key).or_else(|| {
            PLUGIN_TUNABLES
                .iter()
                .find(|(p, t)| t.name == key && self.loaded(*p))
                .map(|(_, t)| t)
        })
    }

    /// The selector a VHOST/VPATH line is for, checked as 1.80 checks it.
    fn selector_for(&self, r: &Route, ctx: &Context) -> Result<String, ConfigError> {
        let name = r
            .selector
            .clone()
            .or_else(|| ctx.last_created.clone())
            .ok_or(ConfigError::NoSelectorContext)?;
        match self.services.get(&name) {
            Some(s) if s.role == Some(Role::Selector) => Ok(name),
            _ => Err(ConfigError::NotASelector(name)),
        }
    }

    pub(super) fn vhost(
        &mut self,
        args: &Result<Route, Usage>,
        ctx: &Context,
    ) -> Result<Effect, ConfigError> {
        if !self.loaded(Plugin::Vhosts) {
            return Err(ConfigError::UnknownCommand("vhost".into()));
        }
        let r = args.as_ref().map_err(|u| *u)?;
        let sel = self.selector_for(r, ctx)?;
        let host = r.pattern.to_ascii_lowercase();
        let ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.*;:".contains(&b));
        if !ok {
            return Err(ConfigError::HostPattern(host));
        }
        self.service_mut(&sel)?
            .more
            .vhosts
            .insert(host, r.target.clone());
        Ok(Effect::None)
    }

    pub(super) fn vpath(
        &mut self,
        args: &Result<Route, Usage>,
        ctx: &Context,
    ) -> Result<Effect, ConfigError> {
        if !self.loaded(Plugin::Vpaths) {
            return Err(ConfigError::UnknownCommand("vpath".into()));
        }
        let r = args.as_ref().map_err(|u| *u)?;
        let sel = self.selector_for(r, ctx)?;
        if regex::Regex::new(&r.pattern).is_err() {
            return Err(ConfigError::PathRegex(r.pattern.clone()));
        }
        self.service_mut(&sel)?
            .more
            .vpaths
            .push((r.pattern.clone(), r.target.clone()));
        Ok(Effect::None)
    }

    /// `REDIRECT HOST from to` on the last created or USEd service; like
    /// 1.80 it prints nothing when it works.
    pub(super) fn redirect(
        &mut self,
        args: &Result<(String, String), Usage>,
        ctx: &Context,
    ) -> Result<Effect, ConfigError> {
        if !self.loaded(Plugin::Redirect) {
            return Err(ConfigError::UnknownCommand("redirect".into()));
        }
        let (from, to) = args.as_ref().map_err(|u| *u)?;
        let name = ctx
            .last_created
            .as_deref()
            .ok_or(ConfigError::NoServiceContext)?;
        let svc = self
            .services
            .get_mut(name)
            .ok_or_else(|| ConfigError::NonExistentService(name.to_owned()))?;
        svc.more
            .redirect
            .insert(from.to_ascii_lowercase(), to.to_ascii_lowercase());
        Ok(Effect::Quiet)
    }

    /// `INCLUDE = glob...`: every file each glob names (sorted), each run
    /// with a context of its own. A failing line fails the INCLUDE,
    /// naming the file and line (1.80 printed it and went on); at start-up
    /// with the line and the error, on the console (once running) without
    /// anything read from the file.
    pub(super) fn include(
        &mut self,
        args: &Result<String, Usage>,
        _ctx: &Context,
    ) -> Result<Effect, ConfigError> {
        if !self.loaded(Plugin::Include) {
            return Err(ConfigError::UnknownCommand("include".into()));
        }
        let globs = args.as_ref().map_err(|u| *u)?;
        if self.include_depth >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::IncludeDepth);
        }
        let mut files = Vec::new();
        for pattern in globs.split(' ').filter(|p| !p.is_empty()) {
            if !pattern.contains(['*', '?', '[', '{']) {
                files.push(std::path::PathBuf::from(pattern));
                continue;
            }
            let found = glob::glob(pattern).map_err(|e| ConfigError::Glob {
                pattern: pattern.to_owned(),
                error: e.to_string(),
            })?;
            let mut found: Vec<_> = found.filter_map(Result::ok).collect();
            found.sort();
            files.extend(found);
        }
        let mut effects = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| ConfigError::IncludeOpen {
                file: f.clone(),
                error: e.to_string(),
            })?;
            let mut ctx = Context::default();
            self.include_depth += 1;
            let ran = self.run_lines(&text, &crate::proto::expand::System, &mut ctx, &mut effects);
            self.include_depth -= 1;
            ran.map_err(|e| {
                if self.running {
                    // On the console the file may be one its user cannot
                    // read: nothing of its content goes back.
                    ConfigError::IncludedLine {
                        file: f.clone(),
                        line: e.line,
                    }
                } else {
                    ConfigError::Included {
                        file: f.clone(),
                        error: Box::new(e),
                    }
                }
            })?;
        }
        Ok(match effects.len() {
            0 => Effect::None,
            _ => Effect::Batch(effects),
        })
    }
}

#[cfg(test)]
#[path = "plugin_conf_tests.rs"]
mod tests;
