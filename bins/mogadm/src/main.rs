//! mogadm: the MogileFS administration tool, with MogileFS-Utils 2.30's
//! commands, arguments, output and exit codes (0 ok; 1 with a message on
//! stderr, or the help on stdout).

mod check;
mod cmds;
mod table;

use std::process::ExitCode;
use std::time::Duration;

use danga_mogilefs::client::{parse_trackers, Options, UtilsConf};
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

const NO_TRACKERS: &str =
    "In order to use the mogadm toolkit, you need to provide the information about
where your trackers are.

In your configuration file:

    trackers = 10.10.0.33:7001, 10.10.0.34:7001

Or on the command line

    mogadm --trackers=10.10.0.33:7001,10.10.0.34:7001
";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let spec = [
        ("trackers", Kind::Str),
        ("config", Kind::Str),
        ("lib", Kind::Str),
        ("help", Kind::Flag),
        ("verbose", Kind::Flag),
        ("version", Kind::Flag),
    ];
    let (g, rest) = match table::getopt(&spec, &argv, false) {
        Ok(x) => x,
        Err(w) => return finish(Exit::Help(format!("{w}\n{}", table::usage())), false),
    };
    let verbose = g.contains_key("verbose");
    if g.contains_key("version") {
        println!(
            "mogadm (danga) {} -- MogileFS-Utils 2.30 compatible",
            env!("CARGO_PKG_VERSION")
        );
        return ExitCode::SUCCESS;
    }
    let top = match rest.first().and_then(|t| table::top(t)) {
        Some(t) if !g.contains_key("help") => t,
        _ => return finish(Exit::Help(table::usage()), verbose),
    };
    let mut paths: Vec<std::path::PathBuf> = g.get("config").map(Into::into).into_iter().collect();
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        paths.push(std::path::Path::new(&home).join(".mogilefs.conf"));
    }
    paths.push("/etc/mogilefs/mogilefs.conf".into());
    let conf = match UtilsConf::load(&paths) {
        Ok(c) => c,
        Err(e) => return finish(Exit::Fail(e.to_string()), verbose),
    };
    if g.contains_key("lib") || conf.get("lib").is_some() {
        eprintln!("mogadm: --lib/lib has no effect here (no Perl modules to load)");
    }
    let mut opts = Options {
        // The original allows 15 s: fsck status may hold a lock for 10.
        timeout: Duration::from_secs(15),
        ..Options::default()
    };
    if let Some(t) = conf.get("timeout").and_then(|t| t.parse().ok()) {
        opts.timeout = Duration::from_secs(t);
    }
    let listed = g
        .get("trackers")
        .map(String::as_str)
        .or(conf.get("trackers"));
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return finish(Exit::Fail(format!("starting the runtime: {e}")), verbose),
    };
    let exit = rt.block_on(async {
        let trackers = match listed.map(parse_trackers) {
            Some(t) if !t.is_empty() => t,
            _ => match detect_local_tracker().await {
                Some(t) => vec![t],
                None => return Exit::Fail(NO_TRACKERS.to_owned()),
            },
        };
        let ctx = Ctx { trackers, opts };
        cmds::run(top, &rest[1..], &ctx).await
    });
    finish(exit, verbose)
}

/// A tracker on 127.0.0.1:7001, if one accepts within a second.
async fn detect_local_tracker() -> Option<String> {
    let addr = "127.0.0.1:7001";
    let connect = tokio::net::TcpStream::connect(addr);
    matches!(
        tokio::time::timeout(Duration::from_secs(1), connect).await,
        Ok(Ok(_))
    )
    .then(|| addr.to_owned())
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
