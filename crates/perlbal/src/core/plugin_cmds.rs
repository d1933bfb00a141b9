//! The plugins' config commands: `LOAD`, `UNLOAD`, `SET plugins = ...`,
//! their per-service setters, `ACCESS`, `VHOST`, `VPATH`, `REDIRECT HOST`,
//! and the `PATTERNS` and `PLUGINS` listings, with 1.80's checks and
//! messages. Any plugin this build does not have is refused, naming it.

use super::config::{Config, Context, Effect};
use super::error::ConfigError;
use super::plugins::{HighpriConf, Plugin};
use super::role::Role;
use crate::proto::access::AccessArgs;
use crate::proto::plugin_cmd::Route;
use crate::proto::usage::Usage;

#[cfg(test)]
use super::plugins::{pattern, DEFAULT_URI_PATTERN};

fn not_loaded(command: &str) -> ConfigError {
    ConfigError::UnknownCommand(command.to_owned())
}

impl Config {
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
}

#[cfg(test)]
#[path = "plugins_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "plugin_conf_tests.rs"]
mod conf_tests;
