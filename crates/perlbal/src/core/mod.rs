//! The engine, without I/O: the configuration state that commands change,
//! node bookkeeping, the priority queues and the request-header rules.
//! Time is passed in; nothing here touches a socket.

pub mod access;
pub mod cache;
pub mod config;
mod dump;
pub mod headers;
pub use danga_common::netmask;
pub mod nodes;
pub mod plugin_conf;
pub mod plugins;
pub mod queue;
pub mod route;
mod set;
pub mod upload_status;

pub use config::{Config, Context, Effect, PoolConf, ServiceConf};
pub use nodes::NodeBook;
pub use plugins::Plugin;
pub use queue::{Priority, Queues};
