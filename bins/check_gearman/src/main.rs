//! check_gearman: the Nagios plugin for gearmand. Arguments, checks and
//! thresholds are documented in `danga_nagios::plugins::gearman` and in
//! `check_gearman --help`.

use std::process::ExitCode;

use danga_nagios::plugins::gearman::Gearman;

fn main() -> ExitCode {
    danga_nagios::run::<Gearman>()
}
