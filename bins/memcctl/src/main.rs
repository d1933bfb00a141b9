//! memcctl: an operator's tool over danga-memcached's client. The server
//! list takes `host:port[:weight]`, as Cache::Memcached and pylibmc do.
//!
//!     memcctl --servers a:11211,b:11211 --hash ketama owner user:42
//!     memcctl --servers a:11211 set greeting hello --exptime 60

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use danga_memcached::client::{Client, Config, Distribution};

#[derive(Parser, Debug)]
#[command(
    name = "memcctl",
    version = concat!("1.6.18 (danga ", env!("CARGO_PKG_VERSION"), ")"), about = "Talk to a memcached cluster")]
struct Cli {
    /// Servers: host:port[:weight], comma separated
    #[arg(long, short = 's', value_delimiter = ',', required = true)]
    servers: Vec<String>,
    /// Key-to-server mapping
    #[arg(long, value_enum, default_value = "crc32")]
    hash: Hash,
    /// Timeout per operation, in milliseconds
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Hash {
    /// Cache::Memcached's CRC32 modulo
    Crc32,
    /// libmemcached/pylibmc ketama
    Ketama,
    /// libmemcached/pylibmc ketama_weighted
    KetamaWeighted,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Print a key's value (exit 1 when missing)
    Get { key: String },
    /// Store a value
    Set {
        key: String,
        value: String,
        #[arg(long, default_value_t = 0)]
        flags: u32,
        #[arg(long, default_value_t = 0)]
        exptime: i64,
    },
    /// Delete a key (exit 1 when missing)
    Delete { key: String },
    /// Every server's stats (or `stats ARGS`)
    Stats { args: Vec<String> },
    /// Which server a key maps to
    Owner { key: String },
}

fn config(cli: &Cli) -> anyhow::Result<Config> {
    let dist = match cli.hash {
        Hash::Crc32 => Distribution::Modulo,
        Hash::Ketama => Distribution::Ketama,
        Hash::KetamaWeighted => Distribution::KetamaWeighted,
    };
    let mut cfg = Config::new(Vec::<String>::new(), dist);
    for s in &cli.servers {
        let parts: Vec<&str> = s.split(':').collect();
        let (addr, weight) = match parts.as_slice() {
            [host, port] => (format!("{host}:{port}"), 1),
            [host, port, w] => (
                format!("{host}:{port}"),
                w.parse().with_context(|| format!("bad weight in {s}"))?,
            ),
            _ => bail!("server {s:?}: expected host:port[:weight]"),
        };
        cfg.servers.push((addr, weight));
    }
    cfg.timeout = Duration::from_millis(cli.timeout_ms);
    Ok(cfg)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("memcctl: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let client = Client::new(config(&cli)?);
    match &cli.cmd {
        Cmd::Owner { key } => match client.owner(key.as_bytes()) {
            Some((_, addr)) => println!("{addr}"),
            None => bail!("no server"),
        },
        Cmd::Get { key } => match client.get(key.as_bytes()).await? {
            Some(item) => println!("{}", String::from_utf8_lossy(&item.value)),
            None => return Ok(ExitCode::from(1)),
        },
        Cmd::Set {
            key,
            value,
            flags,
            exptime,
        } => {
            if !client
                .set(key.as_bytes(), value.as_bytes(), *flags, *exptime)
                .await?
            {
                bail!("not stored");
            }
        }
        Cmd::Delete { key } => {
            if !client.delete(key.as_bytes()).await? {
                return Ok(ExitCode::from(1));
            }
        }
        Cmd::Stats { args } => {
            for (server, r) in client.stats(&args.join(" ")).await {
                match r {
                    Ok(stats) => stats.iter().for_each(|(k, v)| println!("{server} {k} {v}")),
                    Err(e) => println!("{server} error {e}"),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
