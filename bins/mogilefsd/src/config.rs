//! mogilefsd's flags and its `key = value` config file: flags override the
//! file, the file overrides the defaults (as `MogileFS::Config`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use danga_common::cli::read_key_values;
use danga_common::ListenSpec;
use danga_mogilefs::meta::Dsn;
use danga_mogilefs::tracker::Settings;

const DEFAULT_CONFIG: &str = "/etc/mogilefs/mogilefsd.conf";
/// The SQLite file used when no `db_dsn` is given, in the start directory.
const DEFAULT_SQLITE: &str = "mogilefs.sqlite3";

/// mogilefsd's flags.
#[derive(Parser, Debug)]
#[command(name = "mogilefsd", disable_version_flag = true)]
pub struct Cli {
    /// Print the version (the MogileFS-Server release it speaks, and this
    /// project's) and exit
    #[arg(short = 'V', long = "version")]
    pub version: bool,
    /// Config file (default /etc/mogilefs/mogilefsd.conf, if present)
    #[arg(short = 'c', long = "config")]
    pub config: Option<PathBuf>,
    /// Do not read a config file
    #[arg(short = 's', long = "skipconfig")]
    pub skipconfig: bool,
    /// Debug logging (repeat for more); NOT daemonize
    #[arg(short = 'd', long = "debug", action = clap::ArgAction::Count)]
    pub debug: u8,
    /// Run in the background
    #[arg(short = 'D', long = "daemonize")]
    pub daemonize: bool,
    /// Database DSN: DBI:SQLite:dbname=PATH, sqlite://PATH (default:
    /// ./mogilefs.sqlite3), DBI:mysql:database=DB;host=H;port=P or
    /// mysql://[USER[:PASS]@]HOST[:PORT]/DB
    #[arg(long = "dsn")]
    pub dsn: Option<String>,
    /// Database user
    #[arg(long = "dbuser")]
    pub dbuser: Option<String>,
    /// Database password
    #[arg(long = "dbpass")]
    pub dbpass: Option<String>,
    /// User to run as
    #[arg(long = "user")]
    pub user: Option<String>,
    /// Port for the tracker when `listen` names none
    #[arg(short = 'p', long = "confport")]
    pub confport: Option<u16>,
    /// Address(es) to listen on: IP[:port], comma separated
    #[arg(short = 'l', long = "listen")]
    pub listen: Option<String>,
    /// Query workers
    #[arg(short = 'w', long = "workers")]
    pub workers: Option<u32>,
    /// Pid file
    #[arg(long = "pidfile")]
    pub pidfile: Option<PathBuf>,
    /// Maximum client connections
    #[arg(long = "max_handles")]
    pub max_handles: Option<usize>,
    /// The mogstored side-channel port
    #[arg(long = "mogstored_stream_port")]
    pub mogstored_stream_port: Option<u16>,
    /// Mindevcount of the implicit `default` class
    #[arg(long = "default_mindevcount")]
    pub default_mindevcount: Option<i64>,
    /// Seconds a storage node may take to answer
    #[arg(long = "node_timeout")]
    pub node_timeout: Option<u64>,
    /// Seconds a connection to a storage node may take
    #[arg(long = "conn_timeout")]
    pub conn_timeout: Option<u64>,
    /// MB a device must have free to get new files
    #[arg(long = "min_free_space", alias = "minfreespace")]
    pub min_free_space: Option<u64>,
    /// Seconds between monitor rounds (default 2.5; tests use less)
    #[arg(long = "monitor_interval", hide = true)]
    pub monitor_interval: Option<f64>,
    /// Seconds the reaper delays re-replicating a dead device's files (16)
    #[arg(long = "reaper_delay", hide = true)]
    pub reaper_delay: Option<u64>,
    /// Seconds between reaper rounds (default 5; tests use less)
    #[arg(long = "reaper_interval", hide = true)]
    pub reaper_interval: Option<f64>,
    /// Run the job master (default): it hands out delete, replicate and
    /// fsck work
    #[arg(long = "job_master", overrides_with = "no_job_master")]
    pub job_master: bool,
    /// Do not run the job master (this tracker then deletes, replicates
    /// and checks nothing until `!want 1 job_master`)
    #[arg(long = "no-job_master", aliases = ["nojob_master", "no_job_master"])]
    pub no_job_master: bool,
    /// Accepted and ignored, as the original (no separate HTTP server)
    #[arg(long = "no_http", hide = true)]
    pub no_http: bool,
    /// Accepted and ignored, as the original (workers are not processes)
    #[arg(long = "workerport", hide = true)]
    pub workerport: Option<u16>,
    /// Accepted and ignored, as the original 2.73 (no schema check here)
    #[arg(long = "no_schema_check", hide = true)]
    pub no_schema_check: bool,
    /// Seconds a device's usage report may age (recorded, see the docs)
    #[arg(long = "max_disk_age")]
    pub max_disk_age: Option<u64>,
    /// Idle connections kept per storage node (recorded, see the docs)
    #[arg(long = "conn_pool_size")]
    pub conn_pool_size: Option<u64>,
    /// Plugins to load: none exist in this build, so any name is refused
    #[arg(long = "plugins")]
    pub plugins: Vec<String>,
    /// Replicate from the storage node's get port (recorded, see the docs)
    #[arg(long = "repl_use_get_port")]
    pub repl_use_get_port: Option<u8>,
    /// Networks considered local (recorded, see the docs)
    #[arg(long = "local_network")]
    pub local_network: Option<String>,
    #[command(flatten)]
    pub common: danga_common::cli::CommonArgs,
}

