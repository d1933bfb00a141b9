//! The tokio glue: one accept loop per enabled service (on danga-common's
//! [`Acceptor`]), client connections (`conn`, TLS in `tls`) whose
//! requests go through the phases of `pipeline` (read, admit, route,
//! dispatch, relay or reproxy, finish: docs/perlbal-pipeline.md), served
//! from disk (`web`, `webput`, `webconcat`) or proxied: request bodies
//! held or spooled (`upload`), backend connections and their pairing with
//! queued clients (`backend`, `dispatch`), reproxy targets'
//! connections (`reproxy_pool`); and the management console (`manage`).

mod admit;
mod backend;
mod beneath;
mod body;
mod cgi;
mod cgi_conf;
mod conn;
mod counters;
mod dispatch;
mod echo;
mod manage;
mod metrics;
mod palimg;
mod pipeline;
mod plugins;
mod reply;
mod reproxy_pool;
mod respond;
mod sendfile;
mod settings;
mod throttle;
mod tls;
mod tls_conf;
mod tracker;
mod upload;
mod web;
mod webconcat;
mod webput;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use danga_common::{
    Acceptor, AtLimit, ConnStats, LineConfig, ListenSpec, Listener, Registry, Shutdown,
};

use crate::core::{Config, NodeBook, Role};
use backend::StateCounts;
use dispatch::ServiceRt;

/// Seconds since the epoch, fractional (the time `core` is given).
pub(crate) use danga_common::clock::unix_now_f64 as now;

/// Locks a mutex, ignoring poisoning (every critical section leaves the
/// data consistent before anything that can panic).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What every task shares.
pub(crate) struct Shared {
    pub config: Mutex<Config>,
    pub nodes: Mutex<NodeBook>,
    pub services: Mutex<HashMap<String, Arc<ServiceRt>>>,
    pub listeners: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    pub states: StateCounts,
    /// Open client and backend sockets by a private id (`SOCKS`).
    pub socks: Mutex<HashMap<u64, Arc<backend::SockEntry>>>,
    /// Open console connections (`SOCKS SUMMARY`'s ClientManage).
    pub consoles: AtomicU64,
    pub sock_ids: AtomicU64,
    /// Open backend connections by node (`BACKENDS`).
    pub backends: Mutex<HashMap<SocketAddr, usize>>,
    /// The client ports' connections (`max_connections`).
    pub acceptor: Acceptor,
    /// The management consoles' connections: a budget of their own, so
    /// clients holding every slot of `max_connections` cannot lock the
    /// operator out ([`console_budget`]).
    pub console_acceptor: Acceptor,
    pub shutdown: Shutdown,
    pub started: u64,
    pub reqs: AtomicU64,
    /// Connections to reproxy targets.
    pub reproxy: Arc<reproxy_pool::ReproxyPool>,
    /// What upload_tracker services heard.
    pub upload_status: Mutex<crate::core::upload_status::UploadStatus>,
    /// The plugins' state (Stats' counters).
    pub plugins: plugins::Runtime,
    /// The TLS listeners' configurations, by service (`SSL RELOAD`).
    pub tls_sites: Mutex<HashMap<String, Arc<tls::Site>>>,
}

/// The running perlbal.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

impl Server {
    /// The TCP listeners to bind at start-up: every enabled service that
    /// has a listen address, named after the service (upload trackers
    /// listen on UDP: [`Server::start`] binds them).
    pub fn listen_specs(config: &Config) -> Vec<ListenSpec> {
        config
            .services
            .values()
            .filter(|s| s.enabled && s.role != Some(Role::UploadTracker))
            .filter_map(|s| s.listen().map(|a| ListenSpec::tcp(&s.name, a)))
            .collect()
    }

