//! The part of Perlbal's configuration language this build runs: services
//! with the `management` role. A config file is a list of management
//! commands; the first failing line stops start-up, naming the line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One `CREATE SERVICE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub role: Option<String>,
    pub listen: Option<SocketAddr>,
    pub enabled: bool,
    pub settings: BTreeMap<String, String>,
}

/// The whole configuration.
#[derive(Debug, Default)]
pub struct Config {
    pub services: Vec<Service>,
    pub pools: Vec<String>,
    pub pidfile: Option<PathBuf>,
    pub max_connections: Option<usize>,
    current: Option<usize>,
}

impl Config {
    fn service(&mut self, name: &str) -> Result<&mut Service, String> {
        self.services
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or_else(|| format!("service '{name}' does not exist"))
    }

    /// Runs one config line.
    pub fn apply(&mut self, line: &str) -> Result<(), String> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return Ok(());
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let verb = words[0].to_ascii_uppercase();
        match (verb.as_str(), &words[1..]) {
            ("CREATE", [kind, name]) if kind.eq_ignore_ascii_case("service") => {
                if self.services.iter().any(|s| s.name == *name) {
                    return Err(format!("service '{name}' already exists"));
                }
                self.services.push(Service {
                    name: (*name).to_owned(),
                    ..Service::default()
                });
                self.current = Some(self.services.len() - 1);
                Ok(())
            }
            ("CREATE", [kind, name]) if kind.eq_ignore_ascii_case("pool") => {
                self.pools.push((*name).to_owned());
                Ok(())
            }
            ("SET", _) => self.set(&line[3..]),
            ("ENABLE" | "DISABLE", [name]) => {
                let svc = self.service(name)?;
                svc.enabled = verb == "ENABLE";
                Ok(())
            }
            ("SERVER", _) => {
                let (k, v) = line[6..]
                    .split_once('=')
                    .ok_or("usage: SERVER <key> = <value>")?;
                match k.trim().to_ascii_lowercase().as_str() {
                    "pidfile" => self.pidfile = Some(v.trim().into()),
                    "max_connections" => {
                        self.max_connections = Some(
                            v.trim()
                                .parse()
                                .map_err(|_| format!("invalid max_connections '{}'", v.trim()))?,
                        )
                    }
                    _ => {}
                }
                Ok(())
            }
            _ => Err(format!("unknown command: {}", words[0])),
        }
    }

    /// `SET [svc.]key = value`, `SET svc key = value`, or `SET key = value`
    /// for the service created last.
    fn set(&mut self, rest: &str) -> Result<(), String> {
        let (lhs, value) = rest
            .split_once('=')
            .ok_or("usage: SET [service.]<key> = <value>")?;
        let value = value.trim().to_owned();
        let lhs: Vec<&str> = lhs.split_whitespace().collect();
        let (svc, key) = match lhs.as_slice() {
            [one] => match one.split_once('.') {
                Some((s, k)) => (s.to_owned(), k.to_owned()),
                None => {
                    let i = self
                        .current
                        .ok_or("SET without a service: CREATE SERVICE first")?;
                    (self.services[i].name.clone(), (*one).to_owned())
                }
            },
            [s, k] => ((*s).to_owned(), (*k).to_owned()),
            _ => return Err("usage: SET [service.]<key> = <value>".into()),
        };
        let key = key.to_ascii_lowercase();
        let svc = self.service(&svc)?;
        match key.as_str() {
            "role" => {
                if value != "management" {
                    return Err(format!(
                        "role '{value}' is not available in this build (management only)"
                    ));
                }
                svc.role = Some(value);
            }
            "listen" => {
                let addr = if value.contains(':') {
                    value.clone()
                } else {
                    format!("0.0.0.0:{value}")
                };
                svc.listen = Some(
                    addr.parse()
                        .map_err(|_| format!("invalid listen address '{value}'"))?,
                );
            }
            _ => {
                svc.settings.insert(key, value);
            }
        }
        Ok(())
    }

    /// Runs every line of a config file.
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut cfg = Config::default();
        for (n, line) in text.lines().enumerate() {
            cfg.apply(line)
                .map_err(|e| format!("line {}: '{}': ERROR: {e}", n + 1, line.trim()))?;
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn management_service_from_a_config() {
        let cfg = Config::parse("# mgmt\nCREATE SERVICE mgmt\n  SET role = management\n  SET listen = 127.0.0.1:60000\nENABLE mgmt\nSERVER pidfile = /tmp/p.pid\n")
            .expect("parse");
        assert_eq!(
            cfg.services[0].listen,
            Some("127.0.0.1:60000".parse().expect("addr"))
        );
        assert!(cfg.services[0].enabled);
        assert_eq!(cfg.pidfile, Some(PathBuf::from("/tmp/p.pid")));
        let err = Config::parse("CREATE SERVICE a\nSET a.role = reverse_proxy\n")
            .expect_err("unsupported");
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(Config::parse("FROB x")
            .expect_err("unknown")
            .contains("unknown command"));
        assert!(Config::parse("ENABLE nope").is_err());
    }
}
