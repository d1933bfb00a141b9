//! perlbal: reads Perlbal 1.80's config language and runs its services
//! (reverse_proxy, web_server, selector, upload_tracker and management,
//! with TLS on client listeners) through danga-perlbal on the shared
//! daemon machinery.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use danga_common::Launch;
use danga_perlbal::proto::expand::System;
use danga_perlbal::{Config, Server};

/// perlbal's flags.
#[derive(Parser, Debug)]
#[command(name = "perlbal", disable_version_flag = true)]
struct Cli {
    /// Config file (default /etc/perlbal/perlbal.conf when it exists)
    #[arg(long = "config")]
    config: Option<PathBuf>,
    /// Run in the background
    #[arg(long = "daemon")]
    daemon: bool,
    /// Print the version and exit
    #[arg(short = 'V', long = "version")]
    version: bool,
    #[command(flatten)]
    common: danga_common::cli::CommonArgs,
}

/// EX_USAGE: a bad config.
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli: Cli = danga_common::cli::parse_args();
    if cli.version {
        println!(
            "Perlbal version 1.80 (danga {})",
            danga_common::cli::DANGA_VERSION
        );
        return ExitCode::SUCCESS;
    }
    let config = match load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e:#}");
            return ExitCode::from(EX_USAGE);
        }
    };
    match run(cli, config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(cli: &Cli) -> anyhow::Result<Config> {
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| "/etc/perlbal/perlbal.conf".into());
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if cli.config.is_none() && e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let config = Config::load(&text, &System)
        .map_err(|e| anyhow::anyhow!("Error starting up: {}: {e}", path.display()))?;
    anyhow::ensure!(
        !Server::listen_specs(&config).is_empty(),
        "No services or management port configured"
    );
    Server::check_tls(&config).map_err(|e| anyhow::anyhow!("Error starting up: {e}"))?;
    Ok(config)
}

fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    let mut launch = Launch::new("perlbal", Server::listen_specs(&config));
    launch.daemonize = cli.daemon;
    launch.pidfile = config.pidfile.clone();
    launch.common(&cli.common);
    launch.spread = danga_perlbal::server::spread_names(&config);
    launch.metrics_listen = cli.common.metrics_listen.or(config.metrics_listen);
    println!("Running.");
    launch
        .run(|listeners, shutdown| async move {
            let server = Server::new(config, shutdown);
            server.start(listeners);
            let scraped = server.clone();
            danga_common::metrics::publish(move || {
                let text = scraped.metrics_text();
                async move { text }
            });
            Ok(())
        })
        .context("running perlbal")
}
