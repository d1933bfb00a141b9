//! The MogileFS-Utils configuration file (`/etc/mogilefs/mogilefs.conf`,
//! `~/.mogilefs.conf`): `key = value` lines, `#` starts a comment. Keys the
//! tools read: `trackers`, `domain`, `class`, `timeout`, `lib`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The tracker port when an address has none (MogileFS-Utils adds it too).
pub const DEFAULT_TRACKER_PORT: u16 = 7001;

/// Settings read from one or more files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UtilsConf {
    values: BTreeMap<String, String>,
}

impl UtilsConf {
    /// Parses one file's text. Lines that are not `word = value` are
    /// skipped, as the original does.
    pub fn parse(text: &str) -> UtilsConf {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() || v.is_empty() || !k.chars().all(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            values.insert(k.to_owned(), v.to_owned());
        }
        UtilsConf { values }
    }

    /// Reads the files that exist among `paths`; a key in an earlier file
    /// wins over the same key in a later one.
    pub fn load(paths: &[PathBuf]) -> io::Result<UtilsConf> {
        let mut conf = UtilsConf::default();
        for p in paths.iter().rev() {
            let text = match std::fs::read_to_string(p) {
                Ok(t) => t,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("unable to open {}: {e}", p.display()),
                    ))
                }
            };
            conf.values.extend(UtilsConf::parse(&text).values);
        }
        Ok(conf)
    }

    /// The files the tools read, most important first: `explicit`
    /// (`--conf`/`--config`), `$MOGUTILSCONF`, `~/.mogilefs.conf`,
    /// `/etc/mogilefs/mogilefs.conf`.
    pub fn default_paths(explicit: Option<&Path>) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = explicit.map(Path::to_path_buf).into_iter().collect();
        if let Some(p) = std::env::var_os("MOGUTILSCONF").filter(|p| !p.is_empty()) {
            out.push(PathBuf::from(p));
        }
        if let Some(home) = std::env::var_os("HOME").filter(|p| !p.is_empty()) {
            out.push(PathBuf::from(home).join(".mogilefs.conf"));
        }
        out.push(PathBuf::from("/etc/mogilefs/mogilefs.conf"));
        out
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// Splits `host:port, host:port` into addresses, adding `:7001` where the
/// port is missing.
pub fn parse_trackers(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let has_port = t.rsplit_once(':').is_some_and(|(h, p)| {
                !h.is_empty() && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
            });
            if has_port {
                t.to_owned()
            } else {
                format!("{t}:{DEFAULT_TRACKER_PORT}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_lines() {
        let c = UtilsConf::parse(
            "# comment\ntrackers = 10.0.0.1:7001, 10.0.0.2 # two\n  domain=foo\nnot a line\nempty =\n",
        );
        assert_eq!(c.get("trackers"), Some("10.0.0.1:7001, 10.0.0.2"));
        assert_eq!(c.get("domain"), Some("foo"));
        assert_eq!(c.get("empty"), None);
        assert_eq!(c.get("not a line"), None);
    }

    #[test]
    fn earlier_files_win() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.conf");
        let b = dir.path().join("b.conf");
        std::fs::write(&a, "domain = first\n").unwrap();
        std::fs::write(&b, "domain = second\ntrackers = t:1\n").unwrap();
        let missing = dir.path().join("missing.conf");
        let c = UtilsConf::load(&[a, missing, b]).unwrap();
        assert_eq!(c.get("domain"), Some("first"));
        assert_eq!(c.get("trackers"), Some("t:1"));
    }

    #[test]
    fn tracker_lists() {
        assert_eq!(
            parse_trackers(" 127.0.0.1:7001 ,tracker2,, [::1]:7002"),
            ["127.0.0.1:7001", "tracker2:7001", "[::1]:7002"]
        );
        assert!(parse_trackers(" , ").is_empty());
    }
}
