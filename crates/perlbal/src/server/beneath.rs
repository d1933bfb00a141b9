//! Opening a path below the docroot so that nothing outside it can be
//! reached, whatever the path's symlinks say: `openat2(2)` with
//! `RESOLVE_BENEATH` (the kernel refuses any step out, with no window
//! between checking and opening), relative to the docroot opened afresh
//! for each request (so a docroot symlink flipped by a deploy takes effect
//! at once). Kernels without openat2 (before 5.6, or a seccomp filter that
//! hides it) get the portable way: both paths resolved, the file's
//! required to start with the docroot's, then opened.
//!
//! Files are opened `O_NONBLOCK`, so a FIFO cannot stall a worker thread.
//! These calls block on the filesystem: run them in a blocking task.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use danga_common::beneath::{self, Open, Refused};

/// Why a path could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Miss {
    /// Not there (or not readable).
    Missing,
    /// It leads out of the docroot.
    Outside,
}

impl From<Refused> for Miss {
    fn from(r: Refused) -> Miss {
        match r {
            Refused::Outside => Miss::Outside,
            _ => Miss::Missing,
        }
    }
}

/// `path` with symlinks followed, if it exists and stays under `root`
/// (both canonical).
pub(crate) fn confine(root: &Path, path: &Path) -> Result<PathBuf, Miss> {
    beneath::confine(root, path).map_err(Miss::from)
}

/// Opens `rel` (relative, without `..`; empty for the docroot itself)
/// under `docroot`, read-only and non-blocking.
pub(crate) fn open_beneath(docroot: &Path, rel: &Path) -> Result<File, Miss> {
    if beneath::available() {
        let dir = File::open(docroot).map_err(|_| Miss::Missing)?;
        match beneath::open_beneath(&dir, rel, Open::Read) {
            Ok(fd) => return Ok(File::from(fd)),
            Err(Refused::Unsupported) => {}
            Err(r) => return Err(r.into()),
        }
    }
    let root = std::fs::canonicalize(docroot).map_err(|_| Miss::Missing)?;
    let real = confine(&root, &root.join(rel))?;
    OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(real)
        .map_err(|_| Miss::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_may_not_lead_out() {
        let root = tempfile::tempdir().expect("root");
        let out = tempfile::tempdir().expect("out");
        std::fs::write(out.path().join("secret"), "s").expect("secret");
        std::fs::write(root.path().join("a"), "a").expect("a");
        std::fs::create_dir(root.path().join("d")).expect("d");
        std::os::unix::fs::symlink(out.path().join("secret"), root.path().join("abs")).expect("l");
        std::os::unix::fs::symlink("../a", root.path().join("d/up")).expect("l");
        std::os::unix::fs::symlink("../../x", root.path().join("d/out")).expect("l");
        let r = root.path();
        assert!(open_beneath(r, Path::new("a")).is_ok());
        assert!(open_beneath(r, Path::new("")).is_ok(), "the root itself");
        assert!(
            open_beneath(r, Path::new("d/up")).is_ok(),
            "a symlink that stays inside"
        );
        assert_eq!(open_beneath(r, Path::new("abs")).err(), Some(Miss::Outside));
        assert!(open_beneath(r, Path::new("d/out")).is_err());
        assert_eq!(
            open_beneath(r, Path::new("nope")).err(),
            Some(Miss::Missing)
        );
    }
}
