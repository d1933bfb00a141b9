//! A reverse-proxy service's settings as the hot path reads them: parsed
//! once per config change, shared behind an `Arc`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::proto::mime::MimeTable;

use crate::core::headers::HeaderRules;
use crate::core::netmask::Netmask;
use regex::Regex;

use super::cgi_conf::CgiConf;
use super::counters::StatsStore;
use super::throttle::ThrottleConf;
use crate::core::access::AccessConf;
use crate::core::plugins::pattern;
use crate::core::route::{Hook, Selector};
use crate::core::{Config, Plugin, ServiceConf};

/// What a service does with a request: reverse_proxy, web_server or
/// selector (any other role proxies, as before).
pub(crate) use crate::core::Role;

/// A web_server's settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct WebConf {
    /// The docroot as configured, trailing `/` dropped (`None`: unset);
    /// resolved afresh by each request.
    pub root: Option<PathBuf>,
    pub index_files: Vec<String>,
    pub dirindexing: bool,
    pub enable_put: bool,
    pub enable_delete: bool,
    pub enable_md5: bool,
    pub max_put_size: u64,
    pub min_put_directory: usize,
    pub enable_concatenate_get: bool,
    pub mime: Arc<MimeTable>,
}

/// Buffered uploads (`buffer_uploads` with a `buffer_uploads_path`).
#[derive(Debug, Clone, Default)]
pub(crate) struct UploadConf {
    pub path: PathBuf,
    pub threshold_size: u64,
    pub threshold_time: u64,
    pub threshold_rate: u64,
    /// `<service>-<listen>`, the start of spool file names (1.80's).
    pub prefix: String,
    /// The service's name (for its log lines).
    pub service: String,
}

/// One service's settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub role: Role,
    /// web_server settings (only on a web_server).
    pub web: Option<Arc<WebConf>>,
    /// `enable_reproxy`
    pub reproxy: bool,
    pub buffer_size_reproxy_url: usize,
    /// `reproxy_cache_maxsize`
    pub reproxy_cache_size: usize,
    pub uploads: Option<UploadConf>,
    pub max_chunked_request_size: u64,
    /// `upload_status_listeners`
    pub upload_listeners: Vec<SocketAddr>,
    pub nodes: Vec<SocketAddr>,
    pub persist_client: bool,
    pub persist_backend: bool,
    pub verify_backend: bool,
    pub verify_path: String,
    pub backend_persist_cache: usize,
    pub connect_ahead: usize,
    pub max_backend_uses: u64,
    /// With `enable_error_retries`: the wait before each retry of a GET
    /// or HEAD a backend answered with a 500 (`error_retry_schedule`);
    /// empty otherwise.
    pub error_retries: Vec<Duration>,
    pub high_priority: Option<(String, String)>,
    pub relief_size: usize,
    pub relief_chance: u32,
    pub buffer_size: usize,
    pub buffer_backend_connect: usize,
    pub idle_timeout: Duration,
    pub persist_idle_timeout: Duration,
    pub client_sndbuf: usize,
    pub server_tokens: bool,
    pub rules: HeaderRules,
    /// AccessControl's rules, when the plugin is on the service.
    pub access: Option<AccessConf>,
    /// Highpri's URI and Host regexes, when the plugin is on the service.
    pub highpri: Option<(Option<Regex>, Option<Regex>)>,
    /// The other plugins' settings (and a selector's routes), when any
    /// is on the service: built by [`super::plugins`] (set by `refresh`),
    /// run by its hooks.
    pub plugins: Option<Arc<PluginSet>>,
}

