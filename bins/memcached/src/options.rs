//! From memcached's flags to the engine's, parser's and `stats settings`'
//! configuration, refusing what the original refuses.

use std::sync::Arc;

use anyhow::{bail, Context};
use danga_memcached::exec::{Passwords, Settings};
use danga_memcached::proto::Limits;
use danga_memcached::server::{Access, ConnConfig, Protocol, StatsSettings, TlsSettings};
use danga_memcached::store::{LruConfig, StoreConfig};

use crate::cli::Cli;

/// Everything the server needs from the command line.
pub struct Options {
    pub store: StoreConfig,
    pub exec: Settings,
    pub limits: Limits,
    pub stats: StatsSettings,
    pub access: Access,
    pub conn: ConnConfig,
    /// `T_MEMD_INITIAL_MALLOC`: bytes counted as allocated at start (the
    /// original's test hook).
    pub initial_malloc: usize,
    /// `-D`: the `stats detail` prefix delimiter (turns detail on).
    pub delimiter: Option<u8>,
    /// `-Z`: the TLS settings to load (None without `-Z`).
    pub tls: Option<TlsSettings>,
    /// `-o hashpower`: log2 of the hash index's buckets at start (the
    /// original's default, 16, when not given).
    pub hash_power: u32,
}

/// `-I` sizes: bytes, or with a `k`/`m` suffix.
fn parse_size(s: &str) -> anyhow::Result<usize> {
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 1024),
        Some('m' | 'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let n: usize = num.parse().with_context(|| format!("invalid size {s}"))?;
    n.checked_mul(mult).context("size too large")
}

/// C's `atoi`: leading blanks, a sign, digits; anything after ignored
/// (0 when there are no digits).
fn atoi(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let n = digits[..end].parse::<i64>().unwrap_or(0);
    if neg {
        -n
    } else {
        n
    }
}

/// The `-o` sub-options the original knows (values not checked beyond
/// the ones this build acts on).
const KNOWN: &[&str] = &[
    "maxconns_fast",
    "no_maxconns_fast",
    "hashpower",
    "tail_repair_time",
    "hash_algorithm",
    "lru_crawler",
    "no_lru_crawler",
    "lru_crawler_sleep",
    "lru_crawler_tocrawl",
    "lru_maintainer",
    "no_lru_maintainer",
    "hot_lru_pct",
    "warm_lru_pct",
    "hot_max_factor",
    "warm_max_factor",
    "temporary_ttl",
    "idle_timeout",
    "watcher_logbuf_size",
    "worker_logbuf_size",
    "track_sizes",
    "no_hashexpand",
    "modern",
    "no_modern",
    "slab_reassign",
    "slab_automove",
    "slab_automove_ratio",
    "slab_automove_window",
    "slab_chunk_max",
    "read_buf_mem_limit",
    "sock_cookie_id",
    "no_inline_ascii_resp",
    "inline_ascii_resp",
    "drop_privileges",
    "no_drop_privileges",
    "ssl_chain_cert",
    "ssl_key",
    "ssl_verify_mode",
    "ssl_keyformat",
    "ssl_ciphers",
    "ssl_ca_cert",
    "ssl_wbuf_size",
    "ssl_session_cache",
    "ssl_kernel_tls",
    "ssl_min_version",
    "ext_path",
    "ext_wbuf_size",
    "ext_threads",
    "ext_io_depth",
    "ext_page_size",
    "ext_item_size",
    "ext_item_age",
    "ext_low_ttl",
    "ext_recache_rate",
    "ext_compact_under",
    "ext_drop_under",
    "ext_max_frag",
    "ext_max_sleep",
    "ext_drop_unread",
    "slab_automove_freeratio",
    "no_chunked_items",
    "no_slab_reassign",
    "no_slab_automove",
    "resp_obj_mem_limit",
    "slab_sizes",
    "proxy_config",
];

