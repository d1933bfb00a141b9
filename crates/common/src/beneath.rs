//! Opening a path below a root directory so that nothing outside it can be
//! reached, whatever the path's `..` and symlinks say: `openat2(2)` with
//! `RESOLVE_BENEATH` (the kernel refuses any step out, with no window
//! between a check and the open), and [`confine`], the portable check for
//! kernels without openat2 (before 5.6, or hidden by a seccomp filter).
//!
//! These calls block on the filesystem: run them where blocking is allowed.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// What [`open_beneath`] opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// A file (or directory) for reading, non-blocking: a FIFO or a device
    /// cannot stall the caller; callers refuse what is not a regular file.
    Read,
    /// As `Read`, but only if every component is in the kernel's cache
    /// (`RESOLVE_CACHED`, Linux 5.12): the call does not wait for the disk.
    ReadCached,
    /// A directory handle (`O_PATH`), for later `*at` calls.
    Dir,
}

/// Why a path was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// It does not exist.
    Missing,
    /// It leads out of the root (`..`, an absolute or outward symlink).
    Outside,
    /// No `openat2` here: the caller checks with [`confine`] instead.
    Unsupported,
    /// [`Open::ReadCached`] only: the kernel would have had to read.
    Uncached,
    /// Anything else the kernel said (permissions, not a directory, ...).
    Other(nix::errno::Errno),
}

/// Set once `openat2` turned out to be missing, so it is not tried again.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Whether [`open_beneath`] can be used (false once it returned
/// [`Refused::Unsupported`]).
pub fn available() -> bool {
    cfg!(target_os = "linux") && !NO_OPENAT2.load(Ordering::Relaxed)
}

/// Opens `rel` beneath the directory `root` (an empty `rel` is the root
/// itself), refusing any way out of it.
#[cfg(target_os = "linux")]
pub fn open_beneath(root: impl AsFd, rel: &Path, what: Open) -> Result<OwnedFd, Refused> {
    use nix::errno::Errno;
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    /// `RESOLVE_CACHED` (linux/openat2.h), not named by nix.
    const RESOLVE_CACHED: u64 = 0x20;
    if NO_OPENAT2.load(Ordering::Relaxed) {
        return Err(Refused::Unsupported);
    }
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let read = OFlag::O_RDONLY | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let mut resolve = ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    let flags = match what {
        Open::Read => read,
        Open::ReadCached => {
            resolve |= ResolveFlag::from_bits_retain(RESOLVE_CACHED);
            read
        }
        Open::Dir => OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
    };
    let how = OpenHow::new().flags(flags).resolve(resolve);
    match nix::fcntl::openat2(root, rel, how) {
        Ok(fd) => Ok(fd),
        Err(Errno::ENOENT) => Err(Refused::Missing),
        Err(Errno::EXDEV | Errno::ELOOP) => Err(Refused::Outside),
        Err(Errno::EAGAIN) if what == Open::ReadCached => Err(Refused::Uncached),
        Err(Errno::ENOSYS) => {
            NO_OPENAT2.store(true, Ordering::Relaxed);
            Err(Refused::Unsupported)
        }
        Err(e) => Err(Refused::Other(e)),
    }
}

/// Without `openat2`: callers check with [`confine`].
#[cfg(not(target_os = "linux"))]
pub fn open_beneath(_root: impl AsFd, _rel: &Path, _what: Open) -> Result<OwnedFd, Refused> {
    Err(Refused::Unsupported)
}

/// `path` with its symlinks followed, if it exists and stays under `root`
/// (canonical): the portable check, with a window between it and an open.
pub fn confine(root: &Path, path: &Path) -> Result<PathBuf, Refused> {
    match std::fs::canonicalize(path) {
        Ok(real) if real.starts_with(root) => Ok(real),
        Ok(_) => Err(Refused::Outside),
        Err(_) => Err(Refused::Missing),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::fs::File;
    use std::os::unix::fs::symlink;

    /// A root with a file, a folder, links in and out, and a secret beside.
    fn tree() -> (tempfile::TempDir, tempfile::TempDir) {
        let root = tempfile::tempdir().expect("root");
        let out = tempfile::tempdir().expect("out");
        let r = root.path();
        std::fs::write(out.path().join("secret"), "s").expect("secret");
        std::fs::write(r.join("a"), "a").expect("a");
        std::fs::create_dir(r.join("d")).expect("d");
        symlink(out.path().join("secret"), r.join("abs")).expect("abs");
        symlink("../a", r.join("d/up")).expect("up");
        symlink("../../secret", r.join("d/out")).expect("out");
        symlink(out.path(), r.join("d/dir_out")).expect("dir_out");
        (root, out)
    }

    #[test]
    fn inside_opens() {
        let (root, _out) = tree();
        let dir = File::open(root.path()).expect("root handle");
        assert!(open_beneath(&dir, Path::new("a"), Open::Read).is_ok());
        assert!(
            open_beneath(&dir, Path::new(""), Open::Read).is_ok(),
            "the root"
        );
        assert!(
            open_beneath(&dir, Path::new("d/up"), Open::Read).is_ok(),
            "a link inside"
        );
        assert!(open_beneath(&dir, Path::new("d"), Open::Dir).is_ok());
        assert_eq!(
            open_beneath(&dir, Path::new("a"), Open::Dir).err(),
            Some(Refused::Other(nix::errno::Errno::ENOTDIR))
        );
        assert_eq!(
            open_beneath(&dir, Path::new("nope"), Open::Read).err(),
            Some(Refused::Missing)
        );
    }

    #[test]
    fn dot_dot_is_refused() {
        let (root, out) = tree();
        let dir = File::open(root.path().join("d")).expect("d handle");
        assert_eq!(
            open_beneath(&dir, Path::new("../a"), Open::Read).err(),
            Some(Refused::Outside),
            "a sibling of the root's own folder is outside it"
        );
        let name = out.path().file_name().expect("name");
        let up = Path::new("../..").join(name).join("secret");
        assert_eq!(
            open_beneath(&dir, &up, Open::Read).err(),
            Some(Refused::Outside)
        );
        assert_eq!(
            open_beneath(&dir, Path::new(".."), Open::Dir).err(),
            Some(Refused::Outside)
        );
    }

    #[test]
    fn symlinks_out_are_refused() {
        let (root, _out) = tree();
        let dir = File::open(root.path()).expect("root handle");
        for link in ["abs", "d/out", "d/dir_out/secret"] {
            assert_eq!(
                open_beneath(&dir, Path::new(link), Open::Read).err(),
                Some(Refused::Outside),
                "{link}"
            );
            assert_ne!(
                open_beneath(&dir, Path::new(link), Open::ReadCached).err(),
                None,
                "{link} (cached)"
            );
        }
    }

    #[test]
    fn confine_checks_the_followed_path() {
        let (root, _out) = tree();
        let r = std::fs::canonicalize(root.path()).expect("canonical");
        assert_eq!(confine(&r, &r.join("d/up")), Ok(r.join("a")));
        assert_eq!(confine(&r, &r.join("abs")), Err(Refused::Outside));
        assert_eq!(confine(&r, &r.join("d/../../x")), Err(Refused::Missing));
        assert_eq!(confine(&r, &r.join("nope")), Err(Refused::Missing));
    }
}
