//! The bundled plugins this build has: `LOAD`, `UNLOAD`, `SET plugins =
//! ...`, their per-service setters, the `ACCESS` and `PATTERNS` commands
//! and the PLUGINS lines, with 1.80's names, checks and messages (the
//! commands of the others live in [`super::plugin_conf`]). Any other
//! plugin is refused, naming it.

use super::config::{Config, Context, Effect};
use super::error::ConfigError;
use super::role::Role;
use crate::proto::access::AccessArgs;
use crate::proto::usage::Usage;

/// A plugin this build has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Plugin {
    /// `ACCESS` rules: 403, or the low-priority queue, by IP/netmask.
    AccessControl,
    /// The high-priority queue by URI/Host regex.
    Highpri,
    /// A selector's routing by Host (`VHOST`).
    Vhosts,
    /// A selector's routing by path regex (`VPATH`).
    Vpaths,
    /// The `INCLUDE = glob` command.
    Include,
    /// 301s by Host (`REDIRECT HOST`).
    Redirect,
    /// 413 above `max_content_length`.
    MaxContentLength,
    /// 304 for any If-Modified-Since on hosts matching a pattern.
    NotModified,
    /// X-Forwarded-Port / X-Forwarded-Proto to backends.
    XFFExtras,
    /// Request counters (`STATS`, `RECENT`).
    Stats,
    /// Drops the docroot's own name from the start of a path.
    AutoRemoveLeadingDir,
    /// GIF/PNG palettes rewritten from the URL.
    Palimg,
    /// Queue lengths and ages to backends (`X-Queue-Count`...).
    Queues,
    /// The `echo` role: each line sent back (after `echo_delay` s).
    EchoService,
    /// `.flv?start=N` served from byte N with an FLV header in front.
    FlvStreaming,
    /// A web_server hands missing or outdated (`v=`) files to a fallback.
    LazyCDN,
    /// Slows, refuses or bans client IPs that come too often.
    Throttle,
    /// Requests under a prefix answered by a CGI/1.1 program (1.80 called
    /// a Perl subroutine in-process).
    Cgilike,
}

impl Plugin {
    /// Every plugin this build has.
    pub const ALL: [Plugin; 18] = [
        Plugin::AccessControl,
        Plugin::Highpri,
        Plugin::Vhosts,
        Plugin::Vpaths,
        Plugin::Include,
        Plugin::Redirect,
        Plugin::MaxContentLength,
        Plugin::NotModified,
        Plugin::XFFExtras,
        Plugin::Stats,
        Plugin::AutoRemoveLeadingDir,
        Plugin::Palimg,
        Plugin::Queues,
        Plugin::EchoService,
        Plugin::FlvStreaming,
        Plugin::LazyCDN,
        Plugin::Throttle,
        Plugin::Cgilike,
    ];

    /// Its name, as 1.80 spells it.
    pub fn name(self) -> &'static str {
        match self {
            Plugin::AccessControl => "AccessControl",
            Plugin::Highpri => "Highpri",
            Plugin::Vhosts => "Vhosts",
            Plugin::Vpaths => "Vpaths",
            Plugin::Include => "Include",
            Plugin::Redirect => "Redirect",
            Plugin::MaxContentLength => "MaxContentLength",
            Plugin::NotModified => "NotModified",
            Plugin::XFFExtras => "XFFExtras",
            Plugin::Stats => "Stats",
            Plugin::AutoRemoveLeadingDir => "AutoRemoveLeadingDir",
            Plugin::Palimg => "Palimg",
            Plugin::Queues => "Queues",
            Plugin::EchoService => "EchoService",
            Plugin::FlvStreaming => "FlvStreaming",
            Plugin::LazyCDN => "LazyCDN",
            Plugin::Throttle => "Throttle",
            Plugin::Cgilike => "Cgilike",
        }
    }

    /// `LOAD name`: 1.80 tries the name as written, lower-cased and
    /// ucfirst-lower-cased against the module file names.
    fn for_load(written: &str) -> Option<Plugin> {
        let lower = written.to_ascii_lowercase();
        let mut ucfirst = lower.clone();
        if let Some(first) = ucfirst.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        Plugin::ALL
            .into_iter()
            .find(|p| [written, &lower, &ucfirst].contains(&p.name()))
    }
}

