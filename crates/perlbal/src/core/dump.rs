//! `DUMPCONFIG`: the live configuration as commands, in 1.80's layout
//! (pools, then services; role, listen, pool, then the other tunables
//! sorted, skipping defaults and other roles' settings; booleans as `on`).

use super::config::Config;
use super::plugin_conf::PLUGIN_TUNABLES;
use super::plugins::Plugin;
use super::role::Role;
use crate::proto::tunables::{self, Type, TUNABLES};

impl Config {
    /// `DUMPCONFIG`'s lines (without the final `OK`).
    pub fn dump(&self) -> Vec<String> {
        dump(self)
    }
}

fn dump(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for (name, pool) in &cfg.pools {
        out.push(format!("CREATE POOL {name}"));
        if let Some(f) = &pool.nodefile {
            out.push(format!("  SET nodefile = {}", f.display()));
        } else {
            for n in &pool.nodes {
                out.push(format!("  POOL ADD {name} {n}"));
            }
        }
        out.push(String::new());
    }
    for (name, svc) in &cfg.services {
        out.push(format!("CREATE SERVICE {name}"));
        let role = svc.role;
        let mut keys: Vec<&str> = TUNABLES
            .iter()
            .chain(PLUGIN_TUNABLES.iter().map(|(_, t)| t))
            .map(|t| t.name)
            .filter(|k| !matches!(*k, "role" | "listen" | "pool"))
            .collect();
        keys.sort_unstable();
        for key in ["role", "listen", "pool"].into_iter().chain(keys) {
            let Some(tun) = cfg.tunable(key) else {
                continue;
            };
            if tun.role != tunables::ForRole::Any && !tun.role.allows(role) {
                continue;
            }
            // 1.80 keeps index_files as a list, never equal to its
            // default text, so a web_server always shows it.
            let always = key == "index_files" && role == Some(Role::WebServer);
            let value = if key == "role" {
                role.map(Role::name)
            } else if always {
                svc.get(key)
            } else {
                svc.values.get(key).map(String::as_str)
            };
            let Some(value) = value else { continue };
            if key != "role" && !always && tun.default == Some(value) {
                continue;
            }
            let shown = if tun.kind == Type::Bool && value == "1" {
                "on"
            } else {
                value
            };
            out.push(format!("  SET {key} = {shown}"));
        }
        for p in &svc.plugins {
            match p {
                Plugin::AccessControl => {
                    out.extend(svc.access.dump().into_iter().map(|l| format!("  {l}")));
                }
                Plugin::Vhosts => out.extend(
                    svc.more
                        .vhosts
                        .iter()
                        .map(|(host, to)| format!("  VHOST {host} = {to}")),
                ),
                _ => out.push(format!(
                    "  # Plugin '{}' isn't capable of dumping config.",
                    p.name()
                )),
            }
        }
        out.push(format!(
            "{} {name}",
            if svc.enabled { "ENABLE" } else { "DISABLE" }
        ));
        out.push(String::new());
    }
    out
}
