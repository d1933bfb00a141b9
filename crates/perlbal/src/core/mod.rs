//! The engine, without I/O: the configuration state that commands change,
//! node bookkeeping, the priority queues and the request-header rules.
//! Time is passed in; nothing here touches a socket or a file: what the
//! config commands read goes through [`files::Files`], which the edge
//! implements ([`crate::proto::expand::System`]).
//!
//! The configuration's modules depend on one another without a cycle
//! (`a -> b`: `a` uses `b`; `set` and `dispatch` also call the commands
//! of the modules they point at):
//!
//! ```text
//! dispatch    -> set, plugin_cmds, config, error, plugins
//! set         -> plugin_cmds, config, error, plugins, role
//! plugin_cmds -> config, error, plugins, role
//! dump        -> config, plugin_conf, plugins, role
//! config      -> access, error, files, plugin_conf, plugins, role   (the data model)
//! plugin_conf -> plugins, role
//! error       -> access
//! files, access, plugins, role, cache, headers, nodes, queue, upload_status: none
//! ```

pub mod access;
pub mod cache;
pub mod config;
mod dispatch;
mod dump;
pub mod error;
pub mod files;
pub mod headers;
pub use danga_common::netmask;
pub mod nodes;
mod plugin_cmds;
pub mod plugin_conf;
pub mod plugins;
pub mod queue;
pub mod role;
pub mod route;
mod set;
pub mod upload_status;

pub use config::{Config, Context, Effect, PoolConf, ServiceConf};
pub use error::{ConfigError, LoadError};
pub use nodes::NodeBook;
pub use plugins::Plugin;
pub use queue::{Priority, Queues};
pub use role::Role;
