//! mogadm: the MogileFS administration tool, with MogileFS-Utils 2.30's
//! commands, arguments, output and exit codes (0 ok; 1 with a message on
//! stderr, or the help on stdout).

mod check;
mod cmds;
mod jobs;
mod setup;
mod slave;
mod table;

use std::process::ExitCode;

use danga_mogilefs::client::Options;
use table::Kind;

/// How a command ended.
pub enum Exit {
    /// Success; the message is printed with `--verbose`.
    Ok(Option<&'static str>),
    /// Failure: the message goes to stderr.
    Fail(String),
    /// Bad usage: the help goes to stdout.
    Help(String),
}

/// What every command needs.
pub struct Ctx {
    pub trackers: Vec<String>,
    pub opts: Options,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let spec = [
        ("trackers", Kind::Str),
        ("config", Kind::Str),
        ("lib", Kind::Str),
        ("help", Kind::Flag),
        ("verbose", Kind::Flag),
        ("version", Kind::Flag),
        // `-V`, as every other daemon and tool here.
        ("V", Kind::Flag),
    ];
    let (g, rest) = match table::getopt(&spec, &argv, false) {
        Ok(x) => x,
        Err(w) => return finish(Exit::Help(format!("{w}\n{}", table::usage())), false),
    };
    let verbose = g.contains_key("verbose");
    if g.contains_key("version") || g.contains_key("V") {
        println!("mogadm 2.30 (danga {})", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let top = match rest.first().and_then(|t| table::top(t)) {
        Some(t) if !g.contains_key("help") => t,
        _ => return finish(Exit::Help(table::usage()), verbose),
    };
    let setup = match setup::Setup::read(&g) {
        Ok(s) => s,
        Err(e) => return finish(e, verbose),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return finish(Exit::Fail(format!("starting the runtime: {e}")), verbose),
    };
    let exit = rt.block_on(async {
        match setup.ctx().await {
            Ok(ctx) => cmds::run(top, &rest[1..], &ctx).await,
            Err(e) => e,
        }
    });
    finish(exit, verbose)
}

fn finish(exit: Exit, verbose: bool) -> ExitCode {
    match exit {
        Exit::Ok(msg) => {
            if let Some(m) = msg.filter(|_| verbose) {
                println!("{m}");
            }
            ExitCode::SUCCESS
        }
        Exit::Fail(msg) => {
            // Texts ending in a newline get a blank line, as fail_text's.
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
        Exit::Help(text) => {
            print!("{text}");
            ExitCode::FAILURE
        }
    }
}
