//! Workspace-level tests: every daemon binary driven through the network,
//! started by testkit on ephemeral ports. Run `cargo build --workspace
//! --bins` first (the README's test command does).

mod dashboard;
mod fault;
mod gearman;
mod install;
mod launcher;
mod limits;
mod logs;
mod mariadb;
mod memcached;
mod metrics;
mod mogilefs;
mod mogstored;
mod mogtools;
mod nagios;
mod perlbal;
mod process;
mod stack;
mod tls_ca;
mod version;
mod wire;
