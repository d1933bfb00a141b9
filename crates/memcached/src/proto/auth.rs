//! ASCII authentication (`-Y`): until a connection has authenticated, the
//! only request understood is `set <any> <any> <any> <N>\r\n` followed by
//! `N` bytes `user pass` and CRLF; everything else is
//! `CLIENT_ERROR unauthenticated`. Reply strings as 1.6.18's.

/// What the next step of the handshake is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep<'a> {
    /// Need more bytes.
    Incomplete,
    /// More than 2048 bytes without a newline: close.
    Close,
    /// A `set` line was read: `len` bytes of credentials (with CRLF) follow.
    Started {
        /// Bytes of the line.
        consumed: usize,
        /// Bytes of the credential block, CRLF included.
        len: usize,
    },
    /// Refused: reply this line (with CRLF) and skip `consumed` bytes.
    Refuse {
        /// Bytes taken.
        consumed: usize,
        /// The reply.
        reply: &'static [u8],
    },
    /// A user and password to check; `consumed` bytes taken.
    Credentials {
        /// Bytes taken.
        consumed: usize,
        /// The user.
        user: &'a [u8],
        /// The password.
        password: &'a [u8],
    },
}

/// The longest line looked at for a newline before closing.
const LINE_MAX: usize = 2048;

fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|b| *b == b' ').filter(|t| !t.is_empty())
}

/// One step: `pending` is `Some(len)` after [`AuthStep::Started`].
/// `block_max` bounds the credential block a `set` line may announce.
pub fn auth_step(buf: &[u8], pending: Option<usize>, block_max: usize) -> AuthStep<'_> {
    let Some(len) = pending else {
        if buf.len() < 2 {
            return AuthStep::Incomplete;
        }
        let Some(nl) = buf.iter().position(|b| *b == b'\n') else {
            return if buf.len() > LINE_MAX {
                AuthStep::Close
            } else {
                AuthStep::Incomplete
            };
        };
        let line = &buf[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let t: Vec<&[u8]> = tokens(line).take(6).collect();
        let size = t
            .get(4)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse::<u32>().ok())
            .map(|n| n as usize);
        return match size {
            Some(n) if t.len() >= 5 && t[0] == b"set" && n <= block_max => AuthStep::Started {
                consumed: nl + 1,
                len: n + 2,
            },
            _ => AuthStep::Refuse {
                consumed: nl + 1,
                reply: b"CLIENT_ERROR unauthenticated\r\n",
            },
        };
    };
    let Some(block) = buf.get(..len) else {
        return AuthStep::Incomplete;
    };
    let Some(body) = block.strip_suffix(b"\r\n") else {
        return AuthStep::Refuse {
            consumed: len,
            reply: b"CLIENT_ERROR bad command line termination\r\n",
        };
    };
    let mut t = tokens(body);
    match (t.next(), t.next()) {
        (Some(user), Some(password)) => AuthStep::Credentials {
            consumed: len,
            user,
            password,
        },
        _ => AuthStep::Refuse {
            consumed: len,
            reply: b"CLIENT_ERROR bad authentication token format\r\n",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake() {
        let buf = b"set foo 0 0 7\r\nfoo bar\r\n";
        assert_eq!(
            auth_step(buf, None, 1024),
            AuthStep::Started {
                consumed: 15,
                len: 9
            }
        );
        assert_eq!(
            auth_step(&buf[15..], Some(9), 1024),
            AuthStep::Credentials {
                consumed: 9,
                user: b"foo",
                password: b"bar"
            }
        );
        assert_eq!(auth_step(&buf[15..20], Some(9), 1024), AuthStep::Incomplete);
    }

    #[test]
    fn refusals() {
        let refuse = |b: &'static [u8], p| match auth_step(b, p, 1024) {
            AuthStep::Refuse { reply, .. } => reply,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            refuse(b"get foo\r\n", None),
            b"CLIENT_ERROR unauthenticated\r\n"
        );
        assert_eq!(
            refuse(b"set foo 0 0 x\r\n", None),
            b"CLIENT_ERROR unauthenticated\r\n"
        );
        assert_eq!(
            refuse(b"set foo 0 0 99999\r\n", None),
            b"CLIENT_ERROR unauthenticated\r\n"
        );
        assert_eq!(
            refuse(b"onlyone\r\n", Some(9)),
            b"CLIENT_ERROR bad authentication token format\r\n"
        );
        assert_eq!(
            refuse(b"foo barXX", Some(9)),
            b"CLIENT_ERROR bad command line termination\r\n"
        );
        assert_eq!(auth_step(&[b'x'; 3000], None, 1024), AuthStep::Close);
    }
}
