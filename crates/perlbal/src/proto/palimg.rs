//! Palimg, the palette altering of the original design: colours named in
//! the URL (`/palimg/<file>.<ext>/p<spec>`) replace entries of a GIF's
//! global colour table or a PNG's `PLTE` chunk (whose CRC is computed
//! anew); everything after the palette is the file as it is on disk, so
//! the server sends the altered start and then the rest with sendfile.
//!
//! Specs, as in 1.80 (lower-case hex only):
//! * `g<ii><rrggbb><jj><rrggbb>`: a gradient from entry `ii` to `jj`;
//! * `t<rrggbb>[<rrggbb>]`: every entry tinted towards the first colour
//!   (from the second, black by default);
//! * up to six `<i><rrggbb>` groups: entry `i` (0-f) gets that colour.
//!
//! Like 1.80, only the first [`READ`] bytes of the file are looked at: a
//! PNG whose `PLTE` chunk ends later, a bad spec, or a file that is not
//! what its extension says is a 404. Pure: bytes in, bytes out.

use std::collections::BTreeMap;

/// How much of the file's start is read and may be rewritten.
pub const READ: usize = 2048;

/// A parsed spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Palette {
    /// Entry index to colour.
    Entries(BTreeMap<usize, [u8; 3]>),
    /// Every entry scaled between `dark` and `tint`.
    Tint { tint: [u8; 3], dark: [u8; 3] },
}

/// A palimg request: the URI the file is served from, its extension and
/// the spec (1.80's `^/palimg/(.+)\.(\w+)(.*)$` then `^/p(.+)$`).
pub fn parse_uri(uri: &str) -> Option<(String, String, String)> {
    let rest = uri.strip_prefix("/palimg/")?;
    // The last `.word` with something before it; the rest is the extra.
    let bytes = rest.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut found = None;
    for (i, b) in bytes.iter().enumerate().skip(1) {
        if *b == b'.' && bytes.get(i + 1).copied().is_some_and(word) {
            found = Some(i);
        }
    }
    let dot = found?;
    let name = &rest[..dot];
    let after = &rest[dot + 1..];
    let ext_len = after.bytes().take_while(|b| word(*b)).count();
    let (ext, extra) = after.split_at(ext_len);
    let spec = extra.strip_prefix("/p")?;
    if spec.is_empty() || spec.contains('\n') {
        return None;
    }
    Some((
        format!("/palimg/{name}.{ext}"),
        ext.to_owned(),
        spec.to_owned(),
    ))
}

