//! check_mogilefs: the Nagios plugin for the mogilefsd tracker.
//! Arguments, checks and thresholds are documented in
//! `danga_nagios::plugins::mogilefs` and in `check_mogilefs --help`.

use std::process::ExitCode;

use danga_nagios::plugins::mogilefs::Mogilefs;

fn main() -> ExitCode {
    danga_nagios::run::<Mogilefs>()
}
