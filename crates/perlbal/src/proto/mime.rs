//! The MIME table of the web server: 1.80's 16 built-in extensions, changed
//! at run time by the `MIME` console command. Look-up is by the file
//! name's last extension of word characters (1.80's `/\.(\w+)$/`), case
//! sensitive; anything else is `text/plain`.

use std::collections::BTreeMap;

/// 1.80's built-in table.
pub const DEFAULT: [(&str, &str); 16] = [
    ("css", "text/css"),
    ("doc", "application/msword"),
    ("gif", "image/gif"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("jpg", "image/jpeg"),
    ("js", "application/x-javascript"),
    ("mp3", "audio/mpeg"),
    ("mpg", "video/mpeg"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("torrent", "application/x-bittorrent"),
    ("txt", "text/plain"),
    ("zip", "application/zip"),
];

/// The live table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimeTable(pub BTreeMap<String, String>);

impl Default for MimeTable {
    fn default() -> Self {
        MimeTable(
            DEFAULT
                .iter()
                .map(|(e, m)| ((*e).to_owned(), (*m).to_owned()))
                .collect(),
        )
    }
}

/// A file name's extension as 1.80 finds it (`/\.(\w+)$/`).
pub fn extension(name: &str) -> Option<&str> {
    let (_, ext) = name.rsplit_once('.')?;
    let word = !ext.is_empty() && ext.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    word.then_some(ext)
}

impl MimeTable {
    /// The type of a known extension.
    pub fn known(&self, name: &str) -> Option<&str> {
        extension(name)
            .and_then(|e| self.0.get(e))
            .map(String::as_str)
    }

    /// The Content-Type for a file name.
    pub fn for_name(&self, name: &str) -> &str {
        self.known(name).unwrap_or("text/plain")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_as_1_80_finds_them() {
        let t = MimeTable::default();
        assert_eq!(t.for_name("/a/b.css"), "text/css");
        assert_eq!(t.for_name("/a/b.tar.zip"), "application/zip");
        assert_eq!(t.for_name("/a/b.CSS"), "text/plain");
        assert_eq!(t.for_name("/a.d/b"), "text/plain");
        assert_eq!(t.for_name("/a/b.t-x"), "text/plain");
        assert_eq!(t.for_name("/a/b."), "text/plain");
        assert_eq!(extension("x.y_z1"), Some("y_z1"));
    }
}
