//! Where mogadm finds its trackers and timeout: `--trackers`, else
//! `trackers =` in `--config`, `~/.mogilefs.conf` or
//! `/etc/mogilefs/mogilefs.conf` (in that order of precedence), else a
//! tracker answering on 127.0.0.1:7001.

use std::path::PathBuf;
use std::time::Duration;

use danga_mogilefs::client::{parse_trackers, Options, UtilsConf};

use crate::table::Parsed;
use crate::{Ctx, Exit};

const NO_TRACKERS: &str =
    "In order to use the mogadm toolkit, you need to provide the information about
where your trackers are.

In your configuration file:

    trackers = 10.10.0.33:7001, 10.10.0.34:7001

Or on the command line

    mogadm --trackers=10.10.0.33:7001,10.10.0.34:7001
";

/// The configuration files and global options, read.
pub struct Setup {
    listed: Option<String>,
    opts: Options,
}

impl Setup {
    /// Reads the configuration files named by (or implied by) the global
    /// options `g`.
    pub fn read(g: &Parsed) -> Result<Setup, Exit> {
        let mut paths: Vec<PathBuf> = g.get("config").map(Into::into).into_iter().collect();
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            paths.push(PathBuf::from(home).join(".mogilefs.conf"));
        }
        paths.push("/etc/mogilefs/mogilefs.conf".into());
        let conf = UtilsConf::load(&paths).map_err(|e| Exit::Fail(e.to_string()))?;
        if g.contains_key("lib") || conf.get("lib").is_some() {
            eprintln!("mogadm: --lib/lib has no effect here (no Perl modules to load)");
        }
        let mut opts = Options {
            // The original allows 15 s: fsck status may hold a lock for 10.
            timeout: Duration::from_secs(15),
            ..Options::default()
        };
        if let Some(t) = conf.get("timeout").and_then(|t| t.parse().ok()) {
            opts.timeout = Duration::from_secs(t);
        }
        let listed = g
            .get("trackers")
            .map(String::as_str)
            .or(conf.get("trackers"))
            .map(str::to_owned);
        Ok(Setup { listed, opts })
    }

    /// The context for a command, or the original's "no trackers" text.
    pub async fn ctx(self) -> Result<Ctx, Exit> {
        let trackers = match self.listed.as_deref().map(parse_trackers) {
            Some(t) if !t.is_empty() => t,
            _ => match detect_local_tracker().await {
                Some(t) => vec![t],
                None => return Err(Exit::Fail(NO_TRACKERS.to_owned())),
            },
        };
        Ok(Ctx {
            trackers,
            opts: self.opts,
        })
    }
}

/// A tracker on 127.0.0.1:7001, if one accepts within a second.
async fn detect_local_tracker() -> Option<String> {
    let addr = "127.0.0.1:7001";
    let connect = tokio::net::TcpStream::connect(addr);
    matches!(
        tokio::time::timeout(Duration::from_secs(1), connect).await,
        Ok(Ok(_))
    )
    .then(|| addr.to_owned())
}