/// Highpri's patterns: the text as set (`undef`, `none` or `null` turn a
/// pattern off); the server compiles them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HighpriConf {
    /// Matched against the request URI.
    pub uri_pattern: String,
    /// Matched against the Host header.
    pub host_pattern: String,
}

/// 1.80's default URI pattern (LiveJournal's client protocol).
pub const DEFAULT_URI_PATTERN: &str = r"^(?:/interface/(?:xmlrpc|flat)|/login\.bml)$";

impl Default for HighpriConf {
    fn default() -> Self {
        HighpriConf {
            uri_pattern: DEFAULT_URI_PATTERN.to_owned(),
            host_pattern: "undef".to_owned(),
        }
    }
}

/// A pattern's regex; `None` when turned off. The text was checked when set.
pub fn pattern(text: &str) -> Option<regex::Regex> {
    if matches!(text, "undef" | "none" | "null") {
        return None;
    }
    regex::Regex::new(text).ok()
}

fn not_loaded(command: &str) -> ConfigError {
    ConfigError::UnknownCommand(command.to_owned())
}

impl Config {
    /// Whether `LOAD` has loaded `p` (and no `UNLOAD` since).
    pub fn loaded(&self, p: Plugin) -> bool {
        self.loaded.contains(&p)
    }

    pub(super) fn load_plugin(&mut self, written: &str) -> Result<Effect, ConfigError> {
        let p = Plugin::for_load(written)
            .ok_or_else(|| ConfigError::NoSuchPlugin(written.to_owned()))?;
        if !self.loaded.contains(&p) {
            self.loaded.push(p);
        }
        Ok(Effect::None)
    }

    pub(super) fn unload_plugin(&mut self, written: &str) -> Effect {
        let lower = written.to_ascii_lowercase();
        if let Some(p) = Plugin::ALL
            .into_iter()
            .find(|p| p.name().to_ascii_lowercase() == lower)
        {
            self.loaded.retain(|l| *l != p);
            if p == Plugin::Highpri {
                // 1.80 forgets which services PATTERNS shows.
                for svc in self.services.values_mut() {
                    svc.highpri = None;
                }
            }
        }
        Effect::None
    }

    /// `SET svc.plugins = a, b`: replaces the service's plugins. Highpri's
    /// patterns go back to their defaults; ACCESS rules stay.
    pub(super) fn set_plugins(&mut self, name: &str, value: &str) -> Result<Effect, ConfigError> {
        let mut chosen = Vec::new();
        for w in value.split([',', ' ', '\t']).filter(|w| !w.is_empty()) {
            if w == "none" {
                continue;
            }
            let lower = w.to_ascii_lowercase();
            let p = self
                .loaded
                .iter()
                .copied()
                .find(|p| p.name().to_ascii_lowercase() == lower)
                .ok_or_else(|| ConfigError::PluginNotLoaded {
                    plugin: lower.clone(),
                    service: name.to_owned(),
                })?;
            if !chosen.contains(&p) {
                chosen.push(p);
            }
        }
        let svc = self.service_mut(name)?;
        for (p, what) in [(Plugin::Vhosts, "vhost"), (Plugin::Vpaths, "vpath")] {
            if chosen.contains(&p) && svc.role != Some(Role::Selector) {
                return Err(ConfigError::NotSelector(what));
            }
        }
        if chosen.contains(&Plugin::FlvStreaming) && svc.role != Some(Role::ReverseProxy) {
            return Err(ConfigError::FlvNotProxy);
        }
        if chosen.contains(&Plugin::Highpri) {
            svc.highpri = Some(HighpriConf::default());
        }
        // Registering starts these afresh, as 1.80's `register` does.
        if chosen.contains(&Plugin::Vhosts) {
            svc.more.vhosts.clear();
        }
        if chosen.contains(&Plugin::Vpaths) {
            svc.more.vpaths.clear();
        }
        svc.more.notmodified = None;
        svc.plugins = chosen;
        Ok(Effect::None)
    }

