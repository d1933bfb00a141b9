//! Credentials: the `user:password` files of SASL (`MEMCACHED_SASL_PWDB`)
//! and of ASCII authentication (`-Y`), and the SASL PLAIN exchange.

use std::fmt;
use std::path::Path;

/// Users and their passwords, as read from a `user:password` file.
#[derive(Clone, Default)]
pub struct Passwords {
    users: Vec<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Passwords({} users)", self.users.len())
    }
}

/// Why a password file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordsError {
    /// The file could not be read.
    #[error("could not read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line without `:`.
    #[error("{path} has a malformed entry on line {line}; should be 'user:password'")]
    Malformed {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
    },
}

impl Passwords {
    /// Parses `user:password` lines (a trailing CR is dropped; empty lines
    /// are skipped). `Err` holds the first malformed line number.
    pub fn parse(text: &[u8]) -> Result<Passwords, usize> {
        let mut users = Vec::new();
        for (n, line) in text.split(|b| *b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                return Err(n + 1);
            };
            users.push((line[..colon].to_vec(), line[colon + 1..].to_vec()));
        }
        Ok(Passwords { users })
    }

    /// Reads and parses a password file.
    pub fn load(path: &Path) -> Result<Passwords, PasswordsError> {
        let name = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| PasswordsError::Read {
            path: name.clone(),
            source,
        })?;
        Passwords::parse(&text).map_err(|line| PasswordsError::Malformed { path: name, line })
    }

    /// True if `user` exists with this password (compared in time that does
    /// not depend on where the first difference is).
    pub fn check(&self, user: &[u8], password: &[u8]) -> bool {
        let mut ok = false;
        for (u, p) in &self.users {
            ok |= u.as_slice() == user && same(p, password);
        }
        ok
    }

    /// A SASL PLAIN message: `authzid NUL authcid NUL password`; the
    /// authorization identity, when given, must be the user itself.
    pub fn check_plain(&self, msg: &[u8]) -> bool {
        let mut parts = msg.splitn(3, |b| *b == 0);
        let (Some(authz), Some(user), Some(password)) = (parts.next(), parts.next(), parts.next())
        else {
            return false;
        };
        (authz.is_empty() || authz == user) && self.check(user, password)
    }
}

fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let p = Passwords::parse(b"foo:bar\r\nbaaaz:quux\n\nx:a:b\n").expect("valid");
        assert!(p.check(b"foo", b"bar"));
        assert!(p.check(b"baaaz", b"quux"));
        assert!(p.check(b"x", b"a:b"));
        assert!(!p.check(b"foo", b"bab"));
        assert!(!p.check(b"nobody", b"bar"));
        assert_eq!(Passwords::parse(b"ok:1\nbroken\n").err(), Some(2));
    }

    #[test]
    fn plain_messages() {
        let p = Passwords::parse(b"testuser:testpass\n").expect("valid");
        assert!(p.check_plain(b"\0testuser\0testpass"));
        assert!(p.check_plain(b"testuser\0testuser\0testpass"));
        assert!(!p.check_plain(b"other\0testuser\0testpass"));
        assert!(!p.check_plain(b"\0testuser\0wrong"));
        assert!(!p.check_plain(b"testuser"));
        assert!(!p.check_plain(b""));
    }
}
