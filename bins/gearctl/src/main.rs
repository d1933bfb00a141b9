//! gearctl: poke Gearman job servers through danga-gearman's client,
//! like gearman-tools' `gearman`:
//!
//!     gearctl -h host -p 4730 -f rev hello        # call, print the result
//!     echo hello | gearctl -f rev                 # data from stdin
//!     gearctl --servers a:4730,b:4730 -b -f job x # background: prints the handle
//!     gearctl -w -f rev -- rev                    # worker: pipe each job through `rev`

mod run;

use std::process::ExitCode;

use clap::{ArgAction, Parser};

#[derive(Parser, Debug)]
#[command(
    name = "gearctl",
    version = concat!("1.1.20 (danga ", env!("CARGO_PKG_VERSION"), ")"),
    disable_help_flag = true,
    about = "Call or serve Gearman functions"
)]
pub(crate) struct Cli {
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub(crate) help: Option<bool>,
    /// Job server host
    #[arg(short = 'h', long, default_value = "localhost")]
    pub(crate) host: String,
    /// Job server port
    #[arg(short = 'p', long, default_value_t = 4730)]
    pub(crate) port: u16,
    /// Several job servers, host:port, comma separated (instead of -h/-p)
    #[arg(long, value_delimiter = ',')]
    pub(crate) servers: Vec<String>,
    /// The function to call or serve
    #[arg(short = 'f', long)]
    pub(crate) function: String,
    /// Run a worker that pipes each job's data through CMD ARGS...
    #[arg(short = 'w', long)]
    pub(crate) worker: bool,
    /// Submit as a background job (prints its handle)
    #[arg(short = 'b', long)]
    pub(crate) background: bool,
    /// Unique id of the job
    #[arg(short = 'u', long)]
    pub(crate) unique: Option<String>,
    /// High priority
    #[arg(short = 'I', long, conflicts_with = "low")]
    pub(crate) high: bool,
    /// Low priority
    #[arg(short = 'L', long)]
    pub(crate) low: bool,
    /// Job timeout in milliseconds (0 = none)
    #[arg(short = 't', long, default_value_t = 0)]
    pub(crate) timeout: u64,
    /// Worker: exit after this many jobs (0 = run until interrupted)
    #[arg(short = 'c', long, default_value_t = 0)]
    pub(crate) count: u64,
    /// Client: the data (else stdin). Worker: the command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) rest: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(64);
        }
    };
    let servers = if cli.servers.is_empty() {
        vec![format!("{}:{}", cli.host, cli.port)]
    } else {
        cli.servers.clone()
    };
    let run = if cli.worker {
        run::work(&cli, servers).await
    } else {
        run::call(&cli, servers).await
    };
    match run {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gearctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}
