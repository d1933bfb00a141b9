//! Server settings (the `server_settings` table, shared by every tracker
//! on the database): server_setting, server_settings, set_server_setting,
//! with the original's writable keys and formats (`MogileFS::Config::
//! server_setting_is_writable`), plus this tracker's
//! `mogstored_stream_port_<hostid>` (a host's side-channel port).

use super::sidechan::STREAM_PORT_PREFIX;
use super::{Done, Fail};
use crate::meta::MetaStore;
use crate::proto::reply::{Setting, SettingList};
use crate::proto::ErrCode;

/// A writable key's check: the value to store (`None` deletes the row), or
/// why the value is refused.
type Check = fn(&str) -> Result<Option<String>, &'static str>;

fn any(v: &str) -> Result<Option<String>, &'static str> {
    Ok(Some(v.to_owned()))
}

/// Perl truth: empty and `0` are false.
fn perl_false(v: &str) -> bool {
    v.is_empty() || v == "0"
}

fn del_if_blank(v: &str) -> Result<Option<String>, &'static str> {
    Ok((!perl_false(v)).then(|| v.to_owned()))
}

fn boolean(v: &str) -> Result<Option<String>, &'static str> {
    let lower = v.to_ascii_lowercase();
    if perl_false(v) || ["0", "f", "off", "n"].iter().any(|p| lower.starts_with(p)) {
        Ok(Some("0".into()))
    } else if ["1", "t", "on", "y"].iter().any(|p| lower.starts_with(p)) {
        Ok(Some("1".into()))
    } else {
        Err("Unknown format")
    }
}

fn num(v: &str) -> Result<Option<String>, &'static str> {
    if perl_false(v) {
        Ok(Some("0".into()))
    } else if v.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Some(v.to_owned()))
    } else {
        Err("Must be numeric")
    }
}

/// `addr` or `addr/n`, IPv4 or IPv6.
fn netmask(n: &str) -> bool {
    danga_common::netmask::Netmask::parse(n).is_some()
}

fn netmask_list(v: &str) -> Result<Option<String>, &'static str> {
    let all = v
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .all(netmask);
    if all {
        Ok(Some(v.to_owned()))
    } else {
        Err("Doesn't match an acceptable netmask")
    }
}

fn rebalance_policy(v: &str) -> Result<Option<String>, &'static str> {
    if perl_false(v) {
        return Ok(None);
    }
    if v.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-'))
    {
        Ok(Some(v.to_owned()))
    } else {
        Err("Doesn't match acceptable format")
    }
}

fn fsck_checksum(v: &str) -> Result<Option<String>, &'static str> {
    match v {
        "off" => Ok(Some("off".into())),
        "class" => Ok(None),
        "MD5" | "SHA-1" => Ok(Some(v.to_owned())),
        _ => Err("Not a valid checksum algorithm"),
    }
}

fn port(v: &str) -> Result<Option<String>, &'static str> {
    if perl_false(v) {
        return Ok(None);
    }
    match v.parse::<u16>() {
        Ok(p) if p > 0 => Ok(Some(p.to_string())),
        _ => Err("Must be a port number"),
    }
}

/// The check for a writable key; `None`: not writable.
pub fn writable(key: &str) -> Option<Check> {
    let check: Check = match key {
        k if k.starts_with("slave_") => del_if_blank,
        "enable_rebalance" | "skip_devcount" | "skip_mkcol" | "case_sensitive_list_keys" => boolean,
        "memcache_servers" | "network_zones" => any,
        "memcache_ttl" | "internal_queue_limit" => num,
        k if k.starts_with("zone_") => netmask_list,
        "rebalance_policy" => rebalance_policy,
        k if k.starts_with("queue_") => any,
        "fsck_checksum" => fsck_checksum,
        k if k
            .strip_prefix(STREAM_PORT_PREFIX)
            .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())) =>
        {
            port
        }
        _ => return None,
    };
    Some(check)
}

/// Whether server_settings lists a key (fsck's own bookkeeping is hidden).
fn readable(key: &str) -> bool {
    key == "fsck_checksum" || !key.starts_with("fsck_")
}

impl<M: MetaStore> super::Tracker<M> {
    pub(super) async fn server_setting(&self, key: String) -> Done<Setting> {
        let value = self.meta.server_setting(&key).await?.unwrap_or_default();
        Ok(Setting { key, value })
    }

    pub(super) async fn server_settings(&self) -> Done<SettingList> {
        let all = self.meta.server_settings().await?;
        let settings = all.into_iter().filter(|(k, _)| readable(k)).collect();
        Ok(SettingList { settings })
    }

    /// set_server_setting: `not_writable`, `invalid_format` (with why).
    pub(super) async fn set_server_setting(&self, key: &str, value: &str) -> Done {
        let check = writable(key).ok_or(ErrCode::NotWritable)?;
        let value =
            check(value).map_err(|why| Fail::Text(ErrCode::InvalidFormat, why.to_owned()))?;
        self.meta.set_server_setting(key, value.as_deref()).await?;
        // As the original: clients notice slave_* changes by the version.
        if key.starts_with("slave_") {
            self.meta.incr_server_setting("slave_version", 1).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let check = |k: &str, v: &str| writable(k).map(|c| c(v));
        assert_eq!(check("enable_rebalance", "yes"), Some(Ok(Some("1".into()))));
        assert_eq!(check("enable_rebalance", "Off"), Some(Ok(Some("0".into()))));
        assert_eq!(check("enable_rebalance", ""), Some(Ok(Some("0".into()))));
        assert_eq!(check("skip_devcount", "maybe"), Some(Err("Unknown format")));
        assert_eq!(check("memcache_ttl", "60"), Some(Ok(Some("60".into()))));
        assert_eq!(check("memcache_ttl", "6x"), Some(Err("Must be numeric")));
        assert_eq!(check("slave_a", "0"), Some(Ok(None)));
        assert_eq!(check("slave_a", "dsn"), Some(Ok(Some("dsn".into()))));
        assert_eq!(
            check("zone_a", "10.0.0.0/8, 192.168.1.1"),
            Some(Ok(Some("10.0.0.0/8, 192.168.1.1".into())))
        );
        assert!(matches!(check("zone_a", "10.0.0.0/33"), Some(Err(_))));
        assert_eq!(check("rebalance_policy", ""), Some(Ok(None)));
        assert!(matches!(check("rebalance_policy", "a b"), Some(Err(_))));
        assert_eq!(check("fsck_checksum", "class"), Some(Ok(None)));
        assert!(matches!(check("fsck_checksum", "CRC"), Some(Err(_))));
        assert_eq!(
            check("mogstored_stream_port_3", "7601"),
            Some(Ok(Some("7601".into())))
        );
        assert!(matches!(
            check("mogstored_stream_port_3", "x"),
            Some(Err(_))
        ));
        assert_eq!(check("mogstored_stream_port_", "1"), None);
        assert_eq!(check("schema_version", "18"), None);
        assert_eq!(check("fsck_host", "x"), None);
        assert!(!readable("fsck_host") && readable("fsck_checksum") && readable("x"));
    }
}
