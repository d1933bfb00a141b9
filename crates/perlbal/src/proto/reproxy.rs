//! The internal-redirect headers a backend answers with when the service
//! has `enable_reproxy` on, and 1.80's reading of them. Pure.

use super::http::ResponseHead;

/// What the backend asked for (1.80 looks in this order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// `X-REPROXY-FILE: /path`: serve a local file.
    File(String),
    /// `X-REPROXY-URL: url1 url2 ...`: fetch the first that works.
    Url(String),
    /// `X-REPROXY-SERVICE: name`: hand the request to another service.
    Service(String),
}

/// The backend's redirect, if it sent one.
pub fn directive(resp: &ResponseHead) -> Option<Directive> {
    let h = |n: &str| {
        resp.headers
            .get_str(n)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    h("X-REPROXY-FILE")
        .map(Directive::File)
        .or_else(|| h("X-REPROXY-URL").map(Directive::Url))
        .or_else(|| h("X-REPROXY-SERVICE").map(Directive::Service))
}

/// One URL of an `X-REPROXY-URL` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host as written.
    pub host: String,
    /// The port (80 when absent).
    pub port: u16,
    /// The path (with query), `/` when absent.
    pub path: String,
}

impl Target {
    /// `host:port`, the key of per-host limits.
    pub fn ipport(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The list, as 1.80's `m!^http://(.+?)(?::(\d+))?(/.*)?$!` reads it;
/// other URLs are skipped.
pub fn targets(list: &str) -> Vec<Target> {
    list.split_whitespace()
        .filter_map(|u| {
            let rest = u.strip_prefix("http://")?;
            let (hostport, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    (h, p.parse().ok()?)
                }
                _ => (hostport, 80),
            };
            if host.is_empty() || path.bytes().any(|b| b.is_ascii_control()) {
                return None;
            }
            Some(Target {
                host: host.to_owned(),
                port,
                path: path.to_owned(),
            })
        })
        .collect()
}

/// Whether a header is one of the `X-REPROXY-*` family (never shown to
/// clients).
pub fn is_reproxy_header(name: &str) -> bool {
    name.as_bytes()
        .get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"X-REPROXY-"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::parse_response;

    #[test]
    fn url_lists_as_1_80_reads_them() {
        let t = targets("http://127.0.0.1:7500/dev1/0/1.fid  http://h/x?y ftp://no http://p:80");
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].ipport(), "127.0.0.1:7500");
        assert_eq!(t[0].path, "/dev1/0/1.fid");
        assert_eq!(
            (t[1].host.as_str(), t[1].port, t[1].path.as_str()),
            ("h", 80, "/x?y")
        );
        assert_eq!((t[2].host.as_str(), t[2].path.as_str()), ("p", "/"));
    }

    #[test]
    fn file_wins_then_url_then_service() {
        let r = parse_response(
            b"HTTP/1.0 200 OK\r\nX-Reproxy-Service: s\r\nX-REPROXY-URL: http://a/\r\nX-REPROXY-FILE: /f\r\n\r\n",
        )
        .expect("ok")
        .expect("complete")
        .0;
        assert_eq!(directive(&r), Some(Directive::File("/f".into())));
        assert!(is_reproxy_header("x-reproxy-expected-size"));
        assert!(!is_reproxy_header("X-Proxy-Capabilities"));
        assert!(
            !is_reproxy_header("X-REPROX\u{e9}abc"),
            "no panic off a char boundary"
        );
    }
}
