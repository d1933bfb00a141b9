//! Every service tunable of Perlbal 1.80: its role, type, default, and
//! whether this build honours it. A key 1.80 does not know is an error
//! ("Unknown service parameter"); a key it knows that this build does not
//! honour is an error naming the key, never silently accepted.

use crate::core::role::Role;

/// Which role a tunable belongs to (`*` = any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForRole {
    /// Any role.
    Any,
    /// This role only.
    Only(Role),
}

impl ForRole {
    /// The role's name as 1.80 spells it (`*` for any).
    pub fn name(self) -> &'static str {
        match self {
            ForRole::Any => "*",
            ForRole::Only(r) => r.name(),
        }
    }

    /// Whether a service of `role` may set it.
    pub fn allows(self, role: Option<Role>) -> bool {
        match self {
            ForRole::Any => true,
            ForRole::Only(r) => role == Some(r),
        }
    }
}

/// How a value is checked and normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// `1/0`, `on/off`, `true/false`, `yes/no`, stored as `1`/`0`.
    Bool,
    /// Digits.
    Int,
    /// Digits with an optional `b`/`k`/`m` suffix, stored in bytes.
    Size,
    /// Anything.
    Str,
    /// `ip:port` or `port`.
    Listen,
    /// A percentage 0..=100.
    Chance,
    /// Comma/space separated netmasks.
    Netmasks,
    /// A role name.
    Role,
    /// A pool name.
    Pool,
}

/// One tunable.
#[derive(Debug, Clone, Copy)]
pub struct Tunable {
    /// Its name.
    pub name: &'static str,
    /// Which role may set it.
    pub role: ForRole,
    /// Its type.
    pub kind: Type,
    /// Its default, normalised (`None`: unset).
    pub default: Option<&'static str>,
    /// Whether this build honours it.
    pub supported: bool,
}

const fn t(
    name: &'static str,
    role: ForRole,
    kind: Type,
    default: Option<&'static str>,
    supported: bool,
) -> Tunable {
    Tunable {
        name,
        role,
        kind,
        default,
        supported,
    }
}

use ForRole::Any;
const RP: ForRole = ForRole::Only(Role::ReverseProxy);
const WS: ForRole = ForRole::Only(Role::WebServer);
const SEL: ForRole = ForRole::Only(Role::Selector);
use Type::*;

/// The table, in 1.80's order of its `$tunables` hash (sorted when dumped).
pub const TUNABLES: &[Tunable] = &[
    t("role", Any, Type::Role, None, true),
    t("listen", Any, Listen, None, true),
    t("pool", RP, Pool, None, true),
    t("backend_persist_cache", RP, Int, Some("2"), true),
    t("persist_client", Any, Bool, Some("0"), true),
    t("persist_backend", RP, Bool, Some("0"), true),
    t("verify_backend", RP, Bool, Some("0"), true),
    t("verify_backend_path", RP, Str, Some("*"), true),
    t("max_backend_uses", RP, Int, Some("0"), true),
    t("max_put_size", WS, Size, Some("0"), true),
    t(
        "max_chunked_request_size",
        Any,
        Size,
        Some("209715200"),
        true,
    ),
    t("buffer_size", RP, Size, Some("262144"), true),
    t("buffer_size_reproxy_url", RP, Size, Some("51200"), true),
    t("queue_relief_size", RP, Int, Some("0"), true),
    t("queue_relief_chance", RP, Chance, Some("0"), true),
    t("buffer_backend_connect", RP, Size, Some("102400"), true),
    t("docroot", WS, Str, None, true),
    t("enable_put", WS, Bool, Some("0"), true),
    t("enable_md5", WS, Bool, Some("1"), true),
    t("enable_delete", WS, Bool, Some("0"), true),
    t("enable_reproxy", RP, Bool, Some("0"), true),
    t("reproxy_cache_maxsize", RP, Int, Some("0"), true),
    t("upload_status_listeners", RP, Str, Some(""), true),
    t("min_put_directory", WS, Int, Some("0"), true),
    t("dirindexing", WS, Bool, Some("0"), true),
    t("enable_concatenate_get", WS, Bool, Some("0"), true),
    t("connect_ahead", RP, Int, Some("0"), true),
    t("always_trusted", Any, Bool, Some("0"), true),
    t("blind_proxy", RP, Bool, Some("0"), true),
    t("high_priority_cookie", RP, Str, None, true),
    t("high_priority_cookie_contents", RP, Str, None, true),
    t("trusted_upstream_proxies", Any, Netmasks, None, true),
    t("index_files", WS, Str, Some("index.html"), true),
    t("default_service", SEL, Str, None, true),
    t("server_process", RP, Str, None, false),
    t("persist_client_timeout", Any, Int, None, true),
    t("persist_client_idle_timeout", Any, Int, Some("30"), true),
    t("idle_timeout", Any, Int, Some("30"), true),
    t("buffer_uploads_path", RP, Str, None, true),
    t("buffer_uploads", RP, Bool, Some("0"), true),
    t("buffer_upload_threshold_time", RP, Int, Some("5"), true),
    t(
        "buffer_upload_threshold_size",
        RP,
        Size,
        Some("256000"),
        true,
    ),
    t("buffer_upload_threshold_rate", RP, Int, Some("0"), true),
    t("latency", SEL, Int, Some("0"), true),
    t("enable_ssl", Any, Bool, Some("0"), true),
    t("ssl_key_file", Any, Str, Some("certs/server-key.pem"), true),
    t(
        "ssl_cert_file",
        Any,
        Str,
        Some("certs/server-cert.pem"),
        true,
    ),
    t("ssl_cipher_list", Any, Str, Some("ALL:!LOW:!EXP"), true),
    t("ssl_ca_path", Any, Str, None, true),
    t("ssl_verify_mode", Any, Int, Some("0"), true),
    // Beyond 1.80: a CA bundle for client certificates, a directory of
    // certificates chosen by server name (SNI).
    t("ssl_ca_file", Any, Str, None, true),
    t("ssl_cert_dir", Any, Str, None, true),
    t("enable_error_retries", RP, Bool, Some("0"), true),
    t(
        "error_retry_schedule",
        RP,
        Str,
        Some("0,.25,.50,1,1,1,1,1"),
        true,
    ),
    t("client_sndbuf_size", Any, Size, Some("0"), true),
    t("server_tokens", Any, Bool, Some("1"), true),
];

