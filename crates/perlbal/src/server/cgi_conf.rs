//! The Cgilike plugin's settings (data only; [`super::cgi`] runs the
//! program): the program, the URI prefix it answers, its time and output
//! limits.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::core::plugin_conf::PLUGIN_TUNABLES;
use crate::core::ServiceConf;

/// A service's Cgilike settings.
#[derive(Debug, Clone)]
pub(crate) struct CgiConf {
    pub(crate) program: Option<PathBuf>,
    /// `SCRIPT_NAME`: the prefix without a trailing `/` (`/` → empty).
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) max_output: u64,
    pub(crate) listen: Option<SocketAddr>,
}

impl CgiConf {
    pub(crate) fn from_service(svc: &ServiceConf) -> CgiConf {
        // The plugin's tunables: as set, else their defaults.
        let get = |key: &str| {
            svc.values.get(key).map(String::as_str).or_else(|| {
                PLUGIN_TUNABLES
                    .iter()
                    .find(|(_, t)| t.name == key)
                    .and_then(|(_, t)| t.default)
            })
        };
        let num = |key: &str| get(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        CgiConf {
            program: get("cgi_program").map(PathBuf::from),
            prefix: get("cgi_uri_prefix")
                .unwrap_or("/")
                .trim_end_matches('/')
                .to_owned(),
            timeout: Duration::from_secs(num("cgi_timeout").max(1)),
            max_output: num("cgi_max_output"),
            listen: svc.listen(),
        }
    }

    /// Whether a request for `uri` is the program's: its path is the
    /// prefix or goes on below it (`/app` claims `/app`, `/app/x`,
    /// `/app?q`, not `/apple`).
    pub(crate) fn claims(&self, uri: &str) -> bool {
        let path = uri.split('?').next().unwrap_or("");
        match path.strip_prefix(self.prefix.as_str()) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        }
    }
}
