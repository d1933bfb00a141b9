//! The Nagios plugins (check_memcached, check_gearman, check_perlbal,
//! check_mogilefs) run against live daemons, their output parsed as Nagios
//! parses it.
