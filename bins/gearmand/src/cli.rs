//! gearmand 1.1's command line: the same letters, long names and defaults
//! (except `-l`, which logs to stderr unless told otherwise, and `-P`,
//! which writes no pid file unless told). Flags this build accepts without
//! acting on them are warned about once and listed in
//! `docs/compat/gearmand.md`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{ArgAction, Parser};
use danga_common::cli::CommonArgs;
use danga_gearman::proto::Limits;
use danga_gearman::{queue, server};

/// gearmand's flags.
#[derive(Parser, Debug)]
#[command(name = "gearmand", disable_version_flag = true)]
pub struct Cli {
    /// Port the server should listen on
    #[arg(short = 'p', long = "port", default_value_t = 4730)]
    pub port: u16,
    /// Address to listen on (repeatable; default all interfaces)
    #[arg(short = 'L', long = "listen")]
    pub listen: Vec<IpAddr>,
    /// Number of backlog connections for listen
    #[arg(short = 'b', long = "backlog", default_value_t = 32)]
    pub backlog: u32,
    /// Detach and run in the background
    #[arg(short = 'd', long = "daemon")]
    pub daemon: bool,
    /// File to write the process id to
    #[arg(short = 'P', long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Switch to this user after start-up
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// I/O threads, at most one per two cores (0 = one per two cores)
    #[arg(short = 't', long = "threads", default_value_t = 4)]
    pub threads: usize,
    /// Log file: a path, `stderr` or `none`
    #[arg(short = 'l', long = "log-file", default_value = "stderr")]
    pub log_file: String,
    /// Log level: FATAL, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO, DEBUG
    #[arg(long = "verbose", default_value = "ERROR")]
    pub verbose: String,
    /// More logging (repeatable; on top of --verbose)
    #[arg(short = 'v', action = ArgAction::Count)]
    pub v: u8,
    /// Attempts to run a job before it is dropped (0 = no limit)
    #[arg(short = 'j', long = "job-retries", default_value_t = 0)]
    pub job_retries: u32,
    /// Wait before a lost job's first retry, doubled for each next one
    /// (ms; 0 = none; not a gearmand flag)
    #[arg(long = "retry-backoff-ms", default_value_t = 0)]
    pub retry_backoff_ms: u64,
    /// The longest wait between retries (ms; not a gearmand flag)
    #[arg(long = "retry-backoff-max-ms", default_value_t = 60_000)]
    pub retry_backoff_max_ms: u64,
    /// Jobs given up after -j kept for `deadletter` (not a gearmand flag)
    #[arg(long = "dead-letters", default_value_t = 1000)]
    pub dead_letters: usize,
    /// Bytes the dead-letter list may hold (not a gearmand flag)
    #[arg(long = "dead-letter-bytes", default_value_t = 64 << 20)]
    pub dead_letter_bytes: usize,
    /// Sleeping workers woken per job (0 = all, as gearmand)
    #[arg(short = 'w', long = "worker-wakeup", default_value_t = 0)]
    pub worker_wakeup: u32,
    /// Job handles are `<prefix>:<n>` (default `H:<hostname>`)
    #[arg(long = "job-handle-prefix")]
    pub job_handle_prefix: Option<String>,
    /// Protocol exceptions on for every connection
    #[arg(long = "exceptions")]
    pub exceptions: bool,
    /// Round-robin among a worker's functions (jobs go oldest first across
    /// a worker's functions anyway)
    #[arg(short = 'R', long = "round-robin")]
    pub round_robin: bool,
    /// Enable TCP keepalive on connections
    #[arg(long = "keepalive")]
    pub keepalive: bool,
    /// TCP_KEEPIDLE seconds (-1 = system default)
    #[arg(long = "keepalive-idle", default_value_t = -1, allow_negative_numbers = true)]
    pub keepalive_idle: i64,
    /// TCP_KEEPINTVL seconds (-1 = system default)
    #[arg(long = "keepalive-interval", default_value_t = -1, allow_negative_numbers = true)]
    pub keepalive_interval: i64,
    /// TCP_KEEPCNT (-1 = system default)
    #[arg(long = "keepalive-count", default_value_t = -1, allow_negative_numbers = true)]
    pub keepalive_count: i64,
    /// Persistent queue: builtin (memory), libsqlite3 or mysql
    #[arg(short = 'q', long = "queue-type", default_value = "builtin")]
    pub queue_type: String,
    /// libsqlite3: database file
    #[arg(long = "libsqlite3-db")]
    pub libsqlite3_db: Option<PathBuf>,
    /// libsqlite3: table
    #[arg(long = "libsqlite3-table", default_value = "gearman_queue")]
    pub libsqlite3_table: String,
    /// libsqlite3: write the queue only at shutdown (accepted; rows are
    /// always written at submit)
    #[arg(long = "store-queue-on-shutdown")]
    pub store_queue_on_shutdown: bool,
    /// MySQL host
    #[arg(long = "mysql-host", default_value = "localhost")]
    pub mysql_host: String,
    /// MySQL port
    #[arg(long = "mysql-port", default_value_t = 3306)]
    pub mysql_port: u16,
    /// MySQL user
    #[arg(long = "mysql-user")]
    pub mysql_user: Option<String>,
    /// MySQL password
    #[arg(long = "mysql-password")]
    pub mysql_password: Option<String>,
    /// MySQL database
    #[arg(long = "mysql-db")]
    pub mysql_db: Option<String>,
    /// MySQL table
    #[arg(long = "mysql-table", default_value = "gearman_queue")]
    pub mysql_table: String,
    /// Let the admin command `shutdown` stop the server, from loopback
    /// peers only (not a gearmand flag; gearmand 1.1.20 has no such command)
    #[arg(long = "admin-shutdown")]
    pub admin_shutdown: bool,
    /// Forget a function with no worker and no job after this many idle
    /// seconds (not a gearmand flag; gearmand never forgets a name)
    #[arg(long = "forget-idle-functions", default_value_t = 300)]
    pub forget_idle_functions: u64,
    /// Speak TLS on every listener (plaintext is refused)
    #[arg(long = "ssl")]
    pub ssl: bool,
    /// CA certificates (PEM) that client certificates are checked against
    #[arg(long = "ssl-ca-file")]
    pub ssl_ca_file: Option<PathBuf>,
    /// The server's certificate chain (PEM)
    #[arg(long = "ssl-certificate", default_value = "gearmand.pem")]
    pub ssl_certificate: PathBuf,
    /// The server's private key (PEM)
    #[arg(long = "ssl-key", default_value = "gearmand.key")]
    pub ssl_key: PathBuf,
    /// Largest packet accepted, in bytes (not a gearmand flag)
    #[arg(long = "max-packet-size", default_value_t = danga_gearman::proto::frame::DEFAULT_MAX_PACKET)]
    pub max_packet_size: u32,
    /// Maximum connections (not a gearmand flag; the file-descriptor limit bounds the original)
    #[arg(long = "max-connections", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Print the version and exit
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    #[command(flatten)]
    pub ignored: Ignored,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// gearmand flags accepted and ignored (with one warning each).
#[derive(clap::Args, Debug)]
pub struct Ignored {
    /// Accepted, ignored: set the limit with ulimit -n
    #[arg(short = 'f', long = "file-descriptors")]
    file_descriptors: Option<u64>,
    /// Accepted, ignored: the job table grows as needed
    #[arg(long = "hashtable-buckets")]
    hashtable_buckets: Option<u64>,
    /// Accepted, ignored (use -l)
    #[arg(long = "syslog")]
    syslog: bool,
    /// Accepted, ignored
    #[arg(long = "coredump")]
    coredump: bool,
    /// Accepted, ignored: no HTTP protocol plugin
    #[arg(short = 'r', long = "protocol")]
    protocol: Option<String>,
    /// Accepted, ignored
    #[arg(long = "http-port")]
    http_port: Option<u16>,
    /// Accepted, ignored
    #[arg(long = "config-file")]
    config_file: Option<String>,
}

impl Ignored {
    /// The flags given that do nothing here.
    pub fn given(&self) -> Vec<&'static str> {
        let flags = [
            ("--file-descriptors", self.file_descriptors.is_some()),
            ("--hashtable-buckets", self.hashtable_buckets.is_some()),
            ("--syslog", self.syslog),
            ("--coredump", self.coredump),
            ("--protocol", self.protocol.is_some()),
            ("--http-port", self.http_port.is_some()),
            ("--config-file", self.config_file.is_some()),
        ];
        flags
            .iter()
            .filter(|(_, on)| *on)
            .map(|(f, _)| *f)
            .collect()
    }
}

