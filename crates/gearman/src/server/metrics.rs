//! What the metrics endpoint reads: the admin `status` reply, built by the
//! same code that answers `gearadmin --status`.

use super::Server;
use crate::proto::Admin;
use crate::queue::{ConnId, Msg, Outbox};

impl Server {
    /// The text a client gets for the admin line `status`
    /// (`function\ttotal\trunning\tworkers` lines, then `.`).
    pub fn status_text(&self) -> String {
        let mut out = Outbox::default();
        self.lock()
            .queue
            .admin(ConnId::MAX, &Admin::Status, &mut out);
        out.msgs
            .into_iter()
            .find_map(|(_, m)| match m {
                Msg::Text(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                Msg::Packet(_) => None,
            })
            .unwrap_or_default()
    }
}
