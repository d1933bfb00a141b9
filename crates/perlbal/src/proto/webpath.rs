//! Request targets of the web server turned into paths below the docroot,
//! with 1.80's answers, stricter where 1.80 let a request out of the
//! docroot: any `..` segment (also percent-encoded, also at the end, where
//! 1.80's `m!/\.\./!` missed it), an encoded slash (`%2f`) and a NUL byte
//! are refused before the filesystem is touched. Symlinks are the
//! server's business (it checks the resolved path). Pure.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// A refusal: the status and the message 1.80 puts under the `<h1>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub code: u16,
    /// The text after the heading (may be empty).
    pub msg: &'static str,
}

const fn refuse(code: u16, msg: &'static str) -> Refusal {
    Refusal { code, msg }
}

/// `403 Bogus URL`: traversal and its disguises.
pub const BOGUS_URL: Refusal = refuse(403, "Bogus URL");
const BOGUS_FILENAMES: Refusal = refuse(403, "Bogus filenames");
const INVALID_FILENAME: Refusal = refuse(400, "Invalid filename");

/// The most files one `??` request may name (1.80's limit).
pub const MAX_CONCAT: usize = 100;

/// What a GET/HEAD asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One file or directory, relative to the docroot (empty: the root).
    Path(PathBuf),
    /// `/base/??a,b`: files relative to `base`, sent one after another.
    Concat {
        /// The directory, relative to the docroot.
        base: PathBuf,
        /// The files, relative to `base`.
        files: Vec<PathBuf>,
    },
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decodes (valid `%xx` pairs only, as 1.80's `durl`), refusing an
/// encoded slash and NUL bytes.
pub fn decode(raw: &str, refusal: Refusal) -> Result<Vec<u8>, Refusal> {
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let mut c = b[i];
        if c == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                c = h << 4 | l;
                if c == b'/' {
                    return Err(refusal);
                }
                i += 2;
            }
        }
        if c == 0 {
            return Err(refusal);
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

/// A decoded path as segments below its base: no `..`, leading, doubled
/// and `.` segments dropped.
fn relative(decoded: &[u8], refusal: Refusal) -> Result<PathBuf, Refusal> {
    let mut rel = PathBuf::new();
    for seg in decoded.split(|c| *c == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => return Err(refusal),
            s => rel.push(OsStr::from_bytes(s)),
        }
    }
    Ok(rel)
}

