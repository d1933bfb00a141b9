//! Command-line pieces shared by every daemon's `Cli` (each bin keeps its
//! original's flag letters; only test plumbing lives here).

use std::path::PathBuf;

/// Flags every daemon accepts but does not advertise.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// Write one `NAME address` line per bound listener to this file, once
    /// all are bound (how tests learn the ports that port 0 chose).
    #[arg(long = "ready-file", hide = true, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
}

/// A `key = value` config file (mogilefsd.conf, mogstored.conf): `#` starts
/// a comment, blank lines are skipped. The error names the line.
pub fn parse_key_values(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(format!(
                "line {}: expected `key = value`, got {line:?}",
                n + 1
            ));
        };
        out.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    Ok(out)
}

/// Reads a `key = value` file. `must_exist` false: a missing file is empty
/// (the originals' default config paths are optional).
pub fn read_key_values(
    path: &std::path::Path,
    must_exist: bool,
) -> Result<Vec<(String, String)>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_key_values(&text).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if !must_exist && e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("reading {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_files() {
        let kv =
            parse_key_values("# c\n\ndb_dsn = DBI:SQLite:/x # trailing\nlisten=1.2.3.4:7001\n")
                .expect("parse");
        assert_eq!(
            kv,
            [
                ("db_dsn".to_owned(), "DBI:SQLite:/x".to_owned()),
                ("listen".to_owned(), "1.2.3.4:7001".to_owned())
            ]
        );
        assert!(parse_key_values("a = 1\nbad line")
            .expect_err("bad")
            .starts_with("line 2"));
        assert_eq!(
            read_key_values(std::path::Path::new("/nonexistent/x.conf"), false),
            Ok(vec![])
        );
        assert!(read_key_values(std::path::Path::new("/nonexistent/x.conf"), true).is_err());
    }
}