impl Options {
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Options> {
        if cli.conn_limit == 0 {
            bail!("Maximum connections must be greater than 0");
        }
        if cli.threads == 0 {
            bail!("Number of threads must be greater than 0");
        }
        let item_size_max = parse_size(&cli.max_item_size)?;
        if item_size_max < 1024 {
            bail!("Item max size cannot be less than 1024 bytes.");
        }
        if item_size_max > 1024 * 1024 * 1024 {
            bail!("Cannot set item size limit higher than 1 gigabyte.");
        }
        let mem_limit = usize::try_from(cli.memory_limit)
            .ok()
            .and_then(|m| m.checked_mul(1 << 20))
            .context("-m too large")?;
        if item_size_max > mem_limit / 2 && mem_limit > 0 {
            bail!("Cannot set item size limit higher than 1/2 of memory max.");
        }
        if cli.conn_limit == 0 {
            bail!("Maximum connections must be greater than 0");
        }
        if cli.threads == 0 {
            bail!("Number of threads must be greater than 0");
        }
        if cli.growth_factor <= 1.0 {
            bail!("Factor must be greater than 1");
        }
        let mut slab_chunk_max = (1usize << 20) / 2;
        let mut read_buf_mem_mb = 0u64;
        let mut chunk_max_set = false;
        let mut lru_crawler = true;
        let mut lru_maintainer = true;
        let mut idle_timeout = 0u64;
        let mut watcher_logbuf_kb = 256usize;
        let mut lru = LruConfig::default();
        let mut slab_reassign = true;
        let mut slab_automove = 1u32;
        let mut slab_automove_ratio = 0.8f64;
        let mut slab_automove_window = 30u32;
        let mut ssl = TlsSettings::default();
        let mut hash_power = 16u32;
        let pct = |what: &str, v: &str| -> anyhow::Result<u32> {
            if v.is_empty() {
                bail!("Missing {what} argument");
            }
            match atoi(v) {
                n @ 1..=79 => Ok(n as u32),
                _ => bail!("{what} must be > 1 and < 80"),
            }
        };
        let factor = |what: &str, v: &str| -> anyhow::Result<f64> {
            if v.is_empty() {
                bail!("Missing {what} argument");
            }
            match v.trim().parse::<f64>() {
                Ok(f) if f > 0.0 => Ok(f),
                _ => bail!("{what} must be > 0"),
            }
        };
        for opt in &cli.extended {
            let (name, value) = opt.split_once('=').unwrap_or((opt.as_str(), ""));
            if name.is_empty() {
                continue;
            }
            if !KNOWN.contains(&name) {
                bail!("Illegal suboption \"{opt}\"");
            }
            match name {
                "slab_chunk_max" => {
                    // Bytes (1.6 dropped the kilobyte unit of 1.5).
                    slab_chunk_max = value
                        .parse::<usize>()
                        .ok()
                        .filter(|v| *v > 0)
                        .context("could not parse argument to slab_chunk_max")?;
                    chunk_max_set = true;
                }
                "no_chunked_items" => {
                    slab_chunk_max = 1 << 20;
                    chunk_max_set = true;
                }
                "watcher_logbuf_size" => {
                    watcher_logbuf_kb = value
                        .parse()
                        .ok()
                        .context("could not parse argument to watcher_logbuf_size")?;
                }
                "no_lru_crawler" => lru_crawler = false,
                "lru_crawler" => lru_crawler = true,
                "no_lru_maintainer" => {
                    lru_maintainer = false;
                    lru.segmented = false;
                }
                "hot_lru_pct" => lru.hot_pct = pct(name, value)?,
                "warm_lru_pct" => lru.warm_pct = pct(name, value)?,
                "hot_max_factor" => lru.hot_max_factor = factor(name, value)?,
                "warm_max_factor" => lru.warm_max_factor = factor(name, value)?,
                "temporary_ttl" => {
                    if value.is_empty() {
                        bail!("Missing temporary_ttl argument");
                    }
                    lru.temp_lru = true;
                    lru.temporary_ttl = u32::try_from(atoi(value)).unwrap_or(0);
                }
                "lru_maintainer" => lru_maintainer = true,
                "no_modern" => {
                    lru_maintainer = false;
                    lru_crawler = false;
                    lru.segmented = false;
                    slab_reassign = false;
                    slab_automove = 0;
                }
                "slab_reassign" => slab_reassign = true,
                "no_slab_reassign" => slab_reassign = false,
                "no_slab_automove" => slab_automove = 0,
                "slab_automove" => {
                    slab_automove = match value {
                        "" => 1,
                        v => match atoi(v) {
                            n @ 0..=2 => n as u32,
                            _ => bail!("slab_automove must be between 0 and 2"),
                        },
                    }
                }
                "slab_automove_ratio" => {
                    if value.is_empty() {
                        bail!("Missing slab_automove_ratio argument");
                    }
                    slab_automove_ratio = value.trim().parse::<f64>().unwrap_or(0.0);
                    if slab_automove_ratio <= 0.0 || slab_automove_ratio > 1.0 {
                        bail!("slab_automove_ratio must be > 0 and < 1");
                    }
                }
                "slab_automove_window" => {
                    if value.is_empty() {
                        bail!("Missing slab_automove_window argument");
                    }
                    match atoi(value) {
                        n @ 3..=100_000 => slab_automove_window = n as u32,
                        _ => bail!("slab_automove_window must be > 2"),
                    }
                }
                "hashpower" => {
                    if value.is_empty() {
                        bail!("Missing numeric argument for hashpower");
                    }
                    hash_power = match atoi(value) {
                        n @ 12..=32 => n as u32,
                        n if n < 12 => bail!("Initial hashtable multiplier of {n} is too low"),
                        n => bail!("Initial hashtable multiplier of {n} is too high"),
                    };
                }
                "modern" => lru_maintainer = true,
                "read_buf_mem_limit" => {
                    read_buf_mem_mb = value
                        .parse()
                        .ok()
                        .context("could not parse argument to read_buf_mem_limit")?;
                }
                n if n.starts_with("ssl_") => ssl_option(&mut ssl, n, value)?,
                "idle_timeout" => {
                    idle_timeout = value
                        .parse()
                        .ok()
                        .context("Missing numeric argument for idle_timeout")?;
                }
                _ => {}
            }
        }
        if lru.hot_pct + lru.warm_pct > 80 {
            bail!("hot_lru_pct + warm_lru_pct cannot be more than 80% combined");
        }
        if item_size_max > 1 << 20 && !chunk_max_set {
            slab_chunk_max = (1 << 20) / 2;
        }
        if slab_chunk_max > item_size_max {
            bail!("slab_chunk_max (bytes: {slab_chunk_max}) cannot be larger than -I (item_size_max {item_size_max})");
        }
        if item_size_max % slab_chunk_max != 0 {
            bail!("-I (item_size_max: {item_size_max}) must be evenly divisible by slab_chunk_max (bytes: {slab_chunk_max})");
        }
        if (1 << 20) % slab_chunk_max != 0 {
            bail!("slab_chunk_max (bytes: {slab_chunk_max}) must divide evenly into 1048576 (slab_page_size)");
        }
        let (protocol, access) = access(cli)?;
        let sasl = if cli.enable_sasl {
            let path = std::env::var_os("MEMCACHED_SASL_PWDB")
                .context("-S needs MEMCACHED_SASL_PWDB: a file of user:password lines")?;
            Some(Arc::new(Passwords::load(path.as_ref())?))
        } else {
            None
        };
        let pages = (mem_limit >> 20).max(1);
        let mut shards = (cli.threads.max(1) * 2).next_power_of_two().min(16);
        // Pages are cut per shard: with fewer than 4 pages per shard a
        // class soon holds pages in some shards only, and a shard without
        // one takes a page from another class instead of evicting in the
        // class as the original does (`slabs_reassign.t` at -m 4).
        while shards > 1 && shards * 4 > pages {
            shards /= 2;
        }
        let store = StoreConfig {
            mem_limit: mem_limit.max(1 << 20),
            page_size: 1 << 20,
            growth_factor: cli.growth_factor,
            min_chunk: cli.slab_min_size as usize,
            item_size_max,
            slab_chunk_max: slab_chunk_max.min(1 << 19),
            evict: !cli.disable_evictions,
            shards,
            flat_lru: !lru_maintainer,
            lru,
            slab_reassign,
            slab_automove,
            slab_automove_ratio,
            slab_automove_window,
        };
        let exec = Settings {
            cas_enabled: !cli.disable_cas,
            flush_enabled: !cli.disable_flush_all,
            shutdown_enabled: cli.enable_shutdown,
            sasl,
            lru_crawler,
            dump_enabled: !cli.disable_dumping,
        };
        let limits = Limits {
            item_size_max,
            ..Limits::default()
        };
        let stats = StatsSettings {
            maxbytes: mem_limit as u64,
            maxconns: cli.conn_limit as u64,
            tcpport: i64::from(cli.port),
            udpport: u64::from(cli.udp_port),
            inter: if cli.listen.is_empty() {
                "NULL".into()
            } else {
                cli.listen.join(",")
            },
            verbosity: u32::from(cli.verbose),
            evictions: !cli.disable_evictions,
            domain_socket: cli
                .unix_socket
                .as_ref()
                .map_or_else(|| "NULL".into(), |p| p.display().to_string()),
            umask: cli.unix_mask.clone(),
            shutdown_command: cli.enable_shutdown,
            growth_factor: cli.growth_factor,
            chunk_size: u64::from(cli.slab_min_size),
            num_threads: cli.threads as u64,
            reqs_per_event: u64::from(cli.max_reqs_per_event),
            cas_enabled: !cli.disable_cas,
            tcp_backlog: u64::from(cli.backlog),
            binding_protocol: match protocol {
                Protocol::Ascii => "ascii".into(),
                Protocol::Binary => "binary".into(),
                Protocol::Auto => "auto-negotiate".into(),
            },
            auth_enabled_sasl: cli.enable_sasl,
            auth_enabled_ascii: cli
                .auth_file
                .as_ref()
                .map_or_else(|| "no".into(), |p| p.display().to_string()),
            item_size_max: item_size_max as u64,
            slab_chunk_max: slab_chunk_max as u64,
            flush_enabled: !cli.disable_flush_all,
            dump_enabled: !cli.disable_dumping,
            lru_crawler,
            lru_maintainer,
            ssl: ssl.clone(),
            memory_file: cli
                .memory_file
                .as_ref()
                .map_or_else(|| "(null)".into(), |p| p.display().to_string()),
        };
        let mut conn = ConnConfig::new(
            cli.max_reqs_per_event,
            read_buf_mem_mb,
            cli.threads,
            idle_timeout,
        );
        conn.watch_enabled = !cli.disable_watch;
        conn.watcher_logbuf = watcher_logbuf_kb.saturating_mul(1024);
        let initial_malloc = std::env::var("T_MEMD_INITIAL_MALLOC")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let delimiter = match &cli.stats_delimiter {
            None => None,
            Some(d) => Some(*d.as_bytes().first().context("No delimiter specified")?),
        };
        if cli.enable_ssl && (cli.port == 0 || cli.unix_socket.is_some()) {
            bail!("ERROR: You cannot enable SSL without a TCP port.");
        }
        Ok(Options {
            tls: cli.enable_ssl.then_some(ssl),
            hash_power,
            delimiter,
            initial_malloc,
            conn,
            store,
            exec,
            limits,
            stats,
            access,
        })
    }
}