/// A GET/HEAD target. Concatenation is recognised here; whether it is
/// enabled is the caller's question (asked before the names are checked,
/// as 1.80 does).
pub fn get_target(uri: &str, concat_enabled: bool) -> Result<Target, Refusal> {
    if !uri.starts_with('/') {
        return Err(BOGUS_URL);
    }
    if let Some((base, list)) = uri.split_once("??") {
        let base = decode(base, BOGUS_URL)?;
        if relative(&base, BOGUS_URL).is_err() {
            return Err(BOGUS_URL);
        }
        if base.last() != Some(&b'/') {
            return Err(refuse(500, "Base directory (before ??) must end in slash."));
        }
        // A trailing `?v=...` (cache busting) is not a file.
        let list = list.split('?').next().unwrap_or("");
        if !concat_enabled {
            return Err(refuse(403, "Multiple file serving isn't enabled"));
        }
        let names: Vec<&str> = list.split(',').filter(|n| !n.is_empty()).collect();
        if names.len() > MAX_CONCAT {
            return Err(refuse(403, "Too many files requested"));
        }
        let files = names
            .iter()
            .map(|n| {
                let d = decode(n, BOGUS_FILENAMES)?;
                let rel = relative(&d, BOGUS_FILENAMES)?;
                if rel.as_os_str().is_empty() {
                    return Err(BOGUS_FILENAMES);
                }
                Ok(rel)
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Target::Concat {
            base: relative(&base, BOGUS_URL)?,
            files,
        });
    }
    let path = uri.split('?').next().unwrap_or("");
    let decoded = decode(path, BOGUS_URL)?;
    Ok(Target::Path(relative(&decoded, BOGUS_URL)?))
}

/// A path segment PUT and DELETE accept (1.80's `[\w\-\.]+`).
fn plain_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A PUT target (1.80's `^((?:/[\w\-\.]+)*)/([\w\-\.]+)$`, no `..`
/// anywhere): its directories and its file name.
pub fn put_target(uri: &str) -> Result<(Vec<String>, String), Refusal> {
    if uri.contains("..") {
        return Err(INVALID_FILENAME);
    }
    let rest = uri.strip_prefix('/').ok_or(INVALID_FILENAME)?;
    let mut segs: Vec<&str> = rest.split('/').collect();
    if !segs.iter().all(|s| plain_segment(s)) {
        return Err(INVALID_FILENAME);
    }
    let file = segs.pop().ok_or(INVALID_FILENAME)?.to_owned();
    let dirs = segs
        .into_iter()
        .filter(|s| *s != ".")
        .map(str::to_owned)
        .collect();
    Ok((dirs, file))
}

/// A DELETE target (1.80's `^(?:/[\w\-\.]+)+$`, no `..`).
pub fn delete_target(uri: &str) -> Result<PathBuf, Refusal> {
    let (dirs, file) = put_target(uri)?;
    let mut p: PathBuf = dirs.iter().collect();
    p.push(file);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::{Component, Path};

    #[test]
    fn plain_paths_and_queries() {
        assert_eq!(
            get_target("/a/b.txt?x=1", false),
            Ok(Target::Path("a/b.txt".into()))
        );
        assert_eq!(get_target("/", false), Ok(Target::Path(PathBuf::new())));
        assert_eq!(
            get_target("/a%20b//./c", false),
            Ok(Target::Path("a b/c".into()))
        );
        assert_eq!(get_target("/100%", false), Ok(Target::Path("100%".into())));
    }

    #[test]
    fn traversal_in_every_disguise_is_a_bogus_url() {
        for bad in [
            "/../etc/passwd",
            "/a/../../etc",
            "/..",
            "/a/..",
            "/%2e%2e/etc",
            "/%2E%2E/etc",
            "/.%2e/x",
            "/a%2f..%2f..%2fetc",
            "/a%2Fb",
            "/a%00b",
            "relative",
            "*",
        ] {
            assert_eq!(get_target(bad, true), Err(BOGUS_URL), "{bad}");
        }
    }

    #[test]
    fn concatenation_as_1_80_answers_it() {
        assert_eq!(
            get_target("/css/??a.css,sub/b.css?v=3", true),
            Ok(Target::Concat {
                base: "css".into(),
                files: vec!["a.css".into(), "sub/b.css".into()]
            })
        );
        assert_eq!(
            get_target("/css/??a.css", false).map_err(|r| r.code),
            Err(403)
        );
        assert_eq!(
            get_target("/css??a.css", true).map_err(|r| r.code),
            Err(500)
        );
        assert_eq!(get_target("/??../x", true), Err(BOGUS_FILENAMES));
        assert_eq!(get_target("/??%2e%2e/x", true), Err(BOGUS_FILENAMES));
        assert_eq!(get_target("/../??x", true), Err(BOGUS_URL));
        let many = format!("/??{}", vec!["a"; 101].join(","));
        assert_eq!(
            get_target(&many, true).map_err(|r| r.msg),
            Err("Too many files requested")
        );
    }

    #[test]
    fn put_and_delete_names() {
        assert_eq!(
            put_target("/a/b-c/d_e.txt"),
            Ok((vec!["a".into(), "b-c".into()], "d_e.txt".into()))
        );
        assert_eq!(put_target("/f"), Ok((vec![], "f".into())));
        for bad in [
            "/a/../b", "/a%20b", "/a//b", "/a/", "/", "a", "/x?y", "/...",
        ] {
            assert_eq!(put_target(bad), Err(INVALID_FILENAME), "{bad}");
        }
        assert_eq!(delete_target("/a/b"), Ok(PathBuf::from("a/b")));
    }

    proptest! {
        #[test]
        fn accepted_paths_stay_below_the_root(uri in "/[a-z%./2eEfF0?,]{0,24}") {
            match get_target(&uri, true) {
                Ok(Target::Path(p)) => prop_assert!(p.components().all(|c| matches!(c, Component::Normal(_)))),
                Ok(Target::Concat { base, files }) => {
                    for p in files.iter().chain([&base]) {
                        prop_assert!(p.components().all(|c| matches!(c, Component::Normal(_))));
                    }
                }
                Err(_) => {}
            }
            if let Ok(p) = delete_target(&uri) {
                prop_assert!(!Path::new(&p).components().any(|c| c == Component::ParentDir));
            }
        }
    }
}
