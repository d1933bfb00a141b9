//! check_perlbal: the Nagios plugin for Perlbal's management console.
//! Arguments, checks and thresholds are documented in
//! `danga_nagios::plugins::perlbal` and in `check_perlbal --help`.

use std::process::ExitCode;

use danga_nagios::plugins::perlbal::Perlbal;

fn main() -> ExitCode {
    danga_nagios::run::<Perlbal>()
}
