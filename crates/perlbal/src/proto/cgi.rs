//! CGI/1.1 (RFC 3875) for the Cgilike plugin: the environment a program
//! gets for a request ([`env()`]) and the head it answers with
//! ([`parse_head`]). Pure: the process and the sockets are the server's.

use std::net::IpAddr;

use super::http::RequestHead;

/// What the environment is made from besides the request.
#[derive(Debug, Clone)]
pub struct Meta<'a> {
    /// The URI prefix the program serves (`SCRIPT_NAME`, without a
    /// trailing `/`).
    pub script_name: &'a str,
    /// The client.
    pub remote: IpAddr,
    /// The address and port the service listens on.
    pub server_ip: Option<IpAddr>,
    pub server_port: u16,
    /// Whether the client came over TLS (`HTTPS=on`).
    pub https: bool,
}

/// `%XX` decoded (invalid escapes kept as written), as text.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(v as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The CGI/1.1 meta-variables for `req`, plus `PATH`. Request headers
/// become `HTTP_*` (names with characters other than letters, digits and
/// `-` are left out, so `X_Foo` cannot pose as `X-Foo`; `Proxy` is left
/// out, as `HTTP_PROXY` would steer the program's own HTTP clients).
pub fn env(req: &RequestHead, m: &Meta<'_>) -> Vec<(String, String)> {
    let (path, query) = match req.uri.split_once('?') {
        Some((p, q)) => (p, q),
        None => (req.uri.as_str(), ""),
    };
    let path_info = path.strip_prefix(m.script_name).unwrap_or("");
    let host = req
        .headers
        .get_str("Host")
        .map(|h| match h.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => h,
        })
        .filter(|h| !h.is_empty());
    let server_name = match (host, m.server_ip) {
        (Some(h), _) => h.to_owned(),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => "localhost".to_owned(),
    };
    let mut out: Vec<(String, String)> = vec![
        ("GATEWAY_INTERFACE".into(), "CGI/1.1".into()),
        ("SERVER_SOFTWARE".into(), "Perlbal/1.80".into()),
        ("SERVER_PROTOCOL".into(), format!("HTTP/1.{}", req.minor)),
        ("SERVER_NAME".into(), server_name),
        ("SERVER_PORT".into(), m.server_port.to_string()),
        ("REQUEST_METHOD".into(), req.method.clone()),
        ("REQUEST_URI".into(), req.uri.clone()),
        ("SCRIPT_NAME".into(), m.script_name.to_owned()),
        ("PATH_INFO".into(), percent_decode(path_info)),
        ("QUERY_STRING".into(), query.to_owned()),
        ("REMOTE_ADDR".into(), m.remote.to_string()),
        ("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()),
    ];
    if m.https {
        out.push(("HTTPS".into(), "on".into()));
    }
    if req.content_length > 0 {
        out.push(("CONTENT_LENGTH".into(), req.content_length.to_string()));
    }
    for h in &req.headers.0 {
        let value = String::from_utf8_lossy(&h.value).into_owned();
        let name = h.name.to_ascii_uppercase();
        let var = match name.as_str() {
            "CONTENT-TYPE" => "CONTENT_TYPE".to_owned(),
            "CONTENT-LENGTH" | "PROXY" => continue,
            _ if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
                format!("HTTP_{}", name.replace('-', "_"))
            }
            _ => continue,
        };
        match out.iter_mut().find(|(k, _)| *k == var) {
            Some((_, v)) => {
                v.push_str(", ");
                v.push_str(&value);
            }
            None => out.push((var, value)),
        }
    }
    out
}

/// A program's response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiHead {
    /// From `Status:`; 302 for a `Location:` without one; else 200.
    pub status: u16,
    /// The header lines to send on, in order (`Status` and the
    /// connection's own headers left out).
    pub headers: Vec<(String, String)>,
    /// Its `Content-Length`, if it gave one.
    pub content_length: Option<u64>,
}

/// Why a head is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CgiError {
    /// No blank line within the limit.
    #[error("response head longer than {0} bytes")]
    TooLong(usize),
    /// A line that is not `Name: value`.
    #[error("malformed response header line")]
    BadLine,
    /// `Status:` without a three-digit code.
    #[error("malformed Status header")]
    BadStatus,
}

/// Headers about the connection, which perlbal sets itself.
const HOP_BY_HOP: [&str; 4] = ["connection", "keep-alive", "transfer-encoding", "upgrade"];

