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
#[error("unsupported db_dsn {0:?} (use DBI:SQLite:dbname=PATH, sqlite://PATH, DBI:mysql:database=DB;host=H;port=P or mysql://H:P/DB)")]
pub struct DsnError(pub String);

impl Dsn {
    /// Parses `DBI:SQLite:dbname=PATH`, `DBI:SQLite:PATH`, `sqlite://PATH`,
    /// `DBI:mysql:DB`, `DBI:mysql:database=DB;host=H;port=P`,
    /// `mysql://H[:P]/DB`.
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
            let (mut database, mut host, mut port) = (String::new(), "localhost".to_owned(), 3306);
            for kv in s[10..].split(';').filter(|kv| !kv.is_empty()) {
                match kv.split_once('=') {
                    Some(("database" | "dbname" | "db", v)) => database = v.to_owned(),
                    Some(("host" | "hostname", v)) => host = v.to_owned(),
                    Some(("port", v)) => port = v.parse().map_err(|_| bad())?,
                    Some(_) => {}
                    None => database = kv.to_owned(),
                }
            }
            if database.is_empty() {
                return Err(bad());
            }
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
        assert!(Dsn::parse("sqlite://").is_err());
        assert!(Dsn::parse("DBI:mysql:").is_err());
    }
}