/// One `-o ssl_*` sub-option, checked with the original's messages.
fn ssl_option(ssl: &mut TlsSettings, name: &str, value: &str) -> anyhow::Result<()> {
    let needs = |v: &str| -> anyhow::Result<()> {
        if v.is_empty() {
            bail!("Missing {name} argument");
        }
        Ok(())
    };
    let number = |v: &str| -> anyhow::Result<i64> {
        needs(v)?;
        v.trim()
            .parse::<i64>()
            .ok()
            .with_context(|| format!("could not parse argument to {name}"))
    };
    match name {
        "ssl_chain_cert" => {
            needs(value)?;
            ssl.chain_cert = Some(value.into());
        }
        "ssl_key" => {
            needs(value)?;
            ssl.key = Some(value.into());
        }
        "ssl_ca_cert" => {
            needs(value)?;
            ssl.ca_cert = Some(value.into());
        }
        "ssl_ciphers" => {
            needs(value)?;
            ssl.ciphers = Some(value.into());
        }
        "ssl_verify_mode" => {
            ssl.verify_mode = match number(value)? {
                n @ 0..=3 => n as u8,
                _ => bail!("Invalid ssl_verify_mode. Use help to see valid options."),
            }
        }
        "ssl_keyformat" => ssl.keyformat = number(value)?,
        "ssl_wbuf_size" => {
            let kb = usize::try_from(number(value)?)
                .ok()
                .with_context(|| format!("could not parse argument to {name}"))?;
            ssl.wbuf_size = kb.saturating_mul(1024);
        }
        "ssl_session_cache" => ssl.session_cache = true,
        "ssl_kernel_tls" => ssl.kernel_tls = true,
        "ssl_min_version" => {
            ssl.min_version = match number(value)? {
                n @ 0..=3 => n as u8,
                _ => bail!("Invalid ssl_min_version. Use help to see valid options."),
            }
        }
        _ => {}
    }
    Ok(())
}