fn hex_color(s: &str) -> Option<[u8; 3]> {
    let b = |i: usize| u8::from_str_radix(s.get(i..i + 2)?, 16).ok();
    Some([b(0)?, b(2)?, b(4)?])
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parses a spec; `None` is 1.80's 404.
pub fn parse_spec(spec: &str) -> Option<Palette> {
    if spec.len() == 17 && spec.starts_with('g') && is_hex(&spec[1..]) {
        let (mut from, mut to) = (
            usize::from_str_radix(&spec[1..3], 16).ok()?,
            usize::from_str_radix(&spec[9..11], 16).ok()?,
        );
        let (mut fc, mut tc) = (hex_color(&spec[3..9])?, hex_color(&spec[11..17])?);
        if from == to {
            return None;
        }
        if to < from {
            std::mem::swap(&mut from, &mut to);
            std::mem::swap(&mut fc, &mut tc);
        }
        let mut map = BTreeMap::new();
        for i in from..=to {
            let c = |k: usize| {
                let (f, t) = (f64::from(fc[k]), f64::from(tc[k]));
                // 1.80: int(f + (t - f) * (i - from) / (to - from))
                (f + (t - f) * (i - from) as f64 / (to - from) as f64).trunc() as u8
            };
            map.insert(i, [c(0), c(1), c(2)]);
        }
        return Some(Palette::Entries(map));
    }
    if spec.starts_with('t') && matches!(spec.len(), 7 | 13) && is_hex(&spec[1..]) {
        let tint = hex_color(&spec[1..7])?;
        let dark = if spec.len() == 13 {
            hex_color(&spec[7..13])?
        } else {
            [0, 0, 0]
        };
        return Some(Palette::Tint { tint, dark });
    }
    if spec.len() > 42 || !is_hex(spec) || !spec.len().is_multiple_of(7) {
        return None;
    }
    let mut map = BTreeMap::new();
    for g in spec.as_bytes().chunks(7) {
        let g = std::str::from_utf8(g).ok()?;
        let idx = usize::from_str_radix(&g[..1], 16).ok()?;
        map.insert(idx, hex_color(&g[1..])?);
    }
    Some(Palette::Entries(map))
}

/// 1.80's `common_alter`: the colour table with the palette applied.
fn alter(pal: &Palette, table: &mut [u8]) {
    let entries = table.len() / 3;
    match pal {
        Palette::Tint { tint, dark } => {
            for e in table.chunks_exact_mut(3) {
                for (c, v) in e.iter_mut().enumerate() {
                    let diff = i32::from(tint[c]) - i32::from(dark[c]);
                    let x = f64::from(dark[c]) + f64::from(diff * i32::from(*v)) / 255.0;
                    *v = x.trunc() as u8;
                }
            }
        }
        Palette::Entries(map) => {
            for (idx, rgb) in map.range(..entries) {
                table[idx * 3..idx * 3 + 3].copy_from_slice(rgb);
            }
        }
    }
}

/// The file's new start for `ext`, made from its first bytes (`start`,
/// up to [`READ`] of them); as many bytes of the file as it is long are
/// replaced by it. `None`: 1.80's 404.
pub fn modify(start: &[u8], ext: &str, pal: &Palette) -> Option<Vec<u8>> {
    match ext {
        "gif" => gif(start, pal),
        "png" => png(start, pal),
        _ => Some(start.to_vec()),
    }
}

/// GIF: the global colour table after the 13-byte header; its size is in
/// the low three bits of byte 10. Unlike 1.80 (which then overwrote the
/// image data), a GIF without a global table is refused.
fn gif(start: &[u8], pal: &Palette) -> Option<Vec<u8>> {
    let flags = *start.get(10)?;
    if flags & 0x80 == 0 {
        return None;
    }
    let table = 3 << ((flags & 7) + 1);
    let head = start.get(..13 + table)?;
    let mut out = head.to_vec();
    alter(pal, &mut out[13..]);
    Some(out)
}

const PNG_SIG: &[u8] = b"\x89PNG\r\n\x1a\n";

/// PNG: chunks up to `PLTE` are copied, `PLTE` gets the new colours and
/// a new CRC; only colour type 3 (paletted) images.
fn png(start: &[u8], pal: &Palette) -> Option<Vec<u8>> {
    if !start.starts_with(PNG_SIG) {
        return None;
    }
    let mut at = PNG_SIG.len();
    loop {
        let len = u32::from_be_bytes(start.get(at..at + 4)?.try_into().ok()?) as usize;
        let kind = start.get(at + 4..at + 8)?;
        let data = at + 8;
        let end = data.checked_add(len)?.checked_add(4)?;
        let chunk = start.get(data..end - 4)?;
        match kind {
            b"IHDR" if chunk.get(9) != Some(&3) => return None,
            b"PLTE" => {
                let mut out = start[..end - 4].to_vec();
                alter(pal, &mut out[data..]);
                let crc = crc32fast::hash(&out[at + 4..]);
                out.extend_from_slice(&crc.to_be_bytes());
                return Some(out);
            }
            _ => {}
        }
        at = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_specs_as_1_80_reads_them() {
        assert_eq!(
            parse_uri("/palimg/logo.gif/pg01aaaaaa99cccccc"),
            Some((
                "/palimg/logo.gif".into(),
                "gif".into(),
                "g01aaaaaa99cccccc".into()
            ))
        );
        assert_eq!(
            parse_uri("/palimg/a.b.png/p0ff0000").map(|u| u.0),
            Some("/palimg/a.b.png".into())
        );
        assert_eq!(parse_uri("/palimg/logo.gif"), None);
        assert_eq!(parse_uri("/palimg/logo.gif/x"), None);
        assert_eq!(parse_uri("/palimg/logo.gif/p"), None);
        assert_eq!(parse_uri("/img/logo.gif/p0ff0000"), None);
        let Some(Palette::Entries(m)) = parse_spec("0ff00001000000") else {
            panic!("entries")
        };
        assert_eq!(m[&0], [255, 0, 0]);
        assert_eq!(m[&1], [0, 0, 0]);
        assert_eq!(parse_spec("0FF0000"), None);
        assert_eq!(parse_spec("0ff000"), None);
        assert_eq!(parse_spec(&"0ff0000".repeat(7)), None);
        let Some(Palette::Entries(g)) = parse_spec("g0300000000ffffff") else {
            panic!("gradient")
        };
        // Given the wrong way round: swapped.
        assert_eq!(g[&0], [255, 255, 255]);
        assert_eq!(g[&1], [170, 170, 170]);
        let Some(Palette::Entries(g)) = parse_spec("g0000000003ffffff") else {
            panic!("gradient")
        };
        assert_eq!(g[&0], [0, 0, 0]);
        assert_eq!(g[&1], [85, 85, 85]);
        assert_eq!(g[&3], [255, 255, 255]);
        assert_eq!(parse_spec("g0100000001ffffff"), None);
        assert_eq!(
            parse_spec("tff0000"),
            Some(Palette::Tint {
                tint: [255, 0, 0],
                dark: [0, 0, 0]
            })
        );
    }

    #[test]
    fn tint_scales_between_dark_and_tint() {
        let mut t = vec![0, 128, 255];
        alter(
            &Palette::Tint {
                tint: [255, 255, 100],
                dark: [10, 0, 200],
            },
            &mut t,
        );
        // 10 + 245*0/255, 0 + 255*128/255, 200 - 100*255/255
        assert_eq!(t, [10, 128, 100]);
    }

    #[test]
    fn gif_table_and_png_plte_are_rewritten() {
        let mut gif_bytes = b"GIF89a\x02\x00\x02\x00\x80\x00\x00".to_vec();
        gif_bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
        gif_bytes.extend_from_slice(b",rest");
        let pal = parse_spec("1abcdef").expect("spec");
        let out = modify(&gif_bytes, "gif", &pal).expect("gif");
        assert_eq!(out.len(), 19);
        assert_eq!(&out[13..], &[1, 2, 3, 0xab, 0xcd, 0xef]);
        assert_eq!(modify(&gif_bytes[..15], "gif", &pal), None);
        let mut no_table = gif_bytes.clone();
        no_table[10] = 0;
        assert_eq!(modify(&no_table, "gif", &pal), None);

        let mut png_bytes = PNG_SIG.to_vec();
        let mut chunk = |kind: &[u8], data: &[u8]| {
            png_bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
            png_bytes.extend_from_slice(kind);
            png_bytes.extend_from_slice(data);
            let mut c = kind.to_vec();
            c.extend_from_slice(data);
            png_bytes.extend_from_slice(&crc32fast::hash(&c).to_be_bytes());
        };
        chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 3, 0, 0, 0]);
        chunk(b"PLTE", &[9, 9, 9, 8, 8, 8]);
        chunk(b"IDAT", b"xx");
        let out = modify(&png_bytes, "png", &pal).expect("png");
        let plte_end = 8 + 25 + 18;
        assert_eq!(out.len(), plte_end);
        assert_eq!(&out[8 + 25 + 8..8 + 25 + 14], &[9, 9, 9, 0xab, 0xcd, 0xef]);
        let crc = crc32fast::hash(&out[8 + 25 + 4..plte_end - 4]);
        assert_eq!(&out[plte_end - 4..], &crc.to_be_bytes());
        let mut rgb = png_bytes.clone();
        rgb[8 + 8 + 9] = 2;
        assert_eq!(modify(&rgb, "png", &pal), None);
        assert_eq!(modify(&png_bytes[..40], "png", &pal), None);
        assert_eq!(modify(b"abc", "jpg", &pal), Some(b"abc".to_vec()));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let pal = parse_spec("tff0000").expect("spec");
        for n in 0..300 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            let _ = modify(&junk, "gif", &pal);
            let mut p = PNG_SIG.to_vec();
            p.extend_from_slice(&junk);
            let _ = modify(&p, "png", &pal);
        }
    }
}
