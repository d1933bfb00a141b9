//! A plugin's `main`: parse the arguments (UNKNOWN on bad ones), start the
//! watchdog, run the check, print one verdict and exit with its code.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use clap::error::ErrorKind;

use crate::cli::{Common, Timeout};
use crate::net::{CheckError, Target};
use crate::report::{Report, Status};

/// One Nagios plugin: its arguments (with [`Common`] flattened in) and its
/// check.
pub trait Plugin: clap::Parser {
    /// The name on the status line (`MEMCACHED`).
    const SERVICE: &'static str;
    /// The daemon's usual port, used when `-p` is not given.
    const DEFAULT_PORT: u16;

    /// The shared options.
    fn common(&self) -> &Common;

    /// Talks to the daemon and judges what it says.
    fn check(&self, target: &Target) -> Result<Report, CheckError>;
}

/// Only one verdict is ever printed: the check's or the watchdog's.
static VERDICT: Mutex<()> = Mutex::new(());

/// How long after the deadline the watchdog steps in: the check's own
/// deadline-bound I/O normally reports first, with a better message.
const WATCHDOG_GRACE: Duration = Duration::from_millis(100);

fn emit(text: &str, status: Status) -> ! {
    let _only = VERDICT.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    std::process::exit(i32::from(status.code()))
}

/// Ends the process with the time-out state if the check outlives its
/// limit (e.g. in a name lookup, which no socket timeout covers).
fn watchdog(service: &'static str, timeout: Timeout) {
    std::thread::spawn(move || {
        std::thread::sleep(timeout.limit + WATCHDOG_GRACE);
        let r = Report::failed(
            service,
            timeout.state,
            format!(
                "check did not finish within {}s",
                crate::perfdata::num(timeout.limit.as_secs_f64())
            ),
        );
        emit(&r.render(), r.status())
    });
}

/// Runs plugin `P` as the whole program.
pub fn run<P: Plugin>() -> ExitCode {
    let cli = match P::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.to_string();
            match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    emit(&text, Status::Unknown)
                }
                _ => {
                    let mut lines = text.lines();
                    let first = lines.next().unwrap_or("invalid arguments");
                    let first = first.strip_prefix("error: ").unwrap_or(first);
                    let mut out = format!("{} UNKNOWN - invalid arguments: {first}\n", P::SERVICE);
                    for l in lines.filter(|l| !l.trim().is_empty()) {
                        out.push_str(l);
                        out.push('\n');
                    }
                    emit(&out, Status::Unknown)
                }
            }
        }
    };
    let common = cli.common();
    let timeout = common.timeout;
    watchdog(P::SERVICE, timeout);
    let target = Target::new(
        &common.host,
        common.port.unwrap_or(P::DEFAULT_PORT),
        timeout.limit,
    );
    let report = match cli.check(&target) {
        Ok(r) => r,
        Err(e) => Report::failed(P::SERVICE, e.status(timeout.state), e.to_string()),
    };
    emit(&report.render(), report.status())
}
