//! Pure protocol code: the management command language, the tunables
//! table, `${...}` expansion, HTTP/1 heads and chunked-body tracking,
//! CGI/1.1 environments and response heads.
//! No tokio, no sockets.

pub mod access;
pub mod cgi;
pub mod chunked;
pub mod command;
pub mod date;
pub mod expand;
mod help;
pub mod http;
pub mod mime;
pub mod palimg;
pub mod plugin_cmd;
pub mod range;
pub mod reproxy;
pub mod tunables;
pub mod usage;
pub mod webpath;

pub use command::{parse as parse_command, Action, Command, Kind};
pub use http::{parse_request, parse_response, HeadError, Headers, RequestHead, ResponseHead};
