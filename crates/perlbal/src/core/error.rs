//! Why a config command fails, in 1.80's words (the console prints them
//! after `ERROR: `; `perlbal.conf` names the line first).

use std::path::PathBuf;

use super::access::AccessError;
use crate::proto::command::CommandError;
use crate::proto::tunables::TunableError;
use crate::proto::usage::{error_text, Usage};

/// A config command that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The line is no command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// A plugin command written wrong.
    #[error(transparent)]
    Usage(#[from] Usage),
    /// A tunable's value refused.
    #[error(transparent)]
    Tunable(#[from] TunableError),
    /// An `ACCESS` rule refused.
    #[error(transparent)]
    Access(#[from] AccessError),

    // Services and pools.
    #[error("service '{0}' does not exist")]
    NoService(String),
    #[error("service '{0}' already exists")]
    ServiceExists(String),
    #[error("pool '{0}' already exists")]
    PoolExists(String),
    #[error("Non-existent pool or service '{0}'")]
    NoPoolOrService(String),
    #[error("service/pool '{0}' does not exist")]
    NoServiceOrPool(String),
    #[error("omitted service/pool name not implied from context")]
    NoContext,
    #[error("Pool '{0}' not found")]
    NoPool(String),
    #[error("Service '{0}' not found")]
    ServiceNotFound(String),
    #[error("Non-existent service '{0}'")]
    NonExistentService(String),
    #[error("service {0} is already enabled")]
    AlreadyEnabled(String),
    #[error("service {0} is already disabled")]
    AlreadyDisabled(String),
    #[error("can't disable management service")]
    DisableManagement,
    #[error("service {0} has no role")]
    NoRole(String),
    #[error("no value provided")]
    NoHeaderValue,

    // Settings.
    #[error("Unknown service parameter '{0}'")]
    UnknownParameter(String),
    #[error("'{0}' (a Perlbal 1.80 option) is not supported by this build of perlbal")]
    Unsupported(String),
    #[error("The '{key}' option can only be set on a '{role}' service")]
    WrongRole { key: String, role: &'static str },
    #[error("Role not valid for service {0}")]
    BadRole(String),
    #[error("No pool defined for service")]
    NoPoolForService,
    #[error("File not found")]
    NodefileNotFound,
    #[error("Unknown balance method")]
    BalanceMethod,
    #[error("Unknown pool parameter '{0}'")]
    UnknownPoolParameter(String),
    #[error("Directory not found for service {0}")]
    NoDocroot(String),
    #[error("Directory ({dir}) not found for service {service} (buffer_uploads_path)")]
    NoUploadsDir { dir: String, service: String },
    #[error("Invalid UDP endpoint: \"{0}\".  Must be of form a.b.c.d:port")]
    UdpEndpoint(String),
    #[error("File '{file}' not found for '{key}'")]
    FileNotFound { file: String, key: String },
    #[error("Directory '{dir}' not found for '{key}'")]
    DirNotFound { dir: String, key: String },
    #[error("Value of 'default_action' must be one of: allow, throttle")]
    DefaultAction,
    #[error("Value of 'blacklist_action' must be one of: deny, throttle")]
    BlacklistAction,
    #[error("log_events is a comma-separated list of loggable events")]
    LogEvents,
    #[error("Expecting IP:port of form a.b.c.d:port.")]
    PingAddr,
    #[error("cgi_uri_prefix must start with '/'")]
    CgiPrefix,
    #[error("ssl_verify_mode is a sum of 1 (ask for a client certificate), 2 (require it) and 4")]
    VerifyMode,

    // SERVER settings.
    #[error("Expected numeric parameter")]
    NotNumeric,
    #[error("pidfile must be configured at startup, before Perlbal::run is called")]
    PidfileRunning,
    #[error("metrics_listen must be configured at startup")]
    MetricsRunning,
    #[error("Invalid metrics_listen address: {0}")]
    MetricsAddress(String),
    #[error("max_connections can only be set at startup in this build")]
    MaxConnectionsRunning,
    #[error("Linux::AIO no longer supported")]
    LinuxAio,
    #[error("Unknown AIO mode")]
    AioMode,
    #[error("server option '{0}' (Perlbal 1.80) is not supported by this build of perlbal")]
    UnsupportedServer(String),
    #[error("unknown server option '{0}'")]
    UnknownServerOption(String),

    // Commands.
    #[error("unknown command: {0}")]
    UnknownCommand(String),
    #[error("{0} runs Perl inside perlbal, which this build cannot: set cgi_program (and cgi_uri_prefix) on the service to run a CGI/1.1 program instead")]
    Perl(String),
    #[error("the '{0}' command is not supported by this build of perlbal")]
    UnsupportedCommand(String),
    #[error("not a configuration command")]
    NotConfig,
    #[error("{0} not a defined extension.")]
    NoExtension(String),
    #[error("Usage: set <ext> <mime>")]
    MimeSetUsage,
    #[error("Usage: list, remove <ext>, set <ext> <mime>")]
    MimeUsage,

    // Plugins.
    #[error("plugin '{0}' is not available in this build of perlbal")]
    NoSuchPlugin(String),
    #[error("Plugin {plugin} not loaded; not registered for {service}.")]
    PluginNotLoaded { plugin: String, service: String },
    #[error("You can't load the {0} plugin on a service not of role selector.")]
    NotSelector(&'static str),
    #[error("You can't load the flvstreaming plugin on a service not of role reverse_proxy.")]
    FlvNotProxy,
    #[error("Invalid regular expression")]
    Regex,
    #[error("omitted service name not implied from context")]
    NoSelectorContext,
    #[error("Service '{0}' is not a selector service")]
    NotASelector(String),
    #[error("invalid host pattern: '{0}'")]
    HostPattern(String),
    #[error("invalid regular expression: '{0}'")]
    PathRegex(String),
    #[error("No service name in context from CREATE SERVICE <name> or USE <service_name>")]
    NoServiceContext,

    // INCLUDE.
    #[error("INCLUDE nested too deeply")]
    IncludeDepth,
    #[error("bad glob '{pattern}': {error}")]
    Glob { pattern: String, error: String },
    #[error("Error opening config file ({}): {error}", file.display())]
    IncludeOpen { file: PathBuf, error: String },
    /// At start-up: the included file's failing line.
    #[error("{}: {error}", file.display())]
    Included {
        file: PathBuf,
        error: Box<LoadError>,
    },
    /// Once running: only the line's number (the console's user may not
    /// be allowed to read the file).
    #[error("{}: line {line} is not a valid config line", file.display())]
    IncludedLine { file: PathBuf, line: usize },
}

/// A config file's failing line: its number and text beside the error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: '{text}': ERROR: {error}")]
pub struct LoadError {
    /// 1-based.
    pub line: usize,
    /// The line, trimmed.
    pub text: String,
    /// What went wrong.
    pub error: ConfigError,
}

error_text!(ConfigError, LoadError);
