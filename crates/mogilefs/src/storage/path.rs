//! Request paths to files under the docroot, and nothing else.
//!
//! [`sanitize`] is pure: it decodes the request target and refuses `.`/`..`
//! segments (also when percent-encoded), encoded slashes, NUL and control
//! bytes, backslashes and empty segments. [`resolve_existing`] and
//! [`resolve_new`] then check the filesystem: after following symlinks the
//! path must still lie inside the canonical docroot.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use danga_common::beneath::{self, Open, Refused};

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Malformed: not absolute, bad escapes, empty or odd segments (400).
    #[error("bad request path")]
    Bad,
    /// Well formed but pointing out of the docroot (403).
    #[error("path outside the docroot")]
    Forbidden,
    /// A PUT below a top folder (a device) that does not exist (404).
    #[error("no such top-level folder")]
    NoTop,
}

impl PathError {
    /// The HTTP status this refusal is answered with.
    pub fn status(self) -> u16 {
        match self {
            PathError::Bad => 400,
            PathError::Forbidden => 403,
            PathError::NoTop => 404,
        }
    }
}

/// Decodes a request target (`/dev1/0/000/000/0000000123.fid`, maybe with a
/// query) into a relative path of plain segments.
pub fn sanitize(target: &str) -> Result<PathBuf, PathError> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let rest = path.strip_prefix('/').ok_or(PathError::Bad)?;
    if rest.is_empty() {
        return Err(PathError::Bad);
    }
    let mut out = PathBuf::new();
    for raw in rest.split('/') {
        let seg = decode_segment(raw)?;
        match seg.as_slice() {
            b"" => return Err(PathError::Bad),
            b"." | b".." => return Err(PathError::Forbidden),
            _ => {}
        }
        out.push(OsStr::from_bytes(&seg));
    }
    Ok(out)
}

/// As [`sanitize`], for reads: `/` is the docroot itself (an empty path) and
/// one trailing `/` names a directory, as a browser or `mogadm check` asks.
pub fn sanitize_read(target: &str) -> Result<PathBuf, PathError> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if path == "/" {
        return Ok(PathBuf::new());
    }
    sanitize(path.strip_suffix('/').unwrap_or(path))
}

/// Percent-decodes one segment, refusing bytes that could change its meaning.
fn decode_segment(raw: &str) -> Result<Vec<u8>, PathError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(PathError::Bad)?;
            let hi = hex_val(hex[0]).ok_or(PathError::Bad)?;
            let lo = hex_val(hex[1]).ok_or(PathError::Bad)?;
            i += 3;
            let b = (hi << 4) | lo;
            if b == b'/' {
                return Err(PathError::Forbidden);
            }
            b
        } else {
            i += 1;
            bytes[i - 1]
        };
        if b < 0x20 || b == 0x7f || b == b'\\' {
            return Err(PathError::Bad);
        }
        out.push(b);
    }
    Ok(out)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The docroot after following symlinks, against which paths are checked.
pub fn canonical_root(docroot: &Path) -> io::Result<PathBuf> {
    std::fs::canonicalize(docroot)
}

/// An existing file or directory for `rel`; `Ok(None)` if it does not exist,
/// `Forbidden` if symlinks lead it out of `root` (canonical). Blocking: run
/// it where blocking is allowed (see [`blocking`]).
pub fn resolve_existing(root: &Path, rel: &Path) -> Result<Option<PathBuf>, PathError> {
    match beneath::confine(root, &root.join(rel)) {
        Ok(real) => Ok(Some(real)),
        Err(Refused::Outside) => Err(PathError::Forbidden),
        Err(_) => Ok(None),
    }
}

