//! check_memcached: the Nagios plugin for memcached. Arguments, checks and
//! thresholds are documented in `danga_nagios::plugins::memcached` and in
//! `check_memcached --help`.

use std::process::ExitCode;

use danga_nagios::plugins::memcached::Memcached;

fn main() -> ExitCode {
    danga_nagios::run::<Memcached>()
}
