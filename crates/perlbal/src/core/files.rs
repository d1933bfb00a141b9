//! What the config commands learn from the filesystem (a nodefile's text,
//! an INCLUDEd file, whether a docroot is a directory), asked through
//! [`Files`] so the engine itself does no I/O: the real filesystem is
//! [`crate::proto::expand::System`], at the edge; tests may pass a table.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The filesystem as the config commands see it.
pub trait Files: Send + Sync {
    /// A file's text.
    fn read(&self, path: &Path) -> std::io::Result<String>;
    /// Whether `path` is a file.
    fn is_file(&self, path: &Path) -> bool;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// The paths a glob pattern matches, in any order; `Err`: why the
    /// pattern is no pattern.
    fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, glob::PatternError>;
}

/// The [`Files`] a configuration uses (the real filesystem unless set).
#[derive(Clone)]
pub struct FilesHandle(pub Arc<dyn Files>);

impl Default for FilesHandle {
    fn default() -> Self {
        FilesHandle(Arc::new(crate::proto::expand::System))
    }
}

impl fmt::Debug for FilesHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Files")
    }
}

impl std::ops::Deref for FilesHandle {
    type Target = dyn Files;

    fn deref(&self) -> &(dyn Files + 'static) {
        &*self.0
    }
}

/// Nodefiles to re-read: each pool's path, and the files to read them
/// through. [`NodefileReads::read`] does the reading (off the async
/// runtime: it may block); [`super::Config::apply_nodefiles`] applies it.
#[derive(Debug, Clone, Default)]
pub struct NodefileReads {
    /// `(pool, nodefile)`.
    pub paths: Vec<(String, PathBuf)>,
    /// Where to read them.
    pub files: FilesHandle,
}

/// A nodefile as read: `(pool, nodefile, text)`.
pub type NodefileText = (String, PathBuf, String);

impl NodefileReads {
    /// Reads each nodefile; one that cannot be read is left out (its pool
    /// keeps its nodes, as before).
    pub fn read(&self) -> Vec<NodefileText> {
        self.paths
            .iter()
            .filter_map(|(pool, path)| {
                let text = self.files.read(path).ok()?;
                Some((pool.clone(), path.clone(), text))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::core::{Config, Context, Effect};
    use crate::proto::command::parse;
    use crate::proto::expand::NoLookup;

    /// A filesystem of a few texts, changeable.
    #[derive(Default)]
    struct Table(Mutex<BTreeMap<PathBuf, String>>);

    impl Table {
        fn put(&self, path: &str, text: &str) {
            let mut t = self.0.lock().expect("table");
            t.insert(PathBuf::from(path), text.to_owned());
        }
    }

    impl Files for Table {
        fn read(&self, path: &Path) -> std::io::Result<String> {
            let t = self.0.lock().expect("table");
            t.get(path)
                .cloned()
                .ok_or_else(|| std::io::ErrorKind::NotFound.into())
        }
        fn is_file(&self, path: &Path) -> bool {
            self.0.lock().expect("table").contains_key(path)
        }
        fn is_dir(&self, path: &Path) -> bool {
            let t = self.0.lock().expect("table");
            t.keys().any(|k| k.parent() == Some(path))
        }
        fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, glob::PatternError> {
            let dir = pattern.strip_suffix("/*.conf").ok_or(glob::PatternError {
                pos: 0,
                msg: "only dir/*.conf",
            })?;
            let t = self.0.lock().expect("table");
            Ok(t.keys()
                .filter(|k| {
                    k.parent() == Some(Path::new(dir)) && k.extension().is_some_and(|e| e == "conf")
                })
                .rev()
                .cloned()
                .collect())
        }
    }

    fn run(cfg: &mut Config, ctx: &mut Context, line: &str) -> Result<Effect, String> {
        let cmd = parse(line, &NoLookup).expect("parses").expect("a command");
        cfg.apply(&cmd, ctx).map_err(String::from)
    }

    #[test]
    fn applying_nodefiles_read_elsewhere_is_pure() {
        let mut cfg = Config::with_files(Arc::new(Table::default()));
        let mut ctx = Context::default();
        run(&mut cfg, &mut ctx, "CREATE POOL p").expect("pool");
        cfg.pools.get_mut("p").expect("p").nodefile = Some("/n".into());
        let read = |text: &str| vec![("p".to_owned(), PathBuf::from("/n"), text.to_owned())];
        assert!(cfg.apply_nodefiles(&read("10.0.0.1:81\n10.0.0.2\n")));
        assert_eq!(
            cfg.pools["p"].nodes,
            [
                "10.0.0.1:81".parse().expect("a"),
                "10.0.0.2:80".parse().expect("b")
            ]
        );
        assert!(!cfg.apply_nodefiles(&read("10.0.0.1:81\n10.0.0.2:80\n")));
        // A text read for a nodefile the pool no longer has, or for a pool
        // gone since, changes nothing.
        let stale = vec![("p".to_owned(), PathBuf::from("/old"), "10.9.9.9".to_owned())];
        assert!(!cfg.apply_nodefiles(&stale));
        let gone = vec![("q".to_owned(), PathBuf::from("/n"), "10.9.9.9".to_owned())];
        assert!(!cfg.apply_nodefiles(&gone));
        assert_eq!(cfg.pools["p"].nodes.len(), 2);
    }

    #[test]
    fn the_commands_read_through_the_files_given() {
        let table = Arc::new(Table::default());
        table.put("/virtual/nodes", "10.0.0.7:8080\n");
        table.put("/virtual/docs/index.html", "hi");
        table.put("/virtual/conf.d/b.conf", "CREATE SERVICE b\n");
        table.put("/virtual/conf.d/a.conf", "CREATE SERVICE a\n");
        let mut cfg = Config::with_files(table.clone());
        let mut ctx = Context::default();
        for line in [
            "CREATE POOL p",
            "SET p.nodefile = /virtual/nodes",
            "CREATE SERVICE w",
            "SET w.role = web_server",
            "SET w.docroot = /virtual/docs",
            "LOAD include",
            "INCLUDE = /virtual/conf.d/*.conf",
        ] {
            assert_eq!(run(&mut cfg, &mut ctx, line), Ok(Effect::None), "{line}");
        }
        assert_eq!(
            cfg.pools["p"].nodes,
            ["10.0.0.7:8080".parse().expect("node")]
        );
        assert!(cfg.services.contains_key("a") && cfg.services.contains_key("b"));
        assert_eq!(
            run(&mut cfg, &mut ctx, "SET w.docroot = /virtual/nowhere"),
            Err("Directory not found for service w".into())
        );
        assert_eq!(
            run(&mut cfg, &mut ctx, "SET p.nodefile = /virtual/missing"),
            Err("File not found".into())
        );
        // The re-read goes through them too: read, then apply.
        table.put("/virtual/nodes", "10.0.0.8\n");
        let reads = cfg.nodefile_reads();
        assert_eq!(
            reads.paths,
            [("p".to_owned(), PathBuf::from("/virtual/nodes"))]
        );
        let read = reads.read();
        assert!(cfg.apply_nodefiles(&read));
        assert_eq!(cfg.pools["p"].nodes, ["10.0.0.8:80".parse().expect("node")]);
        assert!(!cfg.reload_nodefiles());
    }
}