/// Where a new file for `rel` goes: its parent directories are created (as
/// PUT does) and checked to stay inside `root`. The returned path is the
/// canonical parent joined with the file name. Blocking, as
/// [`resolve_existing`].
pub fn resolve_new(root: &Path, rel: &Path) -> Result<PathBuf, ResolveError> {
    let name = rel.file_name().ok_or(PathError::Bad)?;
    let parent = rel.parent().ok_or(PathError::Bad)?;
    if parent.as_os_str().is_empty() {
        // min_put_directory = 1: no files at the top of the docroot.
        return Err(PathError::Forbidden.into());
    }
    let inside = |p: &Path| match std::fs::canonicalize(p) {
        Ok(real) if real.starts_with(root) => Ok(real),
        Ok(_) => Err(ResolveError::from(PathError::Forbidden)),
        Err(e) => Err(ResolveError::Io(e)),
    };
    let dir = root.join(parent);
    if std::fs::symlink_metadata(&dir).is_ok() {
        // The usual case: the folder is there, nothing to create.
        return Ok(inside(&dir)?.join(name));
    }
    // The top folder (the device, `devN`) is never created: a PUT for a
    // device this node does not have is 404, as Perlbal's web server.
    let top = rel.components().next().ok_or(PathError::Bad)?;
    if std::fs::symlink_metadata(root.join(top)).is_err() {
        return Err(PathError::NoTop.into());
    }
    // Check the deepest existing ancestor before creating anything below it.
    let mut existing = dir.clone();
    while std::fs::symlink_metadata(&existing).is_err() {
        match existing.parent() {
            Some(p) => existing = p.to_path_buf(),
            None => return Err(PathError::Forbidden.into()),
        }
    }
    inside(&existing)?;
    std::fs::create_dir_all(&dir).map_err(ResolveError::Io)?;
    // Again after creating, in case a component was swapped meanwhile.
    Ok(inside(&dir)?.join(name))
}

/// What opening a path beneath the docroot's handle found.
#[derive(Debug)]
pub enum Beneath {
    /// Opened: it lies inside the docroot, symlinks followed.
    Opened(std::os::fd::OwnedFd),
    /// It does not exist.
    Missing,
    /// The kernel could not say (no `openat2`, an absolute or outward
    /// symlink, anything else): [`resolve_existing`] / [`resolve_new`]
    /// decide.
    Unsure,
}

/// Opens the docroot itself as a handle for [`open_beneath`].
pub fn open_root(root: &Path) -> Option<std::os::fd::OwnedFd> {
    use nix::fcntl::OFlag;
    nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()
}

impl From<Result<std::os::fd::OwnedFd, Refused>> for Beneath {
    fn from(r: Result<std::os::fd::OwnedFd, Refused>) -> Beneath {
        match r {
            Ok(fd) => Beneath::Opened(fd),
            Err(Refused::Missing) => Beneath::Missing,
            Err(_) => Beneath::Unsure,
        }
    }
}

/// Opens `rel` (a file for reading, or with `dir` a directory handle)
/// beneath `root` in one system call that refuses to leave it: what
/// [`resolve_existing`] finds with a readlink per path component. Blocking.
pub fn open_beneath(root: &std::os::fd::OwnedFd, rel: &Path, dir: bool) -> Beneath {
    if rel.as_os_str().is_empty() {
        return Beneath::Unsure;
    }
    let what = if dir { Open::Dir } else { Open::Read };
    beneath::open_beneath(root, rel, what).into()
}

/// As [`open_beneath`] for a file, but only when every component of the
/// path is in the kernel's cache: then it does not wait for the disk and
/// may run on an async thread. `Unsure` when the kernel would have to
/// read, or cannot say.
pub fn open_cached_beneath(root: &std::os::fd::OwnedFd, rel: &Path) -> Beneath {
    if rel.as_os_str().is_empty() {
        return Beneath::Unsure;
    }
    beneath::open_beneath(root, rel, Open::ReadCached).into()
}

/// Opens an existing file for reading without blocking on what is not a
/// regular file (a FIFO waits for a writer otherwise); refuses those with
/// `InvalidInput`. Blocking on the disk, as [`resolve_existing`].
pub fn open_regular(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits() | nix::fcntl::OFlag::O_NOCTTY.bits())
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Runs blocking filesystem work on tokio's blocking threads: one hand-off
/// for all the calls a request needs, rather than one per call.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("filesystem task: {e}")))
}

