//! The plugins at run time, as 1.80's hooks run them, one job per file:
//! [`build`] makes a service's [`PluginSet`](super::settings::PluginSet)
//! from its config;
//! [`hooks`] runs a request's `start_http_request` hooks (Redirect's 301,
//! MaxContentLength's 413, NotModified's 304; AccessControl's refusal is
//! left to [`super::admit`]), Throttle, XFFExtras' headers, the web
//! server's URI hooks (AutoRemoveLeadingDir, Palimg, LazyCDN) and the
//! `selector` role handing the request to another service; [`backend`]
//! has the hooks on the way to and from a backend (Queues, FlvStreaming);
//! [`stats`] bumps the Stats plugin's counters ([`super::counters`]) and
//! [`output`] prints them for `STATS` and `RECENT`. The decisions
//! themselves (which service, which answer) are
//! [`crate::core::route`]'s.
//!
//! A service none of these plugins is on has no plugin set: the request
//! path then pays one `None` check.

mod backend;
mod build;
mod hooks;
mod output;
mod stats;

pub(crate) use crate::core::route::host_candidates;
pub(crate) use backend::{flv_head, flv_start, queue_headers, FLV_HEADER};
pub(crate) use build::{build, Runtime};
pub(crate) use hooks::{start, Start};
pub(crate) use output::{recent_lines, stats_lines};
pub(crate) use stats::{backend_assigned, file_reproxied, file_sent, response_received};
