//! URL encoding as the tracker speaks it (the original's `eurl`/`durl`).

/// Encodes bytes: letters, digits and `_,-./\:` stay, space becomes `+`,
/// everything else `%XX` (upper-case hex).
pub fn encode(raw: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        match b {
            b'a'..=b'z'
            | b'A'..=b'Z'
            | b'0'..=b'9'
            | b'_'
            | b','
            | b'-'
            | b'.'
            | b'/'
            | b'\\'
            | b':' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
    out
}

/// Decodes `+` to space and `%XX` to its byte; a `%` without two hex
/// digits stays as it is.
pub fn decode(enc: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(enc.len());
    let mut i = 0;
    while i < enc.len() {
        let b = enc[i];
        if b == b'%' {
            if let Some(&[hi, lo]) = enc.get(i + 1..i + 3) {
                if let (Some(hi), Some(lo)) = (hex(hi), hex(lo)) {
                    out.push((hi << 4) | lo);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
