//! What the MogileFS file tools share: the common options (`--trackers`,
//! `--domain`, `--conf`, and the configuration files MogileFS-Utils reads),
//! a progress bar for big transfers, and running a tool to an exit code.

/// `--version`: the MogileFS-Utils release these tools follow, and this
/// project's version.
pub const VERSION: &str = concat!("2.30 (danga ", env!("CARGO_PKG_VERSION"), ")");

use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use danga_mogilefs::client::{parse_trackers, Client, Options, Progress, Trackers, UtilsConf};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Transfers at least this big get a progress bar (on a terminal).
pub const BAR_MIN_BYTES: u64 = 4 << 20;

/// The options every tool takes.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Trackers to use: host:port,host:port (port 7001 if left out)
    #[arg(long, value_name = "HOST:PORT,...")]
    pub trackers: Option<String>,
    /// The MogileFS domain
    #[arg(long)]
    pub domain: Option<String>,
    /// A configuration file read before $MOGUTILSCONF, ~/.mogilefs.conf
    /// and /etc/mogilefs/mogilefs.conf (`key = value` lines)
    #[arg(long, value_name = "FILE")]
    pub conf: Option<PathBuf>,
}

/// The resolved settings: a client for the domain and the merged
/// configuration.
pub struct Setup {
    pub client: Client,
    pub conf: UtilsConf,
}

impl Common {
    /// The configuration files, in MogileFS-Utils' order.
    fn load_conf(&self) -> Result<UtilsConf, String> {
        UtilsConf::load(&UtilsConf::default_paths(self.conf.as_deref())).map_err(|e| e.to_string())
    }

    /// The trackers from the command line, else `conf`, with its timeout.
    fn trackers_in(&self, conf: &UtilsConf) -> Result<Trackers, String> {
        let list = self
            .trackers
            .as_deref()
            .or(conf.get("trackers"))
            .ok_or("no trackers given (--trackers, or trackers = in mogilefs.conf)")?;
        let mut opts = Options::default();
        if let Some(t) = conf.get("timeout").and_then(|t| t.parse().ok()) {
            opts.timeout = std::time::Duration::from_secs(t);
        }
        Trackers::new(parse_trackers(list), opts).map_err(|e| e.to_string())
    }

    /// The trackers alone (for the tools that need no domain).
    pub fn trackers(&self) -> Result<Trackers, String> {
        self.trackers_in(&self.load_conf()?)
    }

    /// Reads the configuration files and builds the client; the command
    /// line wins over the files.
    pub fn setup(&self) -> Result<Setup, String> {
        let conf = self.load_conf()?;
        let trackers = self.trackers_in(&conf)?;
        let domain = self
            .domain
            .as_deref()
            .or(conf.get("domain"))
            .ok_or("no domain given (--domain, or domain = in mogilefs.conf)")?
            .to_owned();
        Ok(Setup {
            client: Client::new(trackers, domain),
            conf,
        })
    }
}

/// Runs a tool's body on a small runtime: `Ok` exits 0, `Err(msg)` prints
/// the message on stderr and exits 1.
pub fn run<F>(body: F) -> ExitCode
where
    F: Future<Output = Result<(), String>>,
{
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(body) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

/// Whether a transfer of `len` bytes shows a bar: big enough, and stderr
/// is a terminal (quiet in scripts and logs).
pub fn wants_bar(len: u64) -> bool {
    len >= BAR_MIN_BYTES && std::io::stderr().is_terminal()
}

/// A progress bar on stderr for `len` bytes labelled `label`, when
/// [`wants_bar`] says so.
pub fn progress_bar(len: u64, label: &str) -> Option<ProgressBar> {
    if !wants_bar(len) {
        return None;
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_message(label.to_owned());
    Some(pb)
}

/// The library's progress callback feeding `bar` (bytes so far).
pub fn feed(bar: &Option<ProgressBar>) -> Option<Progress> {
    bar.clone()
        .map(|pb| Arc::new(move |n: u64| pb.set_position(n)) as Progress)
}

/// The class to store into: the command line's, else the configuration's;
/// `default` means the domain's default class.
pub fn class_of(cli: Option<&str>, conf: &UtilsConf) -> Option<String> {
    cli.or(conf.get("class"))
        .filter(|c| !c.is_empty() && *c != "default")
        .map(str::to_owned)
}
