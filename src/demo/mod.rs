//! `danga demo-app`: the web application `danga up` puts behind perlbal,
//! doing what LiveJournal's mod_perl did with the Danga stack.
//!
//! * `PUT` or `POST /files/KEY` streams the body into MogileFS (domain and
//!   class from the flags) through the client library: create_open, PUT to
//!   a storage node, create_close. A Content-Length is required (storage
//!   nodes take no chunked uploads).
//! * `GET`/`HEAD /files/KEY` asks the tracker for the copies (get_paths,
//!   cached in memcached for [`app::PATHS_TTL`] seconds) and, when the
//!   request came through a proxy that says `X-Proxy-Capabilities:
//!   reproxy-file` (perlbal with `enable_reproxy`), answers with no body
//!   and `X-REPROXY-URL: <the paths>`: perlbal then fetches the bytes from
//!   a storage node itself. Perlbal 1.80 honours `X-REPROXY-URL` from any
//!   backend of a service with `enable_reproxy`, whatever the request
//!   said; the capability header is the backend's only way to know a
//!   reproxying proxy is in front, so a request without it (someone
//!   talking to the app directly) gets the bytes streamed by the app.
//! * `DELETE /files/KEY`; `GET /` lists the keys (list_keys) as HTML.
//! * `GET /md5/KEY`: a Gearman job (`danga_demo_md5`) run by this app's
//!   own worker, which fetches the file and hashes it.

mod app;
mod body;
mod checksum;
mod web;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use danga_common::{Acceptor, AtLimit, Conn, ConnStats, Launch, ListenSpec, Registry};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

use app::App;

/// Connections served at once (more wait in the listen queue).
const MAX_CONNS: usize = 1000;

/// The demo app's flags.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Address to serve HTTP on
    #[arg(long)]
    listen: SocketAddr,
    /// MogileFS trackers, host:port, comma separated
    #[arg(long, value_delimiter = ',', required = true)]
    trackers: Vec<String>,
    /// MogileFS domain
    #[arg(long)]
    domain: String,
    /// MogileFS class of new files (default: the domain's default class)
    #[arg(long)]
    class: Option<String>,
    /// memcached servers caching paths, host:port, comma separated
    #[arg(long, value_delimiter = ',')]
    memcached: Vec<String>,
    /// Gearman job servers, host:port, comma separated (for /md5/KEY)
    #[arg(long, value_delimiter = ',')]
    gearman: Vec<String>,
    /// Verbose logging (repeat for more)
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(flatten)]
    common: danga_common::cli::CommonArgs,
}

/// Runs the app until SIGINT/SIGTERM.
pub fn run(args: Args) -> ExitCode {
    let mut launch = Launch::new("demo-app", vec![ListenSpec::tcp("http", args.listen)]);
    launch.common(&args.common);
    launch.verbosity = args.verbose;
    let result = launch.run(move |listeners, shutdown| async move {
        let app = Arc::new(App::new(&args).map_err(std::io::Error::other)?);
        if !args.gearman.is_empty() {
            let worker = checksum::worker(&args.gearman, app.files().clone()).start();
            let stop = shutdown.clone();
            shutdown.spawn(async move {
                stop.triggered().await;
                worker.stop().await;
            });
        }
        let stats = ConnStats::register(Registry::global());
        let acceptor = Acceptor::new(MAX_CONNS, AtLimit::Wait, stats, shutdown);
        for l in listeners {
            let app = app.clone();
            acceptor.spawn(l, move |conn| serve(conn, app.clone()));
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("danga demo-app: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One HTTP/1.1 connection; at shutdown it finishes the request in hand.
async fn serve(conn: Conn, app: Arc<App>) {
    let stop = conn.shutdown().clone();
    let (stream, _slot) = conn.into_parts();
    let svc = service_fn(move |req| {
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.handle(req).await) }
    });
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .serve_connection(TokioIo::new(stream), svc);
    let mut http = std::pin::pin!(http);
    let r = tokio::select! {
        r = http.as_mut() => r,
        () = stop.triggered() => {
            http.as_mut().graceful_shutdown();
            http.await
        }
    };
    if let Err(e) = r {
        tracing::debug!(error = %e, "connection ended");
    }
}
