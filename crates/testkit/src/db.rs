//! MariaDB test databases: one per test, created through the `mariadb`
//! client from the URL in `DANGA_MYSQL_URL`, dropped when the test ends.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// The environment variable the test command sets.
pub const URL_VAR: &str = "DANGA_MYSQL_URL";

/// A database of its own for one test.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    host: String,
    port: String,
    user: String,
    password: String,
}

struct Server {
    user: String,
    password: String,
    host: String,
    port: String,
}

/// Splits `mysql://user[:pass]@host[:port][/db]`.
fn parse_url(url: &str) -> Option<Server> {
    let rest = url
        .strip_prefix("mysql://")
        .or_else(|| url.strip_prefix("mariadb://"))?;
    let (auth, hostpart) = rest.rsplit_once('@').unwrap_or(("root", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let hostport = hostpart.split('/').next()?;
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "3306"));
    Some(Server {
        user: user.to_owned(),
        password: password.to_owned(),
        host: host.to_owned(),
        port: port.to_owned(),
    })
}

impl TestDb {
    /// Creates a fresh database named after `label`. Returns `None` (after
    /// saying why) when MariaDB is not configured or not reachable outside CI;
    /// panics under CI.
    pub fn create(label: &str) -> Option<TestDb> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let base = std::env::var(URL_VAR).ok();
        if !crate::require(&format!("MariaDB (set {URL_VAR})"), base.is_some()) {
            return None;
        }
        let base = base.unwrap_or_default();
        let server =
            parse_url(&base).unwrap_or_else(|| panic!("{URL_VAR}={base} is not a mysql:// URL"));
        if !crate::require("the mariadb client", crate::have_command("mariadb")) {
            return None;
        }
        let clean: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(32)
            .collect();
        let name = format!(
            "danga_{clean}_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let auth = if server.password.is_empty() {
            server.user.clone()
        } else {
            format!("{}:{}", server.user, server.password)
        };
        let db = TestDb {
            url: format!("mysql://{auth}@{}:{}/{name}", server.host, server.port),
            name,
            host: server.host,
            port: server.port,
            user: server.user,
            password: server.password,
        };
        match db.sql(&format!("CREATE DATABASE `{}`", db.name)) {
            Ok(_) => Some(db),
            Err(e) => {
                crate::require(&format!("a reachable MariaDB ({e})"), false);
                None
            }
        }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `mysql://` URL that selects this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs SQL through the `mariadb` client (batch mode, no column names)
    /// and returns its output.
    pub fn sql(&self, sql: &str) -> Result<String, String> {
        let mut cmd = Command::new("mariadb");
        cmd.args(["--batch", "--skip-column-names", "--protocol=TCP"])
            .arg(format!("--host={}", self.host))
            .arg(format!("--port={}", self.port))
            .arg(format!("--user={}", self.user))
            .arg("-e")
            .arg(sql);
        if !self.password.is_empty() {
            cmd.env("MYSQL_PWD", &self.password);
        }
        let out = cmd.output().map_err(|e| format!("running mariadb: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// Runs SQL with this database selected.
    pub fn sql_in(&self, sql: &str) -> Result<String, String> {
        self.sql(&format!("USE `{}`; {sql}", self.name))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Bounded: a connection the test left with an open transaction (a
        // pool closing in the background) holds a metadata lock that would
        // make DROP wait for ever (MariaDB's default is a year). After 20 s
        // the database is left behind instead.
        let _ = self.sql(&format!(
            "SET SESSION lock_wait_timeout = 20; DROP DATABASE IF EXISTS `{}`",
            self.name
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_their_parts() {
        let s = parse_url("mysql://root@127.0.0.1:3306/test").expect("url");
        assert_eq!((s.user.as_str(), s.password.as_str()), ("root", ""));
        assert_eq!((s.host.as_str(), s.port.as_str()), ("127.0.0.1", "3306"));
        let s = parse_url("mysql://u:p@db/x").expect("url");
        assert_eq!(
            (s.user.as_str(), s.password.as_str(), s.port.as_str()),
            ("u", "p", "3306")
        );
        assert!(parse_url("postgres://x").is_none());
    }
}
