//! `SET` on services and pools and `SERVER key = value`, with 1.80's
//! checks and messages (the dispatcher's, split to keep files small).

use super::config::{parse_nodefile, Config, Effect, PoolConf};
use super::error::ConfigError;
use super::files::Files;
use super::plugins::Plugin;
use super::role::Role;
use crate::proto::tunables;

impl Config {
    pub(super) fn set_service(
        &mut self,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<Effect, ConfigError> {
        if key == "nodefile" || key == "balance_method" {
            let pool = match self.services.get(name).and_then(|s| s.values.get("pool")) {
                Some(p) => p.clone(),
                None if !self.pools_by_hand => {
                    let pool = format!("{name}_pool");
                    self.pools.insert(
                        pool.clone(),
                        PoolConf {
                            name: pool.clone(),
                            ..PoolConf::default()
                        },
                    );
                    self.service_mut(name)?
                        .values
                        .insert("pool".into(), pool.clone());
                    pool
                }
                None => return Err(ConfigError::NoPoolForService),
            };
            return self.set_pool(&pool, key, value).map(|()| Effect::None);
        }
        let pools_exist = |p: &str| self.pools.contains_key(p);
        let Some(tun) = self.tunable(key) else {
            if key == "plugins" {
                return self.set_plugins(name, value);
            }
            if let Some(extra) = key.strip_prefix("extra.") {
                let svc = self.service_mut(name)?;
                svc.extra.insert(extra.to_owned(), value.to_owned());
                return Ok(Effect::None);
            }
            if let Some(done) = self.plugin_setter(name, key, value) {
                return done;
            }
            return Err(ConfigError::UnknownParameter(key.to_owned()));
        };
        let role = self.services.get(name).and_then(|s| s.role);
        if !tun.role.allows(role) {
            return Err(ConfigError::WrongRole {
                key: key.to_owned(),
                role: tun.role.name(),
            });
        }
        let new_role = if key == "role" {
            match value.parse::<Role>() {
                Ok(r) if !r.is_plugin_role() || self.loaded(Plugin::EchoService) => Some(r),
                _ => return Err(ConfigError::BadRole(name.to_owned())),
            }
        } else {
            None
        };
        if !tun.supported {
            return Err(ConfigError::Unsupported(key.to_owned()));
        }
        let value = tun.normalise(value)?;
        if key == "pool" && !pools_exist(&value) {
            return Err(ConfigError::NoPool(value));
        }
        check_value(&*self.files, name, key, &value)?;
        if key == "default_service" && !self.services.contains_key(&value) {
            return Err(ConfigError::ServiceNotFound(value));
        }
        let defaults: Vec<(String, String, bool)> = self
            .defaults
            .iter()
            .map(|(k, v)| {
                let fits = self.tunable(k).is_some_and(|t| t.role.allows(new_role));
                (k.clone(), v.clone(), fits)
            })
            .collect();
        let svc = self.service_mut(name)?;
        let effect = if key == "listen" && svc.enabled && svc.values.get("listen") != Some(&value) {
            Effect::Rebind(name.to_owned())
        } else {
            Effect::None
        };
        if key == "persist_client_timeout" {
            svc.values
                .insert("persist_client_idle_timeout".into(), value.clone());
            svc.values.insert("idle_timeout".into(), value.clone());
        }
        if let Some(role) = new_role {
            svc.role = Some(role);
            for (k, v, fits) in defaults {
                if fits {
                    svc.values.entry(k).or_insert(v);
                }
            }
        } else {
            svc.values.insert(key.to_owned(), value);
        }
        Ok(effect)
    }

    pub(super) fn set_pool(
        &mut self,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        let pl = self
            .pools
            .get_mut(name)
            .ok_or_else(|| ConfigError::NoPool(name.to_owned()))?;
        match key {
            "nodefile" => {
                if matches!(value, "none" | "undef" | "null" | "\"\"" | "''") {
                    pl.nodefile = None;
                    return Ok(());
                }
                let text = self
                    .files
                    .read(std::path::Path::new(value))
                    .map_err(|_| ConfigError::NodefileNotFound)?;
                pl.nodes = parse_nodefile(&text);
                pl.nodefile = Some(value.into());
                Ok(())
            }
            "balance_method" if value == "random" => Ok(()),
            "balance_method" => Err(ConfigError::BalanceMethod),
            _ => Err(ConfigError::UnknownPoolParameter(key.to_owned())),
        }
    }

    pub(super) fn set_server(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let numeric = || value.parse::<i64>().map_err(|_| ConfigError::NotNumeric);
        match key {
            "pidfile" if self.running => Err(ConfigError::PidfileRunning),
            "pidfile" => {
                self.pidfile = Some(value.into());
                Ok(())
            }
            "metrics_listen" if self.running => Err(ConfigError::MetricsRunning),
            "metrics_listen" => {
                let addr = value
                    .parse()
                    .map_err(|_| ConfigError::MetricsAddress(value.to_owned()))?;
                self.metrics_listen = Some(addr);
                Ok(())
            }
            "max_connections" if self.running => {
                numeric()?;
                Err(ConfigError::MaxConnectionsRunning)
            }
            "max_connections" => {
                let n = numeric()?;
                self.max_connections = Some(usize::try_from(n.max(1)).unwrap_or(1));
                Ok(())
            }
            // 1.80 matches the mode with an unanchored alternation:
            // `^none`, `linux` or `ioaio$` anywhere in the value.
            "aio_mode" if value.contains("linux") => Err(ConfigError::LinuxAio),
            "aio_mode" if value.starts_with("none") || value.ends_with("ioaio") => {
                self.aio_mode = Some(value.to_owned());
                Ok(())
            }
            "aio_mode" => Err(ConfigError::AioMode),
            "aio_threads" => {
                self.aio_threads = Some(numeric()?);
                Ok(())
            }
            "nice_level" | "track_obj" | "crash_backtrace" => {
                Err(ConfigError::UnsupportedServer(key.to_owned()))
            }
            k if k.starts_with("max_reproxy_connections") => {
                let n = numeric()?;
                let n = u64::try_from(n).unwrap_or(0);
                match k
                    .strip_prefix("max_reproxy_connections(")
                    .and_then(|h| h.strip_suffix(')'))
                {
                    Some(host) => {
                        self.reproxy_max_host.insert(host.to_owned(), n);
                    }
                    None => self.reproxy_max = n,
                }
                Ok(())
            }
            _ => Err(ConfigError::UnknownServerOption(value.to_owned())),
        }
    }
}

/// 1.80's checks of values that name things outside perlbal.
fn check_value(fs: &dyn Files, svc: &str, key: &str, value: &str) -> Result<(), ConfigError> {
    let path = std::path::Path::new(value);
    let file = || ConfigError::FileNotFound {
        file: value.to_owned(),
        key: key.to_owned(),
    };
    let dir = || ConfigError::DirNotFound {
        dir: value.to_owned(),
        key: key.to_owned(),
    };
    match key {
        "docroot" if !fs.is_dir(path) => Err(ConfigError::NoDocroot(svc.to_owned())),
        "buffer_uploads_path" if !fs.is_dir(path) => Err(ConfigError::NoUploadsDir {
            dir: value.to_owned(),
            service: svc.to_owned(),
        }),
        "upload_status_listeners" => {
            for ep in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                if ep.parse::<std::net::SocketAddrV4>().is_err() {
                    return Err(ConfigError::UdpEndpoint(ep.to_owned()));
                }
            }
            Ok(())
        }
        "ssl_key_file" | "ssl_cert_file" => {
            let default = tunables::lookup(key).and_then(|t| t.default);
            if fs.is_file(path) || Some(value) == default {
                Ok(())
            } else {
                Err(file())
            }
        }
        "whitelist_file" | "blacklist_file" if !fs.is_file(path) => Err(file()),
        "default_action" if !matches!(value, "allow" | "throttle") => {
            Err(ConfigError::DefaultAction)
        }
        "blacklist_action" if !matches!(value, "deny" | "throttle") => {
            Err(ConfigError::BlacklistAction)
        }
        "log_events" if !is_event_list(value) => Err(ConfigError::LogEvents),
        "fallback_udp_ping_addr" if !is_dotted_quad_port(value) => Err(ConfigError::PingAddr),
        "ssl_ca_path" if !fs.is_dir(path) => Err(dir()),
        "cgi_program" if !fs.is_file(path) => Err(file()),
        "cgi_uri_prefix" if !value.starts_with('/') => Err(ConfigError::CgiPrefix),
        "ssl_ca_file" if !fs.is_file(path) => Err(file()),
        "ssl_cert_dir" if !fs.is_dir(path) => Err(dir()),
        "ssl_verify_mode" if value.parse::<u64>().is_ok_and(|m| m > 7) => {
            Err(ConfigError::VerifyMode)
        }
        _ => Ok(()),
    }
}

/// 1.80's `^(ban|unban|whitelisted|blacklisted|concurrent|throttled|banned|all|none| |,)+$`.
fn is_event_list(value: &str) -> bool {
    const WORDS: [&str; 9] = [
        "unban",
        "ban",
        "whitelisted",
        "blacklisted",
        "concurrent",
        "throttled",
        "banned",
        "all",
        "none",
    ];
    let mut rest = value;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix([' ', ',']) {
            rest = r;
            continue;
        }
        match WORDS.iter().find_map(|w| rest.strip_prefix(w)) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    true
}

/// 1.80's `^\d+\.\d+\.\d+\.\d+:\d+$`.
fn is_dotted_quad_port(value: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match value.split_once(':') {
        Some((ip, port)) => {
            let parts: Vec<&str> = ip.split('.').collect();
            parts.len() == 4 && parts.iter().all(|p| digits(p)) && digits(port)
        }
        None => false,
    }
}
