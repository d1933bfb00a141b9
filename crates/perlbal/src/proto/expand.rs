//! `${ip:iface}` and `$NAME` expansion inside commands, as 1.80 does it:
//! `${type:value}` first (only `ip` exists), then `$word` from the
//! environment (unset expands to nothing).

/// Where expansions come from; the server passes the real environment and
/// interfaces, tests pass tables.
pub trait Lookup {
    /// An environment variable.
    fn env(&self, name: &str) -> Option<String>;
    /// The IPv4 address of a network interface.
    fn iface_ip(&self, iface: &str) -> Option<String>;
}

/// No environment, no interfaces.
pub struct NoLookup;

impl Lookup for NoLookup {
    fn env(&self, _: &str) -> Option<String> {
        None
    }
    fn iface_ip(&self, _: &str) -> Option<String> {
        None
    }
}

/// Why a `${...}` does not expand, in 1.80's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// Not `${type:value}`.
    #[error("Unknown config variable: {0}")]
    UnknownVariable(String),
    /// A type other than `ip`.
    #[error("Unknown config variable type: {0}")]
    UnknownType(String),
    /// `${ip:...}` with an odd interface name.
    #[error("Bogus-looking iface name")]
    BogusIface,
    /// An interface without an IPv4 address.
    #[error("Can't find IP of interface '{0}'")]
    NoIfaceIp(String),
}

super::usage::error_text!(ExpandError);

fn expand_var(spec: &str, lookup: &dyn Lookup) -> Result<String, ExpandError> {
    let Some((kind, val)) = spec.split_once(':') else {
        return Err(ExpandError::UnknownVariable(spec.to_owned()));
    };
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ExpandError::UnknownVariable(spec.to_owned()));
    }
    if kind != "ip" {
        return Err(ExpandError::UnknownType(kind.to_owned()));
    }
    if val.is_empty() || !val.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ExpandError::BogusIface);
    }
    lookup
        .iface_ip(val)
        .ok_or_else(|| ExpandError::NoIfaceIp(val.to_owned()))
}

/// Expands one (comment-free) command.
pub fn expand(cmd: &str, lookup: &dyn Lookup) -> Result<String, ExpandError> {
    // Pass 1: ${...}
    let mut out = String::with_capacity(cmd.len());
    let mut rest = cmd;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after.find('}') {
            Some(j) if j > 0 => {
                out.push_str(&expand_var(&after[..j], lookup)?);
                rest = &after[j + 1..];
            }
            _ => {
                out.push_str("${");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    // Pass 2: $word
    let mut done = String::with_capacity(out.len());
    let mut chars = out.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            done.push(c);
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while let Some(&(j, d)) = chars.peek() {
            if d.is_ascii_alphanumeric() || d == '_' {
                end = j + d.len_utf8();
                chars.next();
            } else {
                break;
            }
        }
        if end == start {
            done.push('$');
        } else {
            done.push_str(&lookup.env(&out[start..end]).unwrap_or_default());
        }
    }
    Ok(done)
}

/// The real environment, interfaces and filesystem.
#[derive(Debug, Clone, Copy)]
pub struct System;

impl crate::core::files::Files for System {
    fn read(&self, path: &std::path::Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn is_file(&self, path: &std::path::Path) -> bool {
        path.is_file()
    }
    fn is_dir(&self, path: &std::path::Path) -> bool {
        path.is_dir()
    }
    fn glob(&self, pattern: &str) -> Result<Vec<std::path::PathBuf>, glob::PatternError> {
        let found = glob::glob(pattern)?;
        Ok(found.filter_map(Result::ok).collect())
    }
}

impl Lookup for System {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn iface_ip(&self, iface: &str) -> Option<String> {
        let addrs = nix::ifaddrs::getifaddrs().ok()?;
        for a in addrs {
            if a.interface_name != iface {
                continue;
            }
            if let Some(sin) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) {
                return Some(sin.ip().to_string());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Table;
    impl Lookup for Table {
        fn env(&self, name: &str) -> Option<String> {
            (name == "PORT").then(|| "8080".into())
        }
        fn iface_ip(&self, iface: &str) -> Option<String> {
            (iface == "eth0").then(|| "10.0.0.5".into())
        }
    }

    #[test]
    fn expands_interfaces_then_environment() {
        assert_eq!(
            expand("SET listen = ${ip:eth0}:$PORT", &Table).expect("ok"),
            "SET listen = 10.0.0.5:8080"
        );
        assert_eq!(expand("a $NOPE b", &Table).expect("ok"), "a  b");
        assert_eq!(expand("cost $ 5", &Table).expect("ok"), "cost $ 5");
        assert_eq!(
            expand("${ip:wlan9}", &Table).expect_err("no iface"),
            "Can't find IP of interface 'wlan9'"
        );
        assert_eq!(
            expand("${env:X}", &Table).expect_err("type"),
            "Unknown config variable type: env"
        );
        assert_eq!(
            expand("${nocolon}", &Table).expect_err("var"),
            "Unknown config variable: nocolon"
        );
    }

    #[test]
    fn the_loopback_interface_has_an_address() {
        assert_eq!(System.iface_ip("lo").as_deref(), Some("127.0.0.1"));
    }
}
