//! The connection-loop targets: each daemon's real per-connection code fed
//! an arbitrary byte stream over [`crate::conn`], its heap held to a
//! stated budget. The budgets are written out as sums of the daemon's own
//! limits so a reader can check them against the daemon's promise.

use std::path::Path;
use std::sync::Arc;

use danga_common::{Acceptor, AtLimit, ConnStats, Listener, Registry, Shutdown};

use crate::conn::{play, play_with, Daemon};

/// What any connection may hold beyond its protocol buffers: the task, the
/// socket's registration, reply scratch space, per-request bookkeeping.
const CONSTANT: usize = 2 << 20;

/// An accept loop for `listener` running `serve` on each connection.
fn accept<F, Fut>(listener: Listener, shutdown: Shutdown, serve: F)
where
    F: Fn(danga_common::Conn) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let stats = ConnStats::register(&Registry::new());
    Acceptor::new(4, AtLimit::Wait, stats, shutdown).spawn(listener, serve);
}

mod memcached {
    use super::*;
    use danga_memcached::exec::{Engine, Settings};
    use danga_memcached::proto::Limits;
    use danga_memcached::server::{unix_now, Access, ConnConfig, ConnTable, Server, StatsSettings};
    use danga_memcached::store::StoreConfig;

    /// `-m`: small, so a short input can fill it and evict.
    pub const MEM_LIMIT: usize = 4 << 20;
    /// The shards `memcached -m 4` runs with (its options give each shard
    /// at least four pages); each shard's hash index is set up per run.
    pub const SHARDS: usize = 1;
    /// `-I`.
    pub const ITEM_SIZE_MAX: usize = 64 << 10;
    /// The longest `get` line (the default).
    pub const GET_LINE_MAX: usize = 256 << 10;
    /// What the connection may write before it stops reading (its
    /// `OUT_HIGH_WATER`), plus the one reply being built.
    pub const OUTPUT: usize = (256 << 10) + ITEM_SIZE_MAX;

    pub struct Memcached;

    impl Daemon for Memcached {
        fn start(self, listener: Listener, shutdown: Shutdown, _: &Path) {
            let store = StoreConfig {
                mem_limit: MEM_LIMIT,
                item_size_max: ITEM_SIZE_MAX,
                shards: SHARDS,
                ..StoreConfig::default()
            };
            let limits = Limits {
                item_size_max: ITEM_SIZE_MAX,
                get_line_max: GET_LINE_MAX,
                ..Limits::default()
            };
            let server = Arc::new(Server {
                engine: Engine::new(store, Settings::default(), unix_now()),
                limits,
                conn: ConnConfig::default(),
                registry: Registry::new(),
                settings: StatsSettings::default(),
                started: unix_now(),
                shutdown: shutdown.clone(),
                access: Access::default(),
                conns: ConnTable::default(),
                tls: None,
            });
            accept(listener, shutdown, move |c| {
                Arc::clone(&server).serve(c, false)
            });
        }
    }
}

/// memcached's connection (text, meta and binary, negotiated from the
/// first byte). Budget: the store (`-m`), twice the input a request may
/// hold (the longest `get` line, or a line and a largest item), the output
/// high-water mark with one reply, and [`CONSTANT`].
pub fn memcached_conn(data: &[u8]) {
    play(data, memcached_budget_for(data), memcached::Memcached);
}

/// [`memcached_conn`]'s budget, in bytes, for an input that does not
/// raise the store's limit.
pub fn memcached_budget() -> usize {
    use memcached::*;
    let input = GET_LINE_MAX.max(2048 + ITEM_SIZE_MAX + 2);
    MEM_LIMIT + 2 * input + OUTPUT + CONSTANT
}

/// [`memcached_conn`]'s budget for `data`: `cache_memlimit N` lets any
/// client move the store's limit to N megabytes (as in the original), so
/// the store's share of the budget is the largest limit the input may set.
/// The scan is lenient (any `cache_memlimit` followed, on its line, by a
/// number): overcounting a command the daemon refuses only loosens the
/// budget of that one input.
pub fn memcached_budget_for(data: &[u8]) -> usize {
    let store = memlimits_set(data)
        .map(|mb| usize::try_from(mb).map_or(usize::MAX, |m| m.saturating_mul(1 << 20)))
        .fold(memcached::MEM_LIMIT, usize::max);
    memcached_budget()
        .saturating_sub(memcached::MEM_LIMIT)
        .saturating_add(store)
}

/// The numbers (megabytes) following each `cache_memlimit` in `data`.
fn memlimits_set(data: &[u8]) -> impl Iterator<Item = u64> + '_ {
    const CMD: &[u8] = b"cache_memlimit";
    data.windows(CMD.len())
        .enumerate()
        .filter(|(_, w)| *w == CMD)
        .filter_map(move |(at, _)| {
            let rest = &data[at + CMD.len()..];
            let line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
            let start = line.iter().position(u8::is_ascii_digit)?;
            let digits = line[start..].iter().take_while(|b| b.is_ascii_digit());
            Some(digits.fold(0u64, |n, &d| {
                n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
            }))
        })
}

/// [`memcached_conn`] with a given budget and client, returning what the
/// client read: for tests of the harness itself.
pub fn memcached_conn_with(data: &[u8], budget: usize, reads: bool) -> Vec<u8> {
    play_with(data, budget, reads, memcached::Memcached)
}

mod gearmand {
    use super::*;
    use danga_gearman::proto::Limits;
    use danga_gearman::queue::{self, Queue};
    use danga_gearman::server::{Config, Server};

