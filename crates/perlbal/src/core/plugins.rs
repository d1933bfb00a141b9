//! The bundled plugins this build has, with 1.80's names, and Highpri's
//! settings. Their config commands are in `plugin_cmds`, the
//! other plugins' settings in `plugin_conf`.

/// A plugin this build has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Plugin {
    /// `ACCESS` rules: 403, or the low-priority queue, by IP/netmask.
    AccessControl,
    /// The high-priority queue by URI/Host regex.
    Highpri,
    /// A selector's routing by Host (`VHOST`).
    Vhosts,
    /// A selector's routing by path regex (`VPATH`).
    Vpaths,
    /// The `INCLUDE = glob` command.
    Include,
    /// 301s by Host (`REDIRECT HOST`).
    Redirect,
    /// 413 above `max_content_length`.
    MaxContentLength,
    /// 304 for any If-Modified-Since on hosts matching a pattern.
    NotModified,
    /// X-Forwarded-Port / X-Forwarded-Proto to backends.
    XFFExtras,
    /// Request counters (`STATS`, `RECENT`).
    Stats,
    /// Drops the docroot's own name from the start of a path.
    AutoRemoveLeadingDir,
    /// GIF/PNG palettes rewritten from the URL.
    Palimg,
    /// Queue lengths and ages to backends (`X-Queue-Count`...).
    Queues,
    /// The `echo` role: each line sent back (after `echo_delay` s).
    EchoService,
    /// `.flv?start=N` served from byte N with an FLV header in front.
    FlvStreaming,
    /// A web_server hands missing or outdated (`v=`) files to a fallback.
    LazyCDN,
    /// Slows, refuses or bans client IPs that come too often.
    Throttle,
    /// Requests under a prefix answered by a CGI/1.1 program (1.80 called
    /// a Perl subroutine in-process).
    Cgilike,
}

impl Plugin {
    /// Every plugin this build has.
    pub const ALL: [Plugin; 18] = [
        Plugin::AccessControl,
        Plugin::Highpri,
        Plugin::Vhosts,
        Plugin::Vpaths,
        Plugin::Include,
        Plugin::Redirect,
        Plugin::MaxContentLength,
        Plugin::NotModified,
        Plugin::XFFExtras,
        Plugin::Stats,
        Plugin::AutoRemoveLeadingDir,
        Plugin::Palimg,
        Plugin::Queues,
        Plugin::EchoService,
        Plugin::FlvStreaming,
        Plugin::LazyCDN,
        Plugin::Throttle,
        Plugin::Cgilike,
    ];

    /// Its name, as 1.80 spells it.
    pub fn name(self) -> &'static str {
        match self {
            Plugin::AccessControl => "AccessControl",
            Plugin::Highpri => "Highpri",
            Plugin::Vhosts => "Vhosts",
            Plugin::Vpaths => "Vpaths",
            Plugin::Include => "Include",
            Plugin::Redirect => "Redirect",
            Plugin::MaxContentLength => "MaxContentLength",
            Plugin::NotModified => "NotModified",
            Plugin::XFFExtras => "XFFExtras",
            Plugin::Stats => "Stats",
            Plugin::AutoRemoveLeadingDir => "AutoRemoveLeadingDir",
            Plugin::Palimg => "Palimg",
            Plugin::Queues => "Queues",
            Plugin::EchoService => "EchoService",
            Plugin::FlvStreaming => "FlvStreaming",
            Plugin::LazyCDN => "LazyCDN",
            Plugin::Throttle => "Throttle",
            Plugin::Cgilike => "Cgilike",
        }
    }

    /// `LOAD name`: 1.80 tries the name as written, lower-cased and
    /// ucfirst-lower-cased against the module file names.
    pub(super) fn for_load(written: &str) -> Option<Plugin> {
        let lower = written.to_ascii_lowercase();
        let mut ucfirst = lower.clone();
        if let Some(first) = ucfirst.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        Plugin::ALL
            .into_iter()
            .find(|p| [written, &lower, &ucfirst].contains(&p.name()))
    }
}

/// Highpri's patterns: the text as set (`undef`, `none` or `null` turn a
/// pattern off); the server compiles them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HighpriConf {
    /// Matched against the request URI.
    pub uri_pattern: String,
    /// Matched against the Host header.
    pub host_pattern: String,
}

/// 1.80's default URI pattern (LiveJournal's client protocol).
pub const DEFAULT_URI_PATTERN: &str = r"^(?:/interface/(?:xmlrpc|flat)|/login\.bml)$";

impl Default for HighpriConf {
    fn default() -> Self {
        HighpriConf {
            uri_pattern: DEFAULT_URI_PATTERN.to_owned(),
            host_pattern: "undef".to_owned(),
        }
    }
}

/// A pattern's regex; `None` when turned off. The text was checked when set.
pub fn pattern(text: &str) -> Option<regex::Regex> {
    if matches!(text, "undef" | "none" | "null") {
        return None;
    }
    regex::Regex::new(text).ok()
}
