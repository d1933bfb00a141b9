//! memcached 1.6's command line: the same letters, long names, defaults and
//! units. Flags this build accepts without acting on them are listed in
//! `docs/compat/memcached.md`.

use std::path::PathBuf;

use clap::{ArgAction, Parser};
use danga_common::cli::CommonArgs;

/// memcached's flags.
#[derive(Parser, Debug)]
#[command(name = "memcached", disable_version_flag = true)]
pub struct Cli {
    /// TCP port to listen on (0 = off, -1 = a random port, written to
    /// $MEMCACHED_PORT_FILENAME)
    #[arg(
        short = 'p',
        long = "port",
        default_value_t = 11211,
        allow_negative_numbers = true
    )]
    pub port: i32,
    /// UDP port (0 = off)
    #[arg(short = 'U', long = "udp-port", default_value_t = 0)]
    pub udp_port: u16,
    /// Unix socket path to listen on (disables TCP)
    #[arg(short = 's', long = "unix-socket")]
    pub unix_socket: Option<PathBuf>,
    /// Access mask for the unix socket, in octal
    #[arg(short = 'a', long = "unix-mask", default_value = "700")]
    pub unix_mask: String,
    /// Interface(s) to listen on, ADDR or ADDR:PORT (repeatable, or comma
    /// separated); with -Z, a `notls:` prefix keeps that listener plain
    #[arg(short = 'l', long = "listen", value_delimiter = ',')]
    pub listen: Vec<String>,
    /// Run as a daemon
    #[arg(short = 'd', long = "daemon")]
    pub daemon: bool,
    /// Save the pid in this file
    #[arg(short = 'P', long = "pidfile")]
    pub pidfile: Option<PathBuf>,
    /// Assume the identity of this user (only when run as root)
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Item memory in megabytes
    #[arg(short = 'm', long = "memory-limit", default_value_t = 64)]
    pub memory_limit: u64,
    /// Return an error on memory exhausted instead of evicting
    #[arg(short = 'M', long = "disable-evictions")]
    pub disable_evictions: bool,
    /// Max simultaneous connections
    #[arg(short = 'c', long = "conn-limit", default_value_t = 1024)]
    pub conn_limit: usize,
    /// Number of worker threads
    #[arg(short = 't', long = "threads", default_value_t = 4)]
    pub threads: usize,
    /// Verbose (repeat for more)
    #[arg(short = 'v', action = ArgAction::Count)]
    pub verbose: u8,
    /// Print the version and exit
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// Print the license and exit
    #[arg(short = 'i', long = "license")]
    pub license: bool,
    /// Chunk size growth factor
    #[arg(short = 'f', long = "slab-growth-factor", default_value_t = 1.25)]
    pub growth_factor: f64,
    /// Minimum space allocated for key+value+flags
    #[arg(short = 'n', long = "slab-min-size", default_value_t = 48)]
    pub slab_min_size: u32,
    /// Maximum item size (k/m suffix)
    #[arg(short = 'I', long = "max-item-size", default_value = "1m")]
    pub max_item_size: String,
    /// Disable CAS
    #[arg(short = 'C', long = "disable-cas")]
    pub disable_cas: bool,
    /// Listen backlog
    #[arg(short = 'b', long = "listen-backlog", default_value_t = 1024)]
    pub backlog: u32,
    /// Protocol: auto (the default), ascii or binary
    #[arg(short = 'B', long = "protocol")]
    pub protocol: Option<String>,
    /// Max requests per event
    #[arg(short = 'R', long = "max-reqs-per-event", default_value_t = 20)]
    pub max_reqs_per_event: u32,
    /// Stats prefix delimiter
    #[arg(short = 'D')]
    pub stats_delimiter: Option<String>,
    /// Allow the `shutdown` command
    #[arg(short = 'A', long = "enable-shutdown")]
    pub enable_shutdown: bool,
    /// Accepted for compatibility
    #[arg(short = 'L', long = "enable-largepages")]
    pub largepages: bool,
    /// Accepted for compatibility
    #[arg(short = 'k', long = "lock-memory")]
    pub lock_memory: bool,
    /// Accepted for compatibility
    #[arg(short = 'r', long = "enable-coredumps")]
    pub coredumps: bool,
    /// Disable flush_all
    #[arg(short = 'F', long = "disable-flush-all")]
    pub disable_flush_all: bool,
    /// Disable stats cachedump and lru_crawler metadump
    #[arg(short = 'X', long = "disable-dumping")]
    pub disable_dumping: bool,
    /// Disable watch commands
    #[arg(short = 'W', long = "disable-watch")]
    pub disable_watch: bool,
    /// Turn on SASL authentication (binary protocol; users from the file
    /// named by $MEMCACHED_SASL_PWDB, lines `user:password`)
    #[arg(short = 'S', long = "enable-sasl")]
    pub enable_sasl: bool,
    /// ASCII authentication: a file of `user:password` lines
    #[arg(short = 'Y', long = "auth-file")]
    pub auth_file: Option<PathBuf>,
    /// Enable TLS/SSL (see the ssl_* extended options; `-l notls:ADDR:PORT`
    /// keeps one listener plain)
    #[arg(short = 'Z', long = "enable-ssl")]
    pub enable_ssl: bool,
    /// Restartable cache: a graceful stop (SIGUSR1, `shutdown graceful`)
    /// saves the items to this file (and FILE.meta); the next start with
    /// the same settings loads them
    #[arg(short = 'e', long = "memory-file")]
    pub memory_file: Option<PathBuf>,
    /// Extended options, comma separated: ... ssl_chain_cert=FILE,
    /// ssl_key=FILE, ssl_keyformat=1|2, ssl_verify_mode=0..3 (none, request,
    /// require, once), ssl_ciphers=LIST, ssl_ca_cert=FILE, ssl_wbuf_size=KB,
    /// ssl_session_cache, ssl_kernel_tls, ssl_min_version=0..3 (tlsv1.0,
    /// tlsv1.1, tlsv1.2, tlsv1.3; default 2)
    #[arg(short = 'o', long = "extended", value_delimiter = ',')]
    pub extended: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}