/// A refusal or a filesystem failure while placing a new file.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Refused path.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The filesystem failed (500).
    #[error("filesystem: {0}")]
    Io(io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::Component;

    #[test]
    fn fid_paths_pass_through() {
        assert_eq!(
            sanitize("/dev7/0/000/000/0000000123.fid").as_deref(),
            Ok(Path::new("dev7/0/000/000/0000000123.fid"))
        );
        assert_eq!(
            sanitize("/dev1/usage?x=1").as_deref(),
            Ok(Path::new("dev1/usage"))
        );
        assert_eq!(
            sanitize("/dev1/a%20b").as_deref(),
            Ok(Path::new("dev1/a b"))
        );
    }

    #[test]
    fn reads_may_name_the_docroot_and_directories() {
        assert_eq!(sanitize_read("/").as_deref(), Ok(Path::new("")));
        assert_eq!(sanitize_read("/?x").as_deref(), Ok(Path::new("")));
        assert_eq!(sanitize_read("/dev1/").as_deref(), Ok(Path::new("dev1")));
        assert_eq!(sanitize_read("/dev1//"), Err(PathError::Bad));
        assert_eq!(sanitize_read("/../"), Err(PathError::Forbidden));
        assert_eq!(sanitize_read(""), Err(PathError::Bad));
    }

    #[test]
    fn traversal_is_refused() {
        for bad in [
            "/dev1/../../etc/passwd",
            "/..",
            "/dev1/%2e%2e/x",
            "/dev1/%2E%2E/x",
            "/dev1/.%2e/x",
            "/dev1/./x",
            "/dev1/..%2fetc",
            "/dev1%2f..%2fx",
        ] {
            assert_eq!(sanitize(bad), Err(PathError::Forbidden), "{bad}");
        }
        for bad in [
            "",
            "/",
            "dev1/x",
            "//etc/passwd",
            "/dev1//x",
            "/dev1/x/",
            "/dev1/%zz",
            "/dev1/%2",
            "/dev1/a%00b",
            "/dev1/a\\..\\b",
            "/dev1/%5c..",
            "http://host/dev1/x",
        ] {
            assert_eq!(sanitize(bad), Err(PathError::Bad), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn accepted_paths_stay_below_the_root(
            s in "[/.%2eEfF5cC0a-z\\\\?]{0,40}"
        ) {
            if let Ok(rel) = sanitize(&s) {
                prop_assert!(rel.components().all(|c| matches!(c, Component::Normal(_))));
                let root = Path::new("/srv/docroot");
                prop_assert!(root.join(&rel).starts_with(root));
                prop_assert!(rel.components().count() >= 1);
            }
        }

        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = sanitize(&s);
        }
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let outside = tempfile::tempdir().expect("outside");
        std::fs::write(outside.path().join("secret"), b"x").expect("secret");
        let docroot = tempfile::tempdir().expect("docroot");
        std::fs::create_dir(docroot.path().join("dev1")).expect("dev1");
        std::os::unix::fs::symlink(outside.path(), docroot.path().join("dev1/out"))
            .expect("symlink");
        let root = canonical_root(docroot.path()).expect("root");
        let rel = sanitize("/dev1/out/secret").expect("well formed");
        assert_eq!(resolve_existing(&root, &rel), Err(PathError::Forbidden));
        let rel = sanitize("/dev1/out/new/file").expect("well formed");
        assert!(matches!(
            resolve_new(&root, &rel),
            Err(ResolveError::Path(PathError::Forbidden))
        ));
        assert!(
            !outside.path().join("new").exists(),
            "nothing created outside"
        );
        // A folder that exists already, but through the link: refused too.
        let rel = sanitize("/dev1/out/other").expect("well formed");
        assert!(matches!(
            resolve_new(&root, &rel),
            Err(ResolveError::Path(PathError::Forbidden))
        ));
        let rel = sanitize("/dev1/0/000/000/0000000123.fid").expect("fid");
        let placed = resolve_new(&root, &rel).expect("inside");
        assert_eq!(placed, root.join("dev1/0/000/000/0000000123.fid"));
        assert_eq!(resolve_existing(&root, &rel), Ok(None));
        assert!(matches!(
            resolve_new(&root, Path::new("top")),
            Err(ResolveError::Path(PathError::Forbidden))
        ));
        // In one call: inside, missing, or not for the kernel to say.
        let fd = open_root(&root).expect("root handle");
        std::fs::write(root.join("dev1/0/000/000/0000000123.fid"), b"y").expect("fid");
        assert!(matches!(
            open_beneath(&fd, Path::new("dev1/0/000/000/0000000123.fid"), false),
            Beneath::Opened(_)
        ));
        assert!(matches!(
            open_beneath(&fd, Path::new("dev1/0"), true),
            Beneath::Opened(_)
        ));
        assert!(matches!(
            open_beneath(&fd, Path::new("dev1/nope"), false),
            Beneath::Missing
        ));
        assert!(matches!(
            open_beneath(&fd, Path::new("dev1/out/secret"), false),
            Beneath::Unsure
        ));
        assert!(matches!(
            open_beneath(&fd, Path::new(""), false),
            Beneath::Unsure
        ));
        // Just written, so cached: in place; a link leading out never is.
        assert!(matches!(
            open_cached_beneath(&fd, Path::new("dev1/0/000/000/0000000123.fid")),
            Beneath::Opened(_)
        ));
        assert!(matches!(
            open_cached_beneath(&fd, Path::new("dev1/out/secret")),
            Beneath::Unsure
        ));
    }
}
