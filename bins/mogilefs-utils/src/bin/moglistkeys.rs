//! moglistkeys: lists the keys of a domain that start with a prefix, one
//! per line, in order.
//!
//! `moglistkeys --trackers=host --domain=foo --key_prefix=bar/`

use std::io::{BufWriter, ErrorKind, Write};
use std::process::ExitCode;

use clap::Parser;
use danga_mogilefs::proto::ErrCode;
use mogilefs_utils::{run, Common};

/// List keys of a MogileFS domain
#[derive(Parser, Debug)]
#[command(name = "moglistkeys", version = mogilefs_utils::VERSION)]
struct Cli {
    #[command(flatten)]
    common: Common,
    /// Only keys starting with this
    #[arg(long = "key_prefix", alias = "key-prefix", default_value = "")]
    key_prefix: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    run(async move {
        let setup = cli.common.setup()?;
        let mut out = BufWriter::new(std::io::stdout().lock());
        let mut broken = None;
        let listed = setup
            .client
            .foreach_key(&cli.key_prefix, |k| {
                if broken.is_none() {
                    if let Err(e) = writeln!(out, "{k}") {
                        broken = Some(e);
                    }
                }
            })
            .await
            .map_err(|e| format!("Error listing files: {e}"))?;
        match broken.map_or_else(|| out.flush(), Err) {
            // A reader that stopped early (`| head`) is not an error.
            Err(e) if e.kind() != ErrorKind::BrokenPipe => return Err(format!("writing: {e}")),
            _ => {}
        }
        if listed == 0 {
            let c = ErrCode::NoneMatch;
            return Err(format!("Error listing files: {} {}", c.code(), c.text()));
        }
        Ok(())
    })
}