/// `-B`, `-S`, `-U` and `-Y` together, refused as the original refuses
/// them: SASL forces the binary protocol and rules out UDP; ASCII
/// authentication forces the text protocol.
fn access(cli: &Cli) -> anyhow::Result<(Protocol, Access)> {
    let specified = cli.protocol.is_some();
    let mut protocol = match cli.protocol.as_deref().unwrap_or("auto") {
        "auto" => Protocol::Auto,
        "ascii" => Protocol::Ascii,
        "binary" => Protocol::Binary,
        other => bail!("Invalid value for binding protocol: {other}\n -- should be one of auto, binary, or ascii"),
    };
    if cli.enable_sasl {
        if !specified {
            protocol = Protocol::Binary;
        } else if protocol != Protocol::Binary {
            bail!("ERROR: You cannot allow the ASCII protocol while using SASL.");
        }
        if cli.udp_port != 0 {
            bail!("ERROR: Cannot enable UDP while using binary SASL authentication.");
        }
    }
    let mut ascii_auth = None;
    if let Some(path) = &cli.auth_file {
        if !specified {
            protocol = Protocol::Ascii;
        } else if protocol != Protocol::Ascii {
            bail!("ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.");
        }
        ascii_auth = Some(Arc::new(Passwords::load(path)?));
    }
    Ok((
        protocol,
        Access {
            protocol,
            ascii_auth,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_suffixes() {
        assert_eq!(parse_size("1m").expect("1m"), 1 << 20);
        assert_eq!(parse_size("512k").expect("512k"), 512 << 10);
        assert_eq!(parse_size("2048").expect("2048"), 2048);
        assert!(parse_size("lots").is_err());
    }
}