/// The settings this build acts on; the rest of the file is kept in `extra`.
#[derive(Debug)]
pub struct Config {
    pub listen: Vec<ListenSpec>,
    pub daemonize: bool,
    pub pidfile: Option<PathBuf>,
    pub user: Option<String>,
    pub debug: u8,
    pub max_handles: usize,
    /// The flags every daemon shares (ready file, log format, metrics, drain).
    pub common: danga_common::cli::CommonArgs,
    /// Where the metadata lives (`db_dsn`; default: SQLite file
    /// `mogilefs.sqlite3` in the directory mogilefsd starts in).
    pub dsn: Dsn,
    /// Tracker settings (`default_mindevcount`, `node_timeout`).
    pub settings: Settings,
    /// Every `key = value` from the file and flags, for the tracker proper.
    pub extra: HashMap<String, String>,
}

impl Config {
    pub fn load(cli: &Cli) -> anyhow::Result<Config> {
        let mut kv = HashMap::new();
        if !cli.skipconfig {
            let (path, must_exist) = match &cli.config {
                Some(p) => (p.clone(), true),
                None => (PathBuf::from(DEFAULT_CONFIG), false),
            };
            kv.extend(read_key_values(&path, must_exist).map_err(anyhow::Error::msg)?);
        }
        let flags = [
            ("db_dsn", cli.dsn.clone()),
            ("db_user", cli.dbuser.clone()),
            ("db_pass", cli.dbpass.clone()),
            ("user", cli.user.clone()),
            ("conf_port", cli.confport.map(|p| p.to_string())),
            ("listen", cli.listen.clone()),
            ("query_jobs", cli.workers.map(|w| w.to_string())),
            (
                "pidfile",
                cli.pidfile.as_ref().map(|p| p.display().to_string()),
            ),
            ("max_handles", cli.max_handles.map(|m| m.to_string())),
            (
                "mogstored_stream_port",
                cli.mogstored_stream_port.map(|p| p.to_string()),
            ),
            (
                "default_mindevcount",
                cli.default_mindevcount.map(|n| n.to_string()),
            ),
            ("node_timeout", cli.node_timeout.map(|n| n.to_string())),
            ("conn_timeout", cli.conn_timeout.map(|n| n.to_string())),
            ("min_free_space", cli.min_free_space.map(|n| n.to_string())),
            (
                "monitor_interval",
                cli.monitor_interval.map(|n| n.to_string()),
            ),
            ("reaper_delay", cli.reaper_delay.map(|n| n.to_string())),
            (
                "reaper_interval",
                cli.reaper_interval.map(|n| n.to_string()),
            ),
            ("max_disk_age", cli.max_disk_age.map(|n| n.to_string())),
            ("conn_pool_size", cli.conn_pool_size.map(|n| n.to_string())),
            (
                "repl_use_get_port",
                cli.repl_use_get_port.map(|n| n.to_string()),
            ),
            ("local_network", cli.local_network.clone()),
            (
                "job_master",
                if cli.no_job_master {
                    Some("0".to_owned())
                } else if cli.job_master {
                    Some("1".to_owned())
                } else {
                    None
                },
            ),
        ];
        if let Some(p) = cli.plugins.first() {
            anyhow::bail!("plugin {p}: this mogilefsd has no plugins");
        }
        for (k, v) in flags {
            if let Some(v) = v {
                kv.insert(k.to_owned(), v);
            }
        }
        let port: u16 = match kv.get("conf_port") {
            Some(p) => p
                .parse()
                .with_context(|| format!("invalid conf_port {p}"))?,
            None => 7001,
        };
        let listen = kv.get("listen").map_or("0.0.0.0", String::as_str);
        let listen = listen
            .split(',')
            .map(|a| {
                let a = a.trim();
                let addr = a
                    .parse::<SocketAddr>()
                    .or_else(|_| a.parse().map(|ip| SocketAddr::new(ip, port)))
                    .with_context(|| format!("invalid listen address {a}"))?;
                Ok(ListenSpec::tcp("mogilefsd", addr))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let max_handles = match kv.get("max_handles") {
            Some(m) => m
                .parse()
                .with_context(|| format!("invalid max_handles {m}"))?,
            None => 10_000,
        };
        let dsn = match kv.get("db_dsn") {
            Some(d) => Dsn::parse(d)?,
            None => Dsn::Sqlite(
                std::env::current_dir()
                    .context("finding the current directory")?
                    .join(DEFAULT_SQLITE),
            ),
        };
        let number = |key: &str, default: u64| -> anyhow::Result<u64> {
            kv.get(key).map_or(Ok(default), |v| {
                v.parse().with_context(|| format!("invalid {key} {v}"))
            })
        };
        let mindev = number("default_mindevcount", 2)?;
        let seconds = |key: &str, default: f64| -> anyhow::Result<Duration> {
            let v = match kv.get(key) {
                Some(v) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && (0.05..=3600.0).contains(s))
                    .with_context(|| format!("invalid {key} {v} (seconds, 0.05-3600)"))?,
                None => default,
            };
            Ok(Duration::from_secs_f64(v))
        };
        let stream_port = match kv.get("mogstored_stream_port") {
            Some(p) => p
                .parse::<u16>()
                .with_context(|| format!("invalid mogstored_stream_port {p}"))?,
            None => 7501,
        };
        // listener_jobs is query_jobs' old name.
        let query_jobs = match kv.get("query_jobs").or(kv.get("listener_jobs")) {
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|&n| n >= 1)
                .with_context(|| format!("invalid query_jobs {v}"))?,
            None => 20,
        };
        let settings = Settings {
            default_mindevcount: i64::try_from(mindev.max(1)).context("default_mindevcount")?,
            node_timeout: Duration::from_secs(number("node_timeout", 2)?.max(1)),
            conn_timeout: Duration::from_secs(number("conn_timeout", 2)?.max(1)),
            monitor_interval: seconds("monitor_interval", 2.5)?,
            reaper_interval: seconds("reaper_interval", 5.0)?,
            reaper_delay: Duration::from_secs(number("reaper_delay", 16)?),
            mogstored_stream_port: stream_port,
            min_free_space: i64::try_from(number("min_free_space", 100)?)
                .context("min_free_space")?,
            query_jobs,
            replicate_jobs: usize::try_from(number("replicate_jobs", 1)?.clamp(1, 64))
                .context("replicate_jobs")?,
            job_master: kv.get("job_master").is_none_or(|v| v != "0"),
            ..Settings::default()
        };
        Ok(Config {
            dsn,
            settings,
            listen,
            daemonize: cli.daemonize || kv.get("daemonize").is_some_and(|v| v == "1"),
            pidfile: kv.get("pidfile").map(PathBuf::from),
            user: kv.get("user").cloned(),
            debug: cli.debug,
            max_handles,
            common: cli.common.clone(),
            extra: kv,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("mogcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("mogilefsd.conf");
        std::fs::write(
            &path,
            "# tracker\ndb_dsn = DBI:SQLite:/tmp/x.db\nlisten = 127.0.0.1:7101\nconf_port = 7002\n\
             replicate_jobs = 4\n",
        )
        .expect("write");
        let cli = Cli::parse_from([
            "mogilefsd",
            "-c",
            path.to_str().expect("utf8"),
            "--listen",
            "127.0.0.2",
        ]);
        let cfg = Config::load(&cli).expect("load");
        assert_eq!(
            cfg.listen,
            vec![ListenSpec::tcp(
                "mogilefsd",
                "127.0.0.2:7002".parse().expect("addr")
            )]
        );
        assert_eq!(cfg.extra["db_dsn"], "DBI:SQLite:/tmp/x.db");
        assert_eq!(cfg.dsn, Dsn::Sqlite(PathBuf::from("/tmp/x.db")));
        assert_eq!(cfg.settings.replicate_jobs, 4);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
