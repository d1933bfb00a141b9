//! The options every plugin takes: `-H host -p port -t timeout[:STATE] -v`
//! (clap adds `-h/--help` and `-V/--version`). `-w` and `-c` mean something
//! different to each daemon, so each plugin declares its own.

use std::str::FromStr;
use std::time::Duration;

use clap::{ArgAction, Args};

use crate::report::Status;

/// Text appended to every plugin's `--help`.
pub const THRESHOLD_HELP: &str = "\
Thresholds are ranges, [@]start:end, as in the Nagios plugin guidelines:
  10      alert when the value is < 0 or > 10
  10:     alert when < 10
  ~:10    alert when > 10
  10:20   alert when < 10 or > 20
  @10:20  alert when >= 10 and <= 20
Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for bad arguments,
--help and --version). A server that does not answer within -t seconds is
CRITICAL, or the state named by -t SECONDS:STATE.";

/// `-t SECONDS[:STATE]`: the time limit and the state a time-out gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeout {
    /// The whole check's time limit.
    pub limit: Duration,
    /// The state reported when it runs out (CRITICAL unless told).
    pub state: Status,
}

impl FromStr for Timeout {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (secs, state) = match s.split_once(':') {
            Some((n, st)) => (n, st.parse::<Status>()?),
            None => (s, Status::Critical),
        };
        let secs: f64 = secs
            .trim()
            .parse()
            .map_err(|_| format!("timeout {secs:?} is not a number of seconds"))?;
        if !(secs > 0.0 && secs <= 3600.0) {
            return Err(format!(
                "timeout {secs} is out of range (more than 0, at most 3600 seconds)"
            ));
        }
        Ok(Timeout {
            limit: Duration::from_secs_f64(secs),
            state,
        })
    }
}

/// The connection and run-time options.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Host name or IP address of the daemon
    #[arg(short = 'H', long = "hostname", default_value = "127.0.0.1")]
    pub host: String,
    /// Port (default: the daemon's usual port)
    #[arg(short = 'p', long = "port")]
    pub port: Option<u16>,
    /// Seconds before giving up, optionally with the state to report then
    /// (default state CRITICAL), e.g. 10 or 10:UNKNOWN
    #[arg(short = 't', long = "timeout", default_value = "10")]
    pub timeout: Timeout,
    /// Verbose: also print one long-output line per item checked
    #[arg(short = 'v', long = "verbose", action = ArgAction::Count)]
    pub verbose: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_with_and_without_state() {
        let t: Timeout = "10".parse().expect("10");
        assert_eq!(t.limit, Duration::from_secs(10));
        assert_eq!(t.state, Status::Critical);
        let t: Timeout = "2.5:unknown".parse().expect("2.5:unknown");
        assert_eq!(t.limit, Duration::from_millis(2500));
        assert_eq!(t.state, Status::Unknown);
        assert_eq!(
            "1:1".parse::<Timeout>().expect("1:1").state,
            Status::Warning
        );
        for bad in ["0", "-1", "x", "5:MAYBE", "99999", ""] {
            assert!(bad.parse::<Timeout>().is_err(), "{bad}");
        }
    }
}
