//! A reverse-proxy service's settings as the hot path reads them: parsed
//! once per config change, shared behind an `Arc`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::core::headers::HeaderRules;
use crate::core::netmask::Netmask;
use regex::Regex;

use crate::core::access::AccessConf;
use crate::core::plugins::pattern;
use crate::core::{Config, Plugin, ServiceConf};

/// One service's settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub nodes: Vec<SocketAddr>,
    pub persist_client: bool,
    pub persist_backend: bool,
    pub verify_backend: bool,
    pub verify_path: String,
    pub backend_persist_cache: usize,
    pub connect_ahead: usize,
    pub max_backend_uses: u64,
    pub high_priority: Option<(String, String)>,
    pub relief_size: usize,
    pub relief_chance: u32,
    pub buffer_size: usize,
    pub buffer_backend_connect: usize,
    pub idle_timeout: Duration,
    pub persist_idle_timeout: Duration,
    pub client_sndbuf: usize,
    pub server_tokens: bool,
    pub rules: HeaderRules,
    /// AccessControl's rules, when the plugin is on the service.
    pub access: Option<AccessConf>,
    /// Highpri's URI and Host regexes, when the plugin is on the service.
    pub highpri: Option<(Option<Regex>, Option<Regex>)>,
}

impl Settings {
    pub fn from_config(svc: &ServiceConf, cfg: &Config) -> Settings {
        let nodes = svc
            .get("pool")
            .and_then(|p| cfg.pools.get(p))
            .map(|p| p.nodes.iter().map(|n| SocketAddr::V4(*n)).collect())
            .unwrap_or_default();
        let high_priority = match (
            svc.get("high_priority_cookie"),
            svc.get("high_priority_cookie_contents"),
        ) {
            (Some(c), Some(v)) => Some((c.to_owned(), v.to_owned())),
            _ => None,
        };
        let has = |p: Plugin| svc.plugins.contains(&p);
        let access = has(Plugin::AccessControl).then(|| svc.access.clone());
        let highpri = has(Plugin::Highpri).then(|| {
            let h = svc.highpri.clone().unwrap_or_default();
            (pattern(&h.uri_pattern), pattern(&h.host_pattern))
        });
        let size = |k: &str| usize::try_from(svc.num(k)).unwrap_or(usize::MAX);
        Settings {
            nodes,
            persist_client: svc.flag("persist_client"),
            persist_backend: svc.flag("persist_backend"),
            verify_backend: svc.flag("verify_backend"),
            verify_path: svc.get("verify_backend_path").unwrap_or("*").to_owned(),
            backend_persist_cache: size("backend_persist_cache"),
            connect_ahead: size("connect_ahead"),
            max_backend_uses: svc.num("max_backend_uses"),
            high_priority,
            relief_size: size("queue_relief_size"),
            relief_chance: u32::try_from(svc.num("queue_relief_chance")).unwrap_or(0),
            buffer_size: size("buffer_size").clamp(16 * 1024, 16 * 1024 * 1024),
            buffer_backend_connect: size("buffer_backend_connect").min(16 * 1024 * 1024),
            idle_timeout: Duration::from_secs(svc.num("idle_timeout").max(1)),
            persist_idle_timeout: Duration::from_secs(
                svc.num("persist_client_idle_timeout").max(1),
            ),
            client_sndbuf: size("client_sndbuf_size"),
            server_tokens: svc.flag("server_tokens"),
            rules: HeaderRules {
                blind_proxy: svc.flag("blind_proxy"),
                always_trusted: svc.flag("always_trusted"),
                trusted: svc
                    .get("trusted_upstream_proxies")
                    .and_then(Netmask::parse_list)
                    .unwrap_or_default(),
                insert: svc.insert.clone(),
                remove: svc.remove.clone(),
            },
            access,
            highpri,
        }
    }
}
