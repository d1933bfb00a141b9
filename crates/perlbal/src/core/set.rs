//! `SET` on services and pools and `SERVER key = value`, with 1.80's
//! checks and messages (split from `config` to keep files small).

use super::config::{parse_nodefile, Config, Effect, PoolConf};
use super::role::Role;
use crate::proto::tunables;

impl Config {
    pub(super) fn set_service(
        &mut self,
        name: &str,
        key: &str,
        value: &str,
    ) -> Result<Effect, String> {
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
                None => return Err("No pool defined for service".into()),
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
            return Err(format!("Unknown service parameter '{key}'"));
        };
        let role = self.services.get(name).and_then(|s| s.role);
        if !tun.role.allows(role) {
            return Err(format!(
                "The '{key}' option can only be set on a '{}' service",
                tun.role.name()
            ));
        }
        let new_role = if key == "role" {
            match value.parse::<Role>() {
                Ok(r) if !r.from_plugin() || self.loaded(crate::core::Plugin::EchoService) => {
                    Some(r)
                }
                _ => return Err(format!("Role not valid for service {name}")),
            }
        } else {
            None
        };
        if !tun.supported {
            return Err(unsupported(key));
        }
        let value = tun.normalise(value)?;
        if key == "pool" && !pools_exist(&value) {
            return Err(format!("Pool '{value}' not found"));
        }
        check_value(name, key, &value)?;
        if key == "default_service" && !self.services.contains_key(&value) {
            return Err(format!("Service '{value}' not found"));
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

    pub(super) fn set_pool(&mut self, name: &str, key: &str, value: &str) -> Result<(), String> {
        let pl = self
            .pools
            .get_mut(name)
            .ok_or_else(|| format!("Pool '{name}' not found"))?;
        match key {
            "nodefile" => {
                if matches!(value, "none" | "undef" | "null" | "\"\"" | "''") {
                    pl.nodefile = None;
                    return Ok(());
                }
                let text = std::fs::read_to_string(value).map_err(|_| "File not found")?;
                pl.nodes = parse_nodefile(&text);
                pl.nodefile = Some(value.into());
                Ok(())
            }
            "balance_method" if value == "random" => Ok(()),
            "balance_method" => Err("Unknown balance method".into()),
            _ => Err(format!("Unknown pool parameter '{key}'")),
        }
    }

    pub(super) fn set_server(&mut self, key: &str, value: &str) -> Result<(), String> {
        let numeric = || {
            value
                .parse::<i64>()
                .map_err(|_| "Expected numeric parameter".to_owned())
        };
        match key {
            "pidfile" if self.running => {
                Err("pidfile must be configured at startup, before Perlbal::run is called".into())
            }
            "pidfile" => {
                self.pidfile = Some(value.into());
                Ok(())
            }
            "metrics_listen" if self.running => {
                Err("metrics_listen must be configured at startup".into())
            }
            "metrics_listen" => {
                let addr = value
                    .parse()
                    .map_err(|_| format!("Invalid metrics_listen address: {value}"))?;
                self.metrics_listen = Some(addr);
                Ok(())
            }
            "max_connections" if self.running => {
                numeric()?;
                Err("max_connections can only be set at startup in this build".into())
            }
            "max_connections" => {
                let n = numeric()?;
                self.max_connections = Some(usize::try_from(n.max(1)).unwrap_or(1));
                Ok(())
            }
            // 1.80 matches the mode with an unanchored alternation:
            // `^none`, `linux` or `ioaio$` anywhere in the value.
            "aio_mode" if value.contains("linux") => Err("Linux::AIO no longer supported".into()),
            "aio_mode" if value.starts_with("none") || value.ends_with("ioaio") => {
                self.aio_mode = Some(value.to_owned());
                Ok(())
            }
            "aio_mode" => Err("Unknown AIO mode".into()),
            "aio_threads" => {
                self.aio_threads = Some(numeric()?);
                Ok(())
            }
            "nice_level" | "track_obj" | "crash_backtrace" => Err(unsupported_server(key)),
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
            _ => Err(format!("unknown server option '{value}'")),
        }
    }
}

/// 1.80's checks of values that name things outside perlbal.
fn check_value(svc: &str, key: &str, value: &str) -> Result<(), String> {
    match key {
        "docroot" if !std::path::Path::new(value).is_dir() => {
            Err(format!("Directory not found for service {svc}"))
        }
        "buffer_uploads_path" if !std::path::Path::new(value).is_dir() => Err(format!(
            "Directory ({value}) not found for service {svc} (buffer_uploads_path)"
        )),
        "upload_status_listeners" => {
            for ep in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                if ep.parse::<std::net::SocketAddrV4>().is_err() {
                    return Err(format!(
                        "Invalid UDP endpoint: \"{ep}\".  Must be of form a.b.c.d:port"
                    ));
                }
            }
            Ok(())
        }
        "ssl_key_file" | "ssl_cert_file" => {
            let default = tunables::lookup(key).and_then(|t| t.default);
            if std::path::Path::new(value).is_file() || Some(value) == default {
                Ok(())
            } else {
                Err(format!("File '{value}' not found for '{key}'"))
            }
        }
        "whitelist_file" | "blacklist_file" if !std::path::Path::new(value).is_file() => {
            Err(format!("File '{value}' not found for '{key}'"))
        }
        "default_action" if !matches!(value, "allow" | "throttle") => {
            Err("Value of 'default_action' must be one of: allow, throttle".into())
        }
        "blacklist_action" if !matches!(value, "deny" | "throttle") => {
            Err("Value of 'blacklist_action' must be one of: deny, throttle".into())
        }
        "log_events" if !is_event_list(value) => {
            Err("log_events is a comma-separated list of loggable events".into())
        }
        "fallback_udp_ping_addr" if !is_dotted_quad_port(value) => {
            Err("Expecting IP:port of form a.b.c.d:port.".into())
        }
        "ssl_ca_path" if !std::path::Path::new(value).is_dir() => {
            Err(format!("Directory '{value}' not found for '{key}'"))
        }
        "cgi_program" if !std::path::Path::new(value).is_file() => {
            Err(format!("File '{value}' not found for '{key}'"))
        }
        "cgi_uri_prefix" if !value.starts_with('/') => {
            Err("cgi_uri_prefix must start with '/'".into())
        }
        "ssl_ca_file" if !std::path::Path::new(value).is_file() => {
            Err(format!("File '{value}' not found for '{key}'"))
        }
        "ssl_cert_dir" if !std::path::Path::new(value).is_dir() => {
            Err(format!("Directory '{value}' not found for '{key}'"))
        }
        "ssl_verify_mode" if value.parse::<u64>().is_ok_and(|m| m > 7) => Err(
            "ssl_verify_mode is a sum of 1 (ask for a client certificate), 2 (require it) and 4"
                .into(),
        ),
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

pub(super) fn unsupported(key: &str) -> String {
    format!("'{key}' (a Perlbal 1.80 option) is not supported by this build of perlbal")
}

fn unsupported_server(key: &str) -> String {
    format!("server option '{key}' (Perlbal 1.80) is not supported by this build of perlbal")
}