/// Looks a tunable up by name.
pub fn lookup(name: &str) -> Option<&'static Tunable> {
    TUNABLES.iter().find(|t| t.name == name)
}

/// 1.80's `_bool`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// A size with an optional `b`/`k`/`m` suffix, in bytes.
pub fn parse_size(v: &str) -> Option<u64> {
    let lower = v.to_ascii_lowercase();
    let (digits, mult) = match lower.as_bytes().last() {
        Some(b'b') => (&lower[..lower.len() - 1], 1),
        Some(b'k') => (&lower[..lower.len() - 1], 1024),
        Some(b'm') => (&lower[..lower.len() - 1], 1024 * 1024),
        _ => (lower.as_str(), 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

/// A value a tunable refuses, in 1.80's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunableError {
    /// Not a boolean.
    #[error("Expecting boolean value for parameter '{0}'")]
    NotBool(&'static str),
    /// Not digits.
    #[error("Expecting integer value for parameter '{0}'")]
    NotInt(&'static str),
    /// Not a size.
    #[error("Expecting size unit value for parameter '{0}' in bytes, or suffixed with 'K' or 'M'")]
    NotSize(&'static str),
    /// Not a percentage.
    #[error("Expecting integer value between 0 and 100, inclusive.")]
    NotChance,
    /// Not `ip:port` or `port`.
    #[error("Expecting IP:port of form a.b.c.d:port.")]
    NotListen,
    /// A netmask that does not parse.
    #[error("Invalid netmask '{0}'")]
    Netmask(String),
}

super::usage::error_text!(TunableError);

impl Tunable {
    /// Checks and normalises `value` with 1.80's error messages.
    pub fn normalise(&self, value: &str) -> Result<String, TunableError> {
        let key = self.name;
        match self.kind {
            Bool => parse_bool(value)
                .map(|b| if b { "1" } else { "0" }.to_owned())
                .ok_or(TunableError::NotBool(key)),
            Int => {
                if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                    value
                        .parse::<u64>()
                        .map(|n| n.to_string())
                        .map_err(|_| TunableError::NotInt(key))
                } else {
                    Err(TunableError::NotInt(key))
                }
            }
            Size => parse_size(value)
                .map(|n| n.to_string())
                .ok_or(TunableError::NotSize(key)),
            Chance => match value.parse::<u8>() {
                Ok(n) if n <= 100 => Ok(n.to_string()),
                _ => Err(TunableError::NotChance),
            },
            Listen => {
                let ok = match value.rsplit_once(':') {
                    Some((ip, port)) => {
                        ip.parse::<std::net::Ipv4Addr>().is_ok() && port.parse::<u16>().is_ok()
                    }
                    None => value.parse::<u16>().is_ok(),
                };
                if ok {
                    Ok(value.to_owned())
                } else {
                    Err(TunableError::NotListen)
                }
            }
            Netmasks => {
                for part in value.split([',', ' ']).filter(|p| !p.is_empty()) {
                    crate::core::netmask::Netmask::parse(part)
                        .ok_or_else(|| TunableError::Netmask(part.to_owned()))?;
                }
                Ok(value.to_owned())
            }
            Str | Type::Role | Pool => Ok(value.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_defaults_normalised() {
        for (i, a) in TUNABLES.iter().enumerate() {
            assert!(
                TUNABLES[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
            if let (Some(d), Bool | Int | Size) = (a.default, a.kind) {
                assert_eq!(a.normalise(d).as_deref(), Ok(d), "{}", a.name);
            }
        }
    }

    #[test]
    fn values_are_checked_as_1_80_checks_them() {
        let size = lookup("buffer_size").expect("known");
        assert_eq!(size.normalise("256k").as_deref(), Ok("262144"));
        assert_eq!(size.normalise("2M").as_deref(), Ok("2097152"));
        assert!(size.normalise("-1").is_err());
        let b = lookup("persist_client").expect("known");
        assert_eq!(b.normalise("Yes").as_deref(), Ok("1"));
        assert_eq!(
            b.normalise("maybe").map_err(|e| e.to_string()),
            Err("Expecting boolean value for parameter 'persist_client'".into())
        );
        let l = lookup("listen").expect("known");
        assert!(l.normalise("127.0.0.1:80").is_ok());
        assert!(l.normalise("8080").is_ok());
        assert!(l.normalise("nowhere").is_err());
        assert!(lookup("queue_relief_chance")
            .expect("known")
            .normalise("101")
            .is_err());
        assert_eq!(parse_size("99999999999999999999m"), None);
    }
}
