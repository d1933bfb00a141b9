//! Small pure pieces of the demo app's HTTP side: keys from paths
//! (percent-decoding), query arguments, HTML escaping, content types and
//! the key list page.

/// The longest key MogileFS keeps (`dkey` is a VARCHAR(255)).
pub const MAX_KEY: usize = 255;

/// Decodes `%XX` escapes; `None` on a bad escape or bytes that are not
/// UTF-8. `plus_is_space` for query strings.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Escapes everything but unreserved characters and `/` (for links).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~/".contains(&c) {
            out.push(char::from(c));
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// The key in a `/files/KEY` path: decoded, not empty, at most
/// [`MAX_KEY`] bytes, no control characters.
pub fn key_of(raw: &str) -> Result<String, &'static str> {
    let key = percent_decode(raw, false).ok_or("the key is not valid percent-encoded UTF-8")?;
    if key.is_empty() {
        return Err("no key after /files/");
    }
    if key.len() > MAX_KEY {
        return Err("the key is longer than 255 bytes");
    }
    if key.chars().any(char::is_control) {
        return Err("the key has control characters");
    }
    Ok(key)
}

/// The value of `name` in a query string, decoded.
pub fn query_arg(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k, true)? == name).then(|| percent_decode(v, true))?
    })
}

/// `&`, `<`, `>`, `"` and `'` escaped for HTML text and attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A content type from the key's extension (what perlbal passes on to the
/// client with the bytes it fetched).
pub fn content_type(key: &str) -> &'static str {
    let ext = key
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "css" => "text/css",
        "js" => "text/javascript",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// The page listing the domain's keys (one page of them, with a link to
/// the next when there are more).
pub fn key_list(domain: &str, keys: &[String], next_after: Option<&str>) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <title>Files in {d}</title></head>\n<body>\n<h1>Files in MogileFS domain {d}</h1>\n",
        d = escape(domain)
    );
    if keys.is_empty() {
        out.push_str(
            "<p>No files yet. Store one: <code>curl -T FILE http://HOST/files/NAME</code></p>\n",
        );
    } else {
        out.push_str("<ul>\n");
        for k in keys {
            out.push_str(&format!(
                "<li><a href=\"/files/{}\">{}</a></li>\n",
                escape(&percent_encode(k)),
                escape(k)
            ));
        }
        out.push_str("</ul>\n");
    }
    if let Some(after) = next_after {
        out.push_str(&format!(
            "<p><a href=\"/?after={}\">More</a></p>\n",
            escape(&percent_encode(after))
        ));
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_decoded_and_checked() {
        assert_eq!(key_of("photo.jpg").as_deref(), Ok("photo.jpg"));
        assert_eq!(key_of("a%20b/c%2Fd").as_deref(), Ok("a b/c/d"));
        assert_eq!(key_of("caf%C3%A9").as_deref(), Ok("café"));
        assert!(key_of("").is_err());
        assert!(key_of("%zz").is_err());
        assert!(key_of("%4").is_err());
        assert!(key_of("%FF").is_err(), "not UTF-8");
        assert!(key_of("a%0Ab").is_err(), "control character");
        assert!(key_of(&"k".repeat(255)).is_ok());
        assert!(key_of(&"k".repeat(256)).is_err());
    }

    #[test]
    fn encode_then_decode_is_the_identity() {
        for s in ["plain", "a b&c=d", "caf\u{e9}/x?y#z", "%25", "+"] {
            assert_eq!(
                percent_decode(&percent_encode(s), false).as_deref(),
                Some(s)
            );
        }
    }

    #[test]
    fn query_args() {
        let q = Some("x=1&after=a+b%2Fc&empty");
        assert_eq!(query_arg(q, "after").as_deref(), Some("a b/c"));
        assert_eq!(query_arg(q, "empty").as_deref(), Some(""));
        assert_eq!(query_arg(q, "none"), None);
        assert_eq!(query_arg(None, "after"), None);
    }

    #[test]
    fn the_list_escapes_keys() {
        let page = key_list("d", &["<b>&\"x\".txt".into()], Some("z z"));
        assert!(page.contains("&lt;b&gt;&amp;&quot;x&quot;.txt"), "{page}");
        assert!(
            page.contains("href=\"/files/%3Cb%3E%26%22x%22.txt\""),
            "{page}"
        );
        assert!(page.contains("/?after=z%20z"), "{page}");
        assert!(!page.contains("<b>"));
        assert_eq!(content_type("A.PNG"), "image/png");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
