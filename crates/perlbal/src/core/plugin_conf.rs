//! The plugins' per-service settings (Vhosts' `VHOST`s, Vpaths' `VPATH`s,
//! Redirect's hosts, NotModified's pattern) and the tunables that loaded
//! plugins add. The commands that set them are in `plugin_cmds`.

use std::collections::BTreeMap;

use super::plugins::Plugin;
use super::role::Role;
use crate::proto::tunables::{ForRole, Tunable, Type};

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