/// One service's plugins beyond AccessControl and Highpri, as data: the
/// `start_http_request` hooks and a selector's routes
/// ([`crate::core::route`]), and what the other hooks need to know.
pub(crate) struct PluginSet {
    pub hooks: Vec<Hook>,
    pub selector: Option<Selector>,
    /// XFFExtras' send_backend_port, send_backend_proto.
    pub xff: (bool, bool),
    /// Stats' counters.
    pub stats: Option<Arc<StatsStore>>,
    /// AutoRemoveLeadingDir: the docroot's last component.
    pub leading_dir: Option<String>,
    pub palimg: bool,
    /// Queues: the queues' lengths and ages go to backends.
    pub queues: bool,
    /// FlvStreaming: `.flv?start=N` requests.
    pub flv: bool,
    /// Throttle's settings (with its state).
    pub throttle: Option<ThrottleConf>,
    /// LazyCDN: the fallback service and where to ping it.
    pub lazycdn: Option<(String, Option<SocketAddr>)>,
    /// The port this service listens on (X-Forwarded-Port of TLS clients).
    pub listen_port: u16,
    /// Cgilike: the program and the URIs it answers.
    pub cgi: Option<Arc<CgiConf>>,
}

impl PluginSet {
    /// Cgilike's program, if it answers `uri` (other requests go on as
    /// without the plugin: 1.80's DECLINED).
    pub(crate) fn cgi_for(&self, uri: &str) -> Option<Arc<CgiConf>> {
        self.cgi.clone().filter(|c| c.claims(uri))
    }
}

impl std::fmt::Debug for PluginSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSet")
            .field("hooks", &self.hooks.len())
            .field("selector", &self.selector.is_some())
            .field("xff", &self.xff)
            .field("stats", &self.stats.is_some())
            .field("leading_dir", &self.leading_dir)
            .field("palimg", &self.palimg)
            .finish()
    }
}

impl Settings {
    /// The Stats plugin's counters, when it is on the service.
    pub(crate) fn stats(&self) -> Option<&StatsStore> {
        self.plugins.as_ref()?.stats.as_deref()
    }

