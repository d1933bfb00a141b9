//! Process set-up done before the tokio runtime exists: daemonizing, the pid
//! file, dropping root. Forking a process that already runs a multi-threaded
//! runtime would leave the child with one thread and the runtime's locks in
//! an unknown state, so the order in [`crate::launch`] is fixed: bind, fork,
//! pid file, drop user, then build the runtime.

use std::io;
use std::path::{Path, PathBuf};

/// Detaches from the terminal: fork, `setsid`, stdio to `/dev/null`, and
/// `chdir /` as the originals do (so give absolute paths for files).
pub fn daemonize() -> io::Result<()> {
    nix::unistd::daemon(false, false).map_err(io::Error::from)
}

/// A pid file, removed again when dropped (at a clean exit).
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

/// Writes this process's pid and a newline to `path` (atomically).
pub fn write_pidfile(path: &Path) -> io::Result<PidFile> {
    let text = format!("{}\n", std::process::id());
    crate::listen::write_atomically(path, text.as_bytes()).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("writing pid file {}: {e}", path.display()),
        )
    })?;
    Ok(PidFile {
        path: path.to_owned(),
    })
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Switches to `user` (its uid, primary gid and no supplementary groups).
/// Only root can do that; for anyone else it is a no-op with a warning, as in
/// memcached.
pub fn drop_user(user: &str) -> io::Result<()> {
    use nix::unistd::{setgid, setgroups, setuid, Uid, User};
    if !Uid::effective().is_root() {
        tracing::warn!(user, "not running as root; ignoring the user switch");
        return Ok(());
    }
    let entry = User::from_name(user)
        .map_err(io::Error::from)?
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("can't find the user {user} to switch to"),
            )
        })?;
    setgroups(&[entry.gid]).map_err(io::Error::from)?;
    setgid(entry.gid).map_err(io::Error::from)?;
    setuid(entry.uid).map_err(io::Error::from)?;
    Ok(())
}

/// The signals the daemons handle themselves.
fn stop_signals() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// Holds SIGTERM, SIGINT and SIGHUP pending on this thread (and on threads it
/// starts later) until [`unblock_signals`]: a signal that arrives between
/// "ready" and the handlers' installation is then handled, not fatal.
pub fn block_signals() -> io::Result<()> {
    use nix::sys::signal::{pthread_sigmask, SigmaskHow};
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&stop_signals()), None).map_err(io::Error::from)
}

/// Lets this thread receive the signals [`block_signals`] held; any pending
/// one is delivered now.
pub fn unblock_signals() -> io::Result<()> {
    use nix::sys::signal::{pthread_sigmask, SigmaskHow};
    pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&stop_signals()), None).map_err(io::Error::from)
}

/// The environment variable a launcher (`danga up`) sets to its own pid when
/// it wants its daemons to end with it.
pub const PARENT_PID_ENV: &str = "DANGA_PARENT_PID";

/// When [`PARENT_PID_ENV`] is set: asks the kernel for SIGTERM when the
/// parent dies (`PR_SET_PDEATHSIG`; the signal is held until the handlers
/// exist, then it is a normal graceful stop), and fails if the parent is
/// already gone (the pid named is not our parent any more), so no daemon
/// outlives a launcher killed with SIGKILL. Without the variable: nothing.
pub fn die_with_parent() -> io::Result<()> {
    let Some(value) = std::env::var_os(PARENT_PID_ENV) else {
        return Ok(());
    };
    let want: i32 = value
        .to_str()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{PARENT_PID_ENV} is not a pid: {value:?}"),
            )
        })?;
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM).map_err(io::Error::from)?;
    let parent = nix::unistd::getppid().as_raw();
    if parent != want {
        return Err(io::Error::other(format!(
            "the launcher (pid {want}) is gone (parent is now {parent}); not starting"
        )));
    }
    Ok(())
}
