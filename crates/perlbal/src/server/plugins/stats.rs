//! The Stats plugin's hooks: what happened to a request, counted in the
//! service's [`crate::server::counters::StatsStore`].

use crate::core::Priority;
use crate::proto::http::RequestHead;
use crate::server::settings::Settings;

/// A file goes out (1.80's `start_send_file`).
pub(crate) fn file_sent(s: &Settings) {
    if let Some(st) = s.stats() {
        st.file_sent();
    }
}

/// A backend named a file to send (1.80's `start_file_reproxy`).
pub(crate) fn file_reproxied(s: &Settings) {
    if let Some(st) = s.stats() {
        st.file_reproxied();
    }
}

/// A backend took the request (1.80's `backend_client_assigned`): when
/// Stats counts, the time it did.
pub(crate) fn backend_assigned(s: &Settings, prio: Priority) -> Option<tokio::time::Instant> {
    s.stats()?.proxy_request(prio == Priority::High);
    Some(tokio::time::Instant::now())
}

/// The backend's response head arrived (1.80's `backend_response_received`).
pub(crate) fn response_received(
    s: &Settings,
    since: Option<tokio::time::Instant>,
    req: &RequestHead,
) {
    let (Some(since), Some(st)) = (since, s.stats()) else {
        return;
    };
    let host = req.headers.get_str("Host").unwrap_or("unknown");
    st.recent(format!(
        "{:<6.4} http://{host}{}",
        since.elapsed().as_secs_f64(),
        req.uri
    ));
}