    /// `SET svc.plugin.key = value` for a plugin registered on the service;
    /// `None` when no plugin takes the key.
    pub(super) fn plugin_setter(
        &mut self,
        name: &str,
        key: &str,
        value: &str,
    ) -> Option<Result<Effect, ConfigError>> {
        let (plugin, what) = key.rsplit_once('.')?;
        let svc = self.services.get_mut(name)?;
        match (plugin, what) {
            ("highpri", "uri_pattern" | "host_pattern")
                if svc.plugins.contains(&Plugin::Highpri) =>
            {
                let off = matches!(value, "undef" | "none" | "null");
                if !off && regex::Regex::new(value).is_err() {
                    return Some(Err(ConfigError::Regex));
                }
                let conf = svc.highpri.get_or_insert_with(HighpriConf::default);
                if what == "uri_pattern" {
                    conf.uri_pattern = value.to_owned();
                } else {
                    conf.host_pattern = value.to_owned();
                }
                // 1.80's setter says nothing when it succeeds.
                Some(Ok(Effect::Quiet))
            }
            ("notmodified", "host_pattern") if svc.plugins.contains(&Plugin::NotModified) => {
                if regex::Regex::new(value).is_err() {
                    return Some(Err(ConfigError::Regex));
                }
                svc.more.notmodified = Some(value.to_owned());
                // Like Highpri's, 1.80's setter prints nothing.
                Some(Ok(Effect::Quiet))
            }
            ("accesscontrol", "use_observed_ip")
                if svc.plugins.contains(&Plugin::AccessControl) =>
            {
                svc.access.use_observed_ip = !matches!(value, "0" | "");
                Some(Ok(Effect::None))
            }
            _ => None,
        }
    }

    /// `ACCESS ...` on the last created or USEd service.
    pub(super) fn access(
        &mut self,
        args: &Result<AccessArgs, Usage>,
        ctx: &Context,
    ) -> Result<Effect, ConfigError> {
        if !self.loaded(Plugin::AccessControl) {
            return Err(not_loaded("access"));
        }
        let args = args.as_ref().map_err(|u| *u)?;
        let name = ctx
            .last_created
            .as_deref()
            .ok_or(ConfigError::NoServiceContext)?;
        let svc = self
            .services
            .get_mut(name)
            .ok_or_else(|| ConfigError::NonExistentService(name.to_owned()))?;
        svc.access.command(args)?;
        Ok(Effect::None)
    }

    /// `PATTERNS`' lines (with the final `.`).
    pub fn patterns(&self) -> Result<Vec<String>, ConfigError> {
        if !self.loaded(Plugin::Highpri) {
            return Err(not_loaded("patterns"));
        }
        let mut out = vec!["High priority pattern buffer:".to_owned()];
        for (name, svc) in &self.services {
            if let Some(h) = &svc.highpri {
                out.push(format!(
                    "SET {name}.highpri.uri_pattern = {}",
                    h.uri_pattern
                ));
                out.push(format!(
                    "SET {name}.highpri.host_pattern = {}",
                    h.host_pattern
                ));
            }
        }
        out.push(".".into());
        Ok(out)
    }

    /// `PLUGINS`' lines: `service Plugin Plugin` for services with any.
    pub fn plugin_lines(&self) -> Vec<String> {
        self.services
            .values()
            .filter(|s| !s.plugins.is_empty())
            .map(|s| {
                let names: Vec<&str> = s.plugins.iter().map(|p| p.name()).collect();
                format!("{} {}", s.name, names.join(" "))
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "plugins_tests.rs"]
mod tests;