    /// The largest packet.
    pub const MAX_PACKET: u32 = 64 << 10;
    /// The longest admin line.
    pub const MAX_LINE: usize = 8192;
    /// Most output queued for the connection before it is closed.
    pub const MAX_PENDING: usize = 256 << 10;
    /// Failed jobs kept for `show dead`.
    pub const DEAD_LETTER_BYTES: usize = 64 << 10;

    pub struct Gearmand;

    impl Daemon for Gearmand {
        fn start(self, listener: Listener, shutdown: Shutdown, _: &Path) {
            let qcfg = queue::Config {
                dead_letter_bytes: DEAD_LETTER_BYTES,
                ..queue::Config::default()
            };
            let cfg = Config {
                limits: Limits {
                    max_packet: MAX_PACKET,
                    max_line: MAX_LINE,
                },
                max_pending: MAX_PENDING,
                ..Config::default()
            };
            let server = Server::new(Queue::new(qcfg), cfg, shutdown.clone());
            server.spawn_timer();
            accept(listener, shutdown, move |c| Arc::clone(&server).serve(c));
        }
    }
}

/// What a queued job may cost per byte of the input that submitted it:
/// its function, unique and data, the job record, the handle, the queue
/// entries (a 15-byte `SUBMIT_JOB_BG` makes a job of a few hundred bytes).
pub const GEARMAND_PER_INPUT_BYTE: usize = 32;

/// gearmand's connection: binary packets and admin lines; jobs submitted
/// stay queued (no worker takes them), so the queue grows with the input.
/// Budget: twice the largest packet, the pending output limit, the
/// dead-letter store, [`GEARMAND_PER_INPUT_BYTE`] per input byte, and
/// [`CONSTANT`].
pub fn gearmand_conn(data: &[u8]) {
    use gearmand::*;
    let budget = 2 * (12 + MAX_PACKET as usize)
        + MAX_PENDING
        + DEAD_LETTER_BYTES
        + GEARMAND_PER_INPUT_BYTE * data.len()
        + CONSTANT;
    play(data, budget, Gearmand);
}

mod mogstored {
    use super::*;
    use danga_mogilefs::storage::{http, side, Storage};

    pub enum Port {
        Http,
        Side,
    }

    impl Daemon for Port {
        fn start(self, listener: Listener, shutdown: Shutdown, dir: &Path) {
            std::fs::create_dir(dir.join("dev1")).expect("a device folder");
            let store = Arc::new(Storage::open(dir).expect("opening the docroot"));
            match self {
                Port::Http => accept(listener, shutdown, move |c| http::serve(c, store.clone())),
                Port::Side => accept(listener, shutdown, move |c| side::serve(c, store.clone())),
            }
        }
    }
}

/// mogstored's HTTP port (GET/HEAD with Range, PUT with Content-Length or
/// chunked, DELETE) on a docroot in a temporary folder. Budget: twice
/// the longest head, the body copy buffers, and [`CONSTANT`].
pub fn mogstored_conn(data: &[u8]) {
    let head = danga_mogilefs::storage::http::head::MAX_HEAD;
    let budget = 2 * head + (1 << 20) + CONSTANT;
    play(data, budget, mogstored::Port::Http);
}

/// mogstored's side channel (`size`, `MD5`, `watch`, ...). Budget: twice
/// its longest line (8 KiB) and [`CONSTANT`].
pub fn mogstored_side_conn(data: &[u8]) {
    play(data, 2 * 8192 + CONSTANT, mogstored::Port::Side);
}

mod perlbal {
    use super::*;
    use danga_perlbal::proto::expand::NoLookup;
    use danga_perlbal::{Config, Server};

    /// Perlbal's web server with every method it can serve switched on.
    pub struct Web;

    impl Daemon for Web {
        fn listener_name(&self) -> &'static str {
            "web"
        }

        fn start(self, listener: Listener, shutdown: Shutdown, dir: &Path) {
            std::fs::create_dir(dir.join("sub")).expect("a folder in the docroot");
            std::fs::write(dir.join("index.html"), b"<h1>index</h1>\n").expect("a file");
            std::fs::write(dir.join("sub/a.txt"), b"0123456789abcdef").expect("a file");
            let conf = format!(
                "CREATE SERVICE web\n\
                 SET role = web_server\n\
                 SET listen = 127.0.0.1:0\n\
                 SET docroot = {}\n\
                 SET dirindexing = 1\n\
                 SET enable_put = 1\n\
                 SET enable_delete = 1\n\
                 SET enable_concatenate_get = 1\n\
                 SET max_put_size = 65536\n\
                 ENABLE web\n",
                dir.display()
            );
            let config = Config::load(&conf, &NoLookup).expect("the web server's config");
            Server::new(config, shutdown).start(vec![listener]);
        }
    }
}

/// Perlbal's web server (`role = web_server`: GET/HEAD with Range and
/// concatenated GETs, directory indexes, PUT with Content-Length or
/// chunked, DELETE, keep-alive) on a docroot in a temporary folder.
/// Budget: twice its longest head (100 KiB), twice the largest PUT
/// (`max_put_size`, 64 KiB here), its body read buffer (64 KiB), and
/// [`CONSTANT`].
pub fn perlbal_web_conn(data: &[u8]) {
    let head = danga_perlbal::proto::http::MAX_HEAD;
    let budget = 2 * head + 2 * (64 << 10) + (64 << 10) + CONSTANT;
    play(data, budget, perlbal::Web);
}