    pub fn from_config(svc: &ServiceConf, cfg: &Config) -> Settings {
        let nodes = svc
            .get("pool")
            .and_then(|p| cfg.pools.get(p))
            .map(|p| p.nodes.iter().map(|n| SocketAddr::V4(*n)).collect())
            .unwrap_or_default();
        let high_priority = match (
            svc.get("high_priority_cookie"),
            svc.get("high_priority_cookie_contents"),
        ) {
            (Some(c), Some(v)) => Some((c.to_owned(), v.to_owned())),
            _ => None,
        };
        let has = |p: Plugin| svc.plugins.contains(&p);
        let access = has(Plugin::AccessControl).then(|| svc.access.clone());
        let highpri = has(Plugin::Highpri).then(|| {
            let h = svc.highpri.clone().unwrap_or_default();
            (pattern(&h.uri_pattern), pattern(&h.host_pattern))
        });
        let size = |k: &str| usize::try_from(svc.num(k)).unwrap_or(usize::MAX);
        let role = match svc.role {
            Some(Role::WebServer) => Role::WebServer,
            Some(Role::Selector) => Role::Selector,
            _ => Role::ReverseProxy,
        };
        let web = (role == Role::WebServer).then(|| {
            Arc::new(WebConf {
                root: svc.get("docroot").map(|d| {
                    let t = d.trim_end_matches('/');
                    PathBuf::from(if t.is_empty() { "/" } else { t })
                }),
                index_files: svc
                    .get("index_files")
                    .unwrap_or("")
                    .split([',', ' ', '\t'])
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect(),
                dirindexing: svc.flag("dirindexing"),
                enable_put: svc.flag("enable_put"),
                enable_delete: svc.flag("enable_delete"),
                enable_md5: svc.flag("enable_md5"),
                max_put_size: svc.num("max_put_size"),
                min_put_directory: size("min_put_directory"),
                enable_concatenate_get: svc.flag("enable_concatenate_get"),
                mime: Arc::new(cfg.mime.clone()),
            })
        });
        let uploads = match (svc.flag("buffer_uploads"), svc.get("buffer_uploads_path")) {
            (true, Some(path)) => Some(UploadConf {
                path: PathBuf::from(path.trim_end_matches('/')),
                threshold_size: svc.num("buffer_upload_threshold_size"),
                threshold_time: svc.num("buffer_upload_threshold_time"),
                threshold_rate: svc.num("buffer_upload_threshold_rate"),
                prefix: format!(
                    "{}-{}",
                    svc.name,
                    svc.values.get("listen").map_or("", String::as_str)
                ),
                service: svc.name.clone(),
            }),
            _ => None,
        };
        Settings {
            role,
            web,
            reproxy: svc.flag("enable_reproxy"),
            buffer_size_reproxy_url: size("buffer_size_reproxy_url").clamp(4096, 16 * 1024 * 1024),
            reproxy_cache_size: size("reproxy_cache_maxsize"),
            uploads,
            max_chunked_request_size: svc.num("max_chunked_request_size"),
            upload_listeners: svc
                .get("upload_status_listeners")
                .unwrap_or("")
                .split(',')
                .filter_map(|e| e.trim().parse().ok())
                .collect(),
            nodes,
            persist_client: svc.flag("persist_client"),
            persist_backend: svc.flag("persist_backend"),
            verify_backend: svc.flag("verify_backend"),
            verify_path: svc.get("verify_backend_path").unwrap_or("*").to_owned(),
            backend_persist_cache: size("backend_persist_cache"),
            connect_ahead: size("connect_ahead"),
            max_backend_uses: svc.num("max_backend_uses"),
            error_retries: if svc.flag("enable_error_retries") {
                retry_schedule(svc.get("error_retry_schedule").unwrap_or(""))
            } else {
                Vec::new()
            },
            high_priority,
            relief_size: size("queue_relief_size"),
            relief_chance: u32::try_from(svc.num("queue_relief_chance")).unwrap_or(0),
            buffer_size: size("buffer_size").clamp(16 * 1024, 16 * 1024 * 1024),
            buffer_backend_connect: size("buffer_backend_connect").min(16 * 1024 * 1024),
            idle_timeout: Duration::from_secs(svc.num("idle_timeout").max(1)),
            persist_idle_timeout: Duration::from_secs(
                svc.num("persist_client_idle_timeout").max(1),
            ),
            client_sndbuf: size("client_sndbuf_size"),
            server_tokens: svc.flag("server_tokens"),
            rules: HeaderRules {
                blind_proxy: svc.flag("blind_proxy"),
                always_trusted: svc.flag("always_trusted"),
                trusted: svc
                    .get("trusted_upstream_proxies")
                    .and_then(Netmask::parse_list)
                    .unwrap_or_default(),
                insert: svc.insert.clone(),
                remove: svc.remove.clone(),
                capabilities: svc.flag("enable_reproxy"),
            },
            access,
            highpri,
            plugins: None,
        }
    }
}

/// The longest wait one retry step may ask for.
const MAX_RETRY_WAIT: f64 = 3600.0;

/// `error_retry_schedule`: comma-separated seconds, whole or partial; a
/// step that is not a number waits 0 s (Perl's numeric reading), trailing
/// empty steps do not count (Perl's `split`).
fn retry_schedule(text: &str) -> Vec<Duration> {
    let mut steps: Vec<&str> = text.split(',').map(str::trim).collect();
    while steps.last().is_some_and(|s| s.is_empty()) {
        steps.pop();
    }
    steps
        .into_iter()
        .map(|s| {
            let secs = s.parse::<f64>().unwrap_or(0.0);
            let secs = if secs.is_finite() { secs } else { 0.0 };
            Duration::from_secs_f64(secs.clamp(0.0, MAX_RETRY_WAIT))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::retry_schedule;
    use std::time::Duration;

    #[test]
    fn retry_schedules_read_as_1_80_does() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|m| Duration::from_millis(*m))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            retry_schedule("0,.25,.50,1,1,1,1,1"),
            ms(&[0, 250, 500, 1000, 1000, 1000, 1000, 1000])
        );
        assert_eq!(retry_schedule("0 , 2"), ms(&[0, 2000]));
        assert_eq!(retry_schedule("x,-1,"), ms(&[0, 0]));
        assert_eq!(retry_schedule(""), ms(&[]));
        assert_eq!(retry_schedule("1e9"), ms(&[3_600_000]));
    }
}