    /// A server for `config`; call [`Server::start`] inside the runtime.
    pub fn new(mut config: Config, shutdown: Shutdown) -> Server {
        config.running = true;
        let max = config.max_connections.unwrap_or(10_000);
        let acceptor = Acceptor::new(
            max,
            AtLimit::Wait,
            ConnStats::register(Registry::global()),
            shutdown.clone(),
        );
        // Counted in the same curr/total connection counters.
        let console_acceptor = Acceptor::new(
            console_budget(max),
            AtLimit::Wait,
            ConnStats::register(Registry::global()),
            shutdown.clone(),
        );
        Server {
            shared: Arc::new(Shared {
                config: Mutex::new(config),
                nodes: Mutex::new(NodeBook::default()),
                services: Mutex::new(HashMap::new()),
                listeners: Mutex::new(HashMap::new()),
                states: StateCounts::default(),
                backends: Mutex::new(HashMap::new()),
                socks: Mutex::new(HashMap::new()),
                consoles: AtomicU64::new(0),
                sock_ids: AtomicU64::new(0),
                acceptor,
                console_acceptor,
                shutdown,
                started: now() as u64,
                reqs: AtomicU64::new(0),
                reproxy: Arc::default(),
                upload_status: Mutex::default(),
                plugins: plugins::Runtime::default(),
                tls_sites: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Starts serving on the listeners bound at start-up, plus the
    /// nodefile watcher.
    pub fn start(&self, listeners: Vec<Listener>) {
        refresh(&self.shared);
        tls::reload_on_sighup(&self.shared);
        let trackers: Vec<(String, SocketAddr)> = lock(&self.shared.config)
            .services
            .values()
            .filter(|s| s.enabled && s.role == Some(Role::UploadTracker))
            .filter_map(|s| Some((s.name.clone(), s.listen()?)))
            .collect();
        for (name, addr) in trackers {
            if let Err(e) = tracker::bind(&self.shared, &name, addr) {
                tracing::error!("{e}");
            }
        }
        for l in listeners {
            let name = l.name().to_owned();
            serve_listener(&self.shared, &name, l);
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            loop {
                let tick = tokio::time::sleep(Duration::from_secs(3));
                if shared.shutdown.until_stopped(tick).await.is_none() {
                    return;
                }
                shared.reproxy.prune();
                // Read off the runtime's threads, without the config lock;
                // then lock briefly to apply what changed.
                let reads = lock(&shared.config).nodefile_reads();
                if reads.paths.is_empty() {
                    continue;
                }
                let Ok(read) = tokio::task::spawn_blocking(move || reads.read()).await else {
                    continue;
                };
                if lock(&shared.config).apply_nodefiles(&read) {
                    refresh(&shared);
                }
            }
        });
    }
}

/// The most console connections open at once: as many as
/// `max_connections` allows clients, at most [`MAX_CONSOLES`]. Apart from
/// the clients' budget, so a console answers while clients hold every
/// slot (1.80 had no connection limit at all, only the fd rlimit).
pub(crate) fn console_budget(max_connections: usize) -> usize {
    max_connections.clamp(1, MAX_CONSOLES)
}

/// The cap of [`console_budget`].
pub(crate) const MAX_CONSOLES: usize = 64;

/// Rebuilds every service's settings from the config (after any command).
pub(crate) fn refresh(shared: &Arc<Shared>) {
    let cfg = lock(&shared.config);
    shared
        .reproxy
        .set_limits(cfg.reproxy_max, &cfg.reproxy_max_host);
    let mut rts = lock(&shared.services);
    for svc in cfg.services.values() {
        if !matches!(
            svc.role,
            Some(Role::ReverseProxy | Role::WebServer | Role::Selector)
        ) {
            continue;
        }
        let mut s = settings::Settings::from_config(svc, &cfg);
        s.plugins = plugins::build(svc, &cfg, &shared.plugins);
        match rts.get(&svc.name) {
            Some(rt) => rt.update(s),
            None => {
                rts.insert(svc.name.clone(), ServiceRt::new(&svc.name, s, shared));
            }
        }
    }
}

/// Starts the accept loop of service `name` on `listener`.
pub(crate) fn serve_listener(shared: &Arc<Shared>, name: &str, listener: Listener) {
    // Port 0 means "any": show the port actually bound.
    if let danga_common::LocalAddr::Tcp(addr) = listener.local_addr() {
        if let Some(svc) = lock(&shared.config).services.get_mut(name) {
            if svc.listen().is_some_and(|a| a.port() == 0) {
                svc.values.insert("listen".into(), addr.to_string());
            }
        }
    }
    let role = lock(&shared.config).services.get(name).and_then(|s| s.role);
    lock(&shared.tls_sites).remove(name);
    let handle = match role {
        Some(Role::Echo) => {
            let (shared, name) = (shared.clone(), name.to_owned());
            shared.acceptor.clone().spawn(listener, move |conn| {
                echo::serve(conn, shared.clone(), name.clone())
            })
        }
        Some(Role::Management) => {
            let shared = shared.clone();
            shared
                .console_acceptor
                .clone()
                .spawn(listener, move |conn| {
                    let mut console = manage::Console::new(shared.clone());
                    danga_common::serve_lines(
                        conn,
                        LineConfig {
                            max_line: 8192,
                            too_long: None,
                            quit: true,
                            idle_timeout: None,
                        },
                        move |line| console.line(line),
                    )
                })
        }
        _ => {
            let rt = lock(&shared.services).get(name).cloned();
            let Some(rt) = rt else {
                tracing::warn!(service = name, "no runtime for service");
                return;
            };
            let ssl = lock(&shared.config)
                .services
                .get(name)
                .is_some_and(|s| s.flag("enable_ssl"));
            if ssl {
                match tls::serve(shared, name, listener, rt) {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::error!(service = name, "{e}");
                        return;
                    }
                }
            } else if danga_common::launch::workers().is_empty() {
                let shared2 = shared.clone();
                shared.acceptor.clone().spawn(listener, move |conn| {
                    pipeline::serve(conn::ClientConn::plain(conn), rt.clone(), shared2.clone())
                })
            } else {
                match spread(shared, name, listener, rt) {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::error!(service = name, "{e}");
                        return;
                    }
                }
            }
        }
    };
    if let Some(old) = lock(&shared.listeners).insert(name.to_owned(), handle) {
        old.abort();
    }
}

/// The services whose listeners every runtime thread accepts on under
/// the per-thread layout: plain (not TLS) proxies, web servers and
/// selectors. Consoles, TLS and upload trackers stay on the main thread.
pub fn spread_names(config: &Config) -> Vec<String> {
    config
        .services
        .values()
        .filter(|s| {
            matches!(
                s.role,
                Some(Role::ReverseProxy | Role::WebServer | Role::Selector)
            ) && !s.flag("enable_ssl")
        })
        .map(|s| s.name.clone())
        .collect()
}

/// Aborts every accept loop of a spread listener when dropped (the one
/// handle `listeners` keeps stands for all of them).
struct AbortAll(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortAll {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

/// Serves a plain client listener on every runtime thread (the
/// per-thread layout): its SO_REUSEPORT sockets bound at start-up, or,
/// for a service enabled later, as many bound now. Connections are served
/// on the thread whose socket accepted them; the returned task ends when
/// every accept loop has.
fn spread(
    shared: &Arc<Shared>,
    name: &str,
    listener: Listener,
    rt: Arc<ServiceRt>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let workers = danga_common::launch::workers();
    let mut sockets = vec![listener.into_bound()?];
    sockets.extend(danga_common::launch::take_spread(name));
    let mut loops = Vec::with_capacity(sockets.len());
    for (i, socket) in sockets.into_iter().enumerate() {
        let _on = workers[i % workers.len()].enter();
        let listener = socket.into_tokio()?;
        let (shared2, rt) = (shared.clone(), rt.clone());
        loops.push(shared.acceptor.clone().spawn(listener, move |conn| {
            pipeline::serve(conn::ClientConn::plain(conn), rt.clone(), shared2.clone())
        }));
    }
    let mut all = AbortAll(loops);
    Ok(tokio::spawn(async move {
        for h in &mut all.0 {
            let _ = h.await;
        }
    }))
}

/// Binds service `name` now (a live `ENABLE` or listen change).
pub(crate) fn bind_service(shared: &Arc<Shared>, name: &str) -> Result<(), String> {
    let addr: Option<SocketAddr> = lock(&shared.config)
        .services
        .get(name)
        .and_then(|s| s.listen());
    let Some(addr) = addr else { return Ok(()) };
    check_tls_of(&lock(&shared.config), name)?;
    let role = lock(&shared.config).services.get(name).and_then(|s| s.role);
    if role == Some(Role::UploadTracker) {
        return tracker::bind(shared, name, addr);
    }
    let cant = |e: std::io::Error| format!("Can't start service '{name}' on {addr}: {e}");
    let spec = ListenSpec::tcp(name, addr);
    let workers = danga_common::launch::workers().len();
    let spreads = workers > 0
        && spread_names(&lock(&shared.config))
            .iter()
            .any(|n| n == name);
    let bound = if spreads {
        let mut all = danga_common::listen::bind_spread(&spec, 1024, workers).map_err(cant)?;
        let first = all.remove(0);
        danga_common::launch::put_spread(name, all);
        first
    } else {
        danga_common::listen::bind(&spec, 1024).map_err(cant)?
    };
    serve_listener(shared, name, bound.into_tokio().map_err(cant)?);
    Ok(())
}

/// A service with enable_ssl: its certificate and key load (1.80 checked
/// them at ENABLE).
fn check_tls_of(cfg: &Config, name: &str) -> Result<(), String> {
    match cfg.services.get(name) {
        Some(s) if s.flag("enable_ssl") && !s.is_management() => tls::check(cfg, name),
        _ => Ok(()),
    }
}

impl Server {
    /// Checks that every enabled TLS service can load its certificate and
    /// key, so a bad one stops start-up with 1.80's message.
    pub fn check_tls(config: &Config) -> Result<(), String> {
        config
            .services
            .values()
            .filter(|s| s.enabled)
            .try_for_each(|s| check_tls_of(config, &s.name))
    }
}

/// Stops service `name`'s accept loop (a live `DISABLE`).
pub(crate) fn unbind_service(shared: &Arc<Shared>, name: &str) {
    lock(&shared.tls_sites).remove(name);
    if let Some(h) = lock(&shared.listeners).remove(name) {
        h.abort();
    }
}