impl Cli {
    /// gearmand's level names, as `-v` counts.
    pub fn verbosity(&self) -> Result<u8, String> {
        let base = match self.verbose.to_ascii_uppercase().as_str() {
            "FATAL" | "ALERT" | "CRITICAL" | "ERROR" | "WARNING" | "WARN" => 0,
            "NOTICE" | "INFO" => 1,
            "DEBUG" => 2,
            other => return Err(format!("unknown --verbose level {other}")),
        };
        Ok(base + self.v)
    }
}

/// This machine's name, for `H:<hostname>` job handles.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl Cli {
    /// The engine's and the server's settings.
    pub fn configs(&self) -> Result<(queue::Config, server::Config), String> {
        if self.max_packet_size > server::MAX_PACKET_CAP {
            return Err(format!(
                "--max-packet-size {} is over {} bytes",
                self.max_packet_size,
                server::MAX_PACKET_CAP
            ));
        }
        let queue = queue::Config {
            handle_prefix: self
                .job_handle_prefix
                .clone()
                .unwrap_or_else(|| format!("H:{}", hostname())),
            job_retries: self.job_retries,
            retry_backoff_ms: self.retry_backoff_ms,
            retry_backoff_max_ms: self.retry_backoff_max_ms,
            dead_letters: self.dead_letters,
            dead_letter_bytes: self.dead_letter_bytes,
            wakeup: self.worker_wakeup,
            exceptions: self.exceptions,
            version: danga_gearman::VERSION.to_owned(),
            pid: std::process::id(),
            verbose: self.verbose.to_ascii_uppercase(),
            forget_idle_ms: self.forget_idle_functions.saturating_mul(1000),
        };
        let secs = |n: i64| u64::try_from(n).ok().map(std::time::Duration::from_secs);
        let server = server::Config {
            limits: Limits {
                max_packet: self.max_packet_size,
                ..Limits::default()
            },
            keepalive: self.keepalive.then(|| server::Keepalive {
                idle: secs(self.keepalive_idle),
                interval: secs(self.keepalive_interval),
                count: u32::try_from(self.keepalive_count).ok(),
            }),
            admin_shutdown: self.admin_shutdown,
            tls: if self.ssl {
                let tls = danga_gearman::tls::server_config(
                    &self.ssl_certificate,
                    &self.ssl_key,
                    self.ssl_ca_file.as_deref(),
                )
                .map_err(|e| format!("--ssl: {e}"))?;
                Some(tls)
            } else {
                None
            },
            ..server::Config::default()
        };
        Ok((queue, server))
    }
}