/// The head at the start of `buf` (lines ending in LF or CRLF, up to a
/// blank line) and how many bytes it took; `None` until the blank line
/// has arrived.
pub fn parse_head(buf: &[u8], max: usize) -> Result<Option<(CgiHead, usize)>, CgiError> {
    let mut pos = 0;
    let mut status = None;
    let mut headers = Vec::new();
    let mut location = false;
    let mut content_length = None;
    loop {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            return if buf.len() > max {
                Err(CgiError::TooLong(max))
            } else {
                Ok(None)
            };
        };
        let end = pos + nl + 1;
        if end > max {
            return Err(CgiError::TooLong(max));
        }
        let line = &buf[pos..pos + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        pos = end;
        if line.is_empty() {
            break;
        }
        let text = std::str::from_utf8(line).map_err(|_| CgiError::BadLine)?;
        let (name, value) = text.split_once(':').ok_or(CgiError::BadLine)?;
        let ok_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if !ok_name {
            return Err(CgiError::BadLine);
        }
        let value = value.trim();
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "status" => {
                let code = value.get(..3).ok_or(CgiError::BadStatus)?;
                let code: u16 = code
                    .parse()
                    .ok()
                    .filter(|c| (100..=999).contains(c))
                    .ok_or(CgiError::BadStatus)?;
                status = Some(code);
                continue;
            }
            "location" => location = true,
            "content-length" => {
                content_length = Some(value.parse().map_err(|_| CgiError::BadLine)?);
            }
            l if HOP_BY_HOP.contains(&l) => continue,
            _ => {}
        }
        headers.push((name.to_owned(), value.to_owned()));
    }
    let status = status.unwrap_or(if location { 302 } else { 200 });
    let has_type = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    if !has_type && !location {
        // Cgilike's default.
        headers.push(("Content-Type".into(), "text/html".into()));
    }
    Ok(Some((
        CgiHead {
            status,
            headers,
            content_length,
        },
        pos,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http::parse_request;

    fn req(text: &str) -> RequestHead {
        parse_request(text.as_bytes())
            .expect("parses")
            .expect("complete")
            .0
    }

    fn var<'a>(env: &'a [(String, String)], k: &str) -> Option<&'a str> {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn the_environment_of_a_request() {
        let r = req("POST /app/x%20y/z?a=1&b=2 HTTP/1.1\r\nHost: site.test:8080\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Thing: 1\r\nx-thing: 2\r\nX_Thing: spoof\r\nProxy: evil\r\n\r\n");
        let m = Meta {
            script_name: "/app",
            remote: "192.0.2.9".parse().expect("ip"),
            server_ip: None,
            server_port: 8080,
            https: true,
        };
        let e = env(&r, &m);
        assert_eq!(var(&e, "GATEWAY_INTERFACE"), Some("CGI/1.1"));
        assert_eq!(var(&e, "REQUEST_METHOD"), Some("POST"));
        assert_eq!(var(&e, "SCRIPT_NAME"), Some("/app"));
        assert_eq!(var(&e, "PATH_INFO"), Some("/x y/z"));
        assert_eq!(var(&e, "QUERY_STRING"), Some("a=1&b=2"));
        assert_eq!(var(&e, "SERVER_NAME"), Some("site.test"));
        assert_eq!(var(&e, "SERVER_PORT"), Some("8080"));
        assert_eq!(var(&e, "SERVER_PROTOCOL"), Some("HTTP/1.1"));
        assert_eq!(var(&e, "REMOTE_ADDR"), Some("192.0.2.9"));
        assert_eq!(var(&e, "CONTENT_LENGTH"), Some("5"));
        assert_eq!(var(&e, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(var(&e, "HTTPS"), Some("on"));
        assert_eq!(var(&e, "HTTP_X_THING"), Some("1, 2"));
        assert_eq!(var(&e, "HTTP_PROXY"), None);
        assert_eq!(var(&e, "HTTP_CONTENT_LENGTH"), None);
    }

    #[test]
    fn heads_status_location_and_defaults() {
        let (h, used) = parse_head(b"Status: 404 Nope\nX-A: b\n\nbody", 1024)
            .expect("ok")
            .expect("complete");
        assert_eq!(used, 25);
        assert_eq!(h.status, 404);
        assert_eq!(
            h.headers,
            [
                ("X-A".to_owned(), "b".to_owned()),
                ("Content-Type".to_owned(), "text/html".to_owned())
            ]
        );
        let (h, _) = parse_head(
            b"Location: http://x/\r\nConnection: keep-alive\r\n\r\n",
            1024,
        )
        .expect("ok")
        .expect("complete");
        assert_eq!(h.status, 302);
        assert_eq!(h.headers.len(), 1);
        let (h, _) = parse_head(b"Content-Type: text/plain\nContent-Length: 3\n\nabc", 1024)
            .expect("ok")
            .expect("complete");
        assert_eq!((h.status, h.content_length), (200, Some(3)));
        assert_eq!(parse_head(b"Content-Type: x\n", 1024), Ok(None));
        assert_eq!(parse_head(b"no colon\n\n", 1024), Err(CgiError::BadLine));
        assert_eq!(
            parse_head(b"Status: abc\n\n", 1024),
            Err(CgiError::BadStatus)
        );
        assert_eq!(parse_head(&[b'a'; 100], 50), Err(CgiError::TooLong(50)));
    }

    #[test]
    fn any_split_gives_the_same_head() {
        let whole = b"Status: 201 Made\r\nX-A: 1\r\n\r\nrest";
        let full = parse_head(whole, 1024).expect("ok").expect("complete");
        for cut in 0..whole.len() {
            match parse_head(&whole[..cut], 1024).expect("no error on a prefix") {
                None => {}
                Some(got) => assert_eq!(got, full),
            }
        }
    }
}
