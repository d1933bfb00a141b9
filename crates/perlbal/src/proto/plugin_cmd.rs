//! The console commands of the Vhosts, Vpaths, Redirect and Include
//! plugins, split as 1.80's patterns split them. Like `ACCESS`, a command
//! whose plugin is not loaded is 1.80's `unknown command`; that is decided
//! when the command runs, so parsing keeps the usage error for later.

/// `VHOST [sel] host = svc` or `VPATH [sel] regex = svc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The selector named on the line (else the last created or USEd).
    pub selector: Option<String>,
    /// The host pattern or path regex (lower-cased, as 1.80 sees it).
    pub pattern: String,
    /// The service requests go to (case kept).
    pub target: String,
}

/// `^vhost\s+(?:(\w+)\s+)?(\S+)\s*=\s*(\w+)$` (and the same for `vpath`)
/// on the normalised line `cmd` (`base` is `vhost` or `vpath`).
pub fn parse_route(rest: &str) -> Option<Route> {
    let (lhs, target) = rest.rsplit_once('=')?;
    let target = target.trim();
    if !is_word(target) {
        return None;
    }
    let words: Vec<&str> = lhs.split(' ').filter(|w| !w.is_empty()).collect();
    let (selector, pattern) = match words.as_slice() {
        [p] => (None, *p),
        [s, p] if is_word(s) => (Some((*s).to_owned()), *p),
        _ => return None,
    };
    Some(Route {
        selector,
        pattern: pattern.to_owned(),
        target: target.to_owned(),
    })
}

/// 1.80's usage lines.
pub const VHOST_USAGE: &str = "usage: VHOST [<service>] <host_or_pattern> = <dest_service>";
/// See [`VHOST_USAGE`].
pub const VPATH_USAGE: &str = "usage: VPATH [<service>] <path regex> = <dest_service>";
/// See [`VHOST_USAGE`].
pub const REDIRECT_USAGE: &str = "usage: REDIRECT HOST <match_host> <target_host>";
/// See [`VHOST_USAGE`].
pub const INCLUDE_USAGE: &str = "usage: INCLUDE = <config files>";

/// `^redirect\s+host\s+(\S+)\s+(\S+)$`: (match host, target host).
pub fn parse_redirect(words: &[&str]) -> Option<(String, String)> {
    match words {
        ["host", from, to] => Some(((*from).to_owned(), (*to).to_owned())),
        _ => None,
    }
}

/// `^include\s+=\s+(.+)\s*$` on the normalised line: the glob(s).
pub fn parse_include(rest: &str) -> Option<String> {
    let globs = rest.strip_prefix("= ")?.trim();
    (!globs.is_empty()).then(|| globs.to_owned())
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_split_as_1_80_splits_them() {
        let r = parse_route("sel *.example.com = Web").expect("valid");
        assert_eq!(r.selector.as_deref(), Some("sel"));
        assert_eq!(r.pattern, "*.example.com");
        assert_eq!(r.target, "Web");
        let r = parse_route("^/foo=ws").expect("valid");
        assert_eq!((r.selector, r.pattern.as_str()), (None, "^/foo"));
        assert!(parse_route("a b c = ws").is_none());
        assert!(parse_route("a = w-s").is_none());
        assert!(parse_route("= ws").is_none());
        assert!(parse_route("x =").is_none());
    }

    #[test]
    fn redirect_and_include() {
        assert_eq!(
            parse_redirect(&["host", "a", "b"]),
            Some(("a".into(), "b".into()))
        );
        assert_eq!(parse_redirect(&["host", "a"]), None);
        assert_eq!(
            parse_include("= /etc/*.conf /x").as_deref(),
            Some("/etc/*.conf /x")
        );
        assert_eq!(parse_include("/x"), None);
        assert_eq!(parse_include("=/x"), None);
    }
}
