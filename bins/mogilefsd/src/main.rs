//! mogilefsd: parses the tracker's flags and `mogilefsd.conf`, and runs the
//! tracker port on the shared daemon machinery. This build answers the
//! parent-process `!` commands that need no database (`!version`); the query
//! commands arrive with danga-mogilefs and answer `ERR unknown_command` until
//! then, as the original does for any command it does not know.

mod config;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use danga_common::{Acceptor, AtLimit, ConnStats, Launch, LineConfig, LineReply, Registry};

const VERSION: &str = "2.73";

fn main() -> ExitCode {
    let cli = config::Cli::parse();
    let cfg = match config::Config::load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mogilefsd: {e:#}");
            return ExitCode::from(64);
        }
    };
    match run(cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mogilefsd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One tracker request line to its reply.
fn answer(line: &str) -> LineReply {
    let line = line.trim();
    if line.is_empty() {
        return LineReply::Nothing;
    }
    if let Some(admin) = line.strip_prefix('!') {
        let mut out = String::new();
        if admin.starts_with("version") {
            out.push_str(VERSION);
            out.push_str("\r\n");
        } else {
            out.push_str("Admin commands known to this tracker:\r\n  !version\r\n");
        }
        out.push_str(".\r\n");
        return LineReply::Send(out);
    }
    LineReply::Send("ERR unknown_command Unknown+server+command\r\n".into())
}

fn run(cfg: config::Config) -> anyhow::Result<()> {
    let keys: Vec<&String> = cfg.extra.keys().collect();
    tracing::debug!(?keys, "configuration keys");
    let mut launch = Launch::new("mogilefsd", cfg.listen.clone());
    launch.daemonize = cfg.daemonize;
    launch.pidfile = cfg.pidfile.clone();
    launch.user = cfg.user.clone();
    launch.ready_file = cfg.ready_file.clone();
    launch.verbosity = cfg.debug;
    let max = cfg.max_handles;
    launch
        .run(|listeners, shutdown| async move {
            let acceptor = Acceptor::new(
                max,
                AtLimit::Wait,
                ConnStats::register(&Registry::new()),
                shutdown,
            );
            for listener in listeners {
                // The original has no line-length limit; 1 MiB lines must work.
                let cfg = LineConfig {
                    max_line: 4 << 20,
                    too_long: None,
                    quit: false,
                };
                acceptor.spawn(listener, move |conn| {
                    danga_common::serve_lines(conn, cfg, answer)
                });
            }
            Ok(())
        })
        .context("running mogilefsd")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_and_unknown_commands() {
        assert_eq!(answer("!version"), LineReply::Send("2.73\r\n.\r\n".into()));
        assert_eq!(answer(""), LineReply::Nothing);
        assert_eq!(
            answer("\u{1}\u{2}garbage"),
            LineReply::Send("ERR unknown_command Unknown+server+command\r\n".into())
        );
    }
}
