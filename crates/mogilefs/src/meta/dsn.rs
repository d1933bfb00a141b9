//! `db_dsn` in the original's DBI forms and as URLs.

use std::path::PathBuf;

/// Where the metadata lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dsn {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A MySQL/MariaDB database.
    Mysql {
        database: String,
        host: String,
        port: u16,
        /// From a `mysql://user:pass@...` URL (else `db_user`/`db_pass`).
        user: Option<String>,
        password: Option<String>,
    },
}

/// A DSN this tracker cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported db_dsn {0:?} (use DBI:SQLite:dbname=PATH, sqlite://PATH, DBI:mysql:database=DB;host=H;port=P, DBI:mysql:DB:HOST:PORT or mysql://H:P/DB)")]
pub struct DsnError(pub String);

impl Dsn {
    /// Parses `DBI:SQLite:dbname=PATH`, `DBI:SQLite:PATH`, `sqlite://PATH`,
    /// `DBI:mysql:DB`, `DBI:mysql:database=DB;host=H;port=P` (and the
    /// colon forms DBD::mysql also reads, `DBI:mysql:DB:HOST:PORT`,
    /// `DBI:mysql:DB:host=H;port=P`), `mysql://H[:P]/DB`.
    pub fn parse(s: &str) -> Result<Dsn, DsnError> {
        let bad = || DsnError(s.to_owned());
        let lower = s.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("dbi:sqlite:").map(|_| &s[11..]) {
            let path = rest
                .split(';')
                .map(|kv| kv.strip_prefix("dbname=").unwrap_or(kv))
                .find(|p| !p.is_empty())
                .ok_or_else(bad)?;
            return Ok(Dsn::Sqlite(PathBuf::from(path)));
        }
        if lower.starts_with("sqlite://") {
            let path = &s[9..];
            if path.is_empty() {
                return Err(bad());
            }
            return Ok(Dsn::Sqlite(PathBuf::from(path)));
        }
        if lower.starts_with("dbi:mysql:") {
            let (database, host, port) = parse_dbd_mysql(&s[10..]).ok_or_else(bad)?;
            return Ok(Dsn::Mysql {
                database,
                host,
                port,
                user: None,
                password: None,
            });
        }
        if lower.starts_with("mysql://") {
            let rest = &s[8..];
            let (auth, rest) = rest
                .rsplit_once('@')
                .map_or((None, rest), |(a, r)| (Some(a), r));
            let (user, password) = match auth.map(|a| a.split_once(':').unwrap_or((a, ""))) {
                Some((u, p)) => (Some(u.to_owned()), (!p.is_empty()).then(|| p.to_owned())),
                None => (None, None),
            };
            let (hostport, database) = rest.split_once('/').ok_or_else(bad)?;
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
                None => (hostport, 3306),
            };
            if database.is_empty() || host.is_empty() {
                return Err(bad());
            }
            return Ok(Dsn::Mysql {
                database: database.to_owned(),
                host: host.to_owned(),
                port,
                user,
                password,
            });
        }
        Err(bad())
    }
}

/// The part of a `DBI:mysql:` DSN after the driver, read as DBD::mysql
/// reads it: items separated by `:` or `;` (an IPv6 address in `[...]`
/// stays whole); `key=value` items set that key (`database`/`dbname`/`db`,
/// `host`/`hostname`, `port`; others, such as `mysql_socket`, are ignored);
/// bare items fill the database, then the host, then the port. `None`
/// without a database or with a bad port.
fn parse_dbd_mysql(rest: &str) -> Option<(String, String, u16)> {
    let (mut database, mut host, mut port) = (None::<String>, None::<String>, None::<String>);
    let mut items = Vec::new();
    let (mut item, mut bracket) = (String::new(), false);
    for c in rest.chars() {
        match c {
            '[' => bracket = true,
            ']' => bracket = false,
            ':' | ';' if !bracket => items.push(std::mem::take(&mut item)),
            c => item.push(c),
        }
    }
    items.push(item);
    for it in items.into_iter().filter(|i| !i.is_empty()) {
        match it.split_once('=') {
            Some(("database" | "dbname" | "db", v)) => database = Some(v.to_owned()),
            Some(("host" | "hostname", v)) => host = Some(v.to_owned()),
            Some(("port", v)) => port = Some(v.to_owned()),
            Some(_) => {}
            None => {
                if let Some(slot) = [&mut database, &mut host, &mut port]
                    .into_iter()
                    .find(|s| s.is_none())
                {
                    *slot = Some(it);
                }
            }
        }
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 3306,
    };
    let database = database.filter(|d| !d.is_empty())?;
    Some((database, host.unwrap_or_else(|| "localhost".into()), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let sq = |p: &str| Ok(Dsn::Sqlite(PathBuf::from(p)));
        assert_eq!(Dsn::parse("DBI:SQLite:dbname=/x/m.db"), sq("/x/m.db"));
        assert_eq!(Dsn::parse("dbi:SQLite:/x/m.db"), sq("/x/m.db"));
        assert_eq!(Dsn::parse("sqlite:///x/m.db"), sq("/x/m.db"));
        let my = Dsn::Mysql {
            database: "mogilefs".into(),
            host: "db1".into(),
            port: 3307,
            user: None,
            password: None,
        };
        assert_eq!(
            Dsn::parse("DBI:mysql:database=mogilefs;host=db1;port=3307"),
            Ok(my)
        );
        assert!(matches!(
            Dsn::parse("mysql://u:p@db1:3307/mogilefs"),
            Ok(Dsn::Mysql { port: 3307, user: Some(u), password: Some(p), .. }) if u == "u" && p == "p"
        ));
        assert!(matches!(
            Dsn::parse("DBI:mysql:mogilefs"),
            Ok(Dsn::Mysql { port: 3306, .. })
        ));
        assert!(Dsn::parse("DBI:Pg:x").is_err());
        assert!(Dsn::parse("DBI:mysql:mogilefs:host=db1;port=x").is_err());
    }

    #[test]
    fn dbd_mysql_colon_forms() {
        let my = |db: &str, host: &str, port: u16| {
            Ok(Dsn::Mysql {
                database: db.into(),
                host: host.into(),
                port,
                user: None,
                password: None,
            })
        };
        assert_eq!(
            Dsn::parse("DBI:mysql:mogilefs:host=db1;port=3307"),
            my("mogilefs", "db1", 3307)
        );
        assert_eq!(
            Dsn::parse("DBI:mysql:mogilefs:db1:3307"),
            my("mogilefs", "db1", 3307)
        );
        assert_eq!(
            Dsn::parse("DBI:mysql:mogilefs:db1"),
            my("mogilefs", "db1", 3306)
        );
        assert_eq!(
            Dsn::parse("dbi:mysql:database=m;host=[::1];port=3308"),
            my("m", "::1", 3308)
        );
        assert_eq!(
            Dsn::parse("DBI:mysql:host=db2:mogilefs:mysql_socket=/run/x.sock"),
            my("mogilefs", "db2", 3306)
        );
        assert!(Dsn::parse("DBI:mysql:host=db1;port=3306").is_err());
        assert!(Dsn::parse("sqlite://").is_err());
        assert!(Dsn::parse("DBI:mysql:").is_err());
    }
}
