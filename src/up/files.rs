//! What `danga up` writes into the data folder: its layout, perlbal's
//! config (Perlbal's own command language) and the static page.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::ports::Ports;
use super::{CLASS, DOMAIN};

/// The first line of a page `danga up` may rewrite; a page without it is
/// the user's and stays as it is.
const MARKER: &str = "<!-- written by `danga up`: remove this line to keep your changes -->";

/// The data folder's layout.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The folder itself (absolute).
    pub root: PathBuf,
    /// The daemons' logs, one file each.
    pub log: PathBuf,
    /// perlbal's docroot for the `static` service.
    pub www: PathBuf,
    /// perlbal's generated config.
    pub perlbal_conf: PathBuf,
    /// The tracker's SQLite database.
    pub sqlite: PathBuf,
}

impl Layout {
    /// Creates the folders (idempotent) and returns the absolute paths.
    pub fn create(data: &Path, ports: &Ports) -> anyhow::Result<Layout> {
        std::fs::create_dir_all(data)
            .with_context(|| format!("creating the data folder {}", data.display()))?;
        let root = data
            .canonicalize()
            .with_context(|| format!("resolving {}", data.display()))?;
        let layout = Layout {
            log: root.join("log"),
            www: root.join("www"),
            perlbal_conf: root.join("perlbal.conf"),
            sqlite: root.join("mogilefs.sqlite3"),
            root,
        };
        let mut dirs = vec![layout.log.clone(), layout.www.clone()];
        for s in &ports.stores {
            dirs.push(layout.docroot(s.name).join(format!("dev{}", s.devid)));
        }
        for d in dirs {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
        Ok(layout)
    }

    /// A storage node's docroot (holding its `devN`).
    pub fn docroot(&self, node: &str) -> PathBuf {
        self.root.join(node)
    }

    /// A daemon's log file.
    pub fn log_of(&self, name: &str) -> PathBuf {
        self.log.join(format!("{name}.log"))
    }

    /// Writes perlbal.conf (every start: the ports may have moved) and the
    /// static index page (unless the user made it their own).
    pub fn write_configs(&self, ports: &Ports) -> anyhow::Result<()> {
        let www = self.www.display().to_string();
        // Perlbal's parser ends a value at white space.
        anyhow::ensure!(
            !www.chars().any(char::is_whitespace),
            "the data folder's path {www:?} has white space, which perlbal's config language \
             cannot hold; choose another --data"
        );
        std::fs::write(&self.perlbal_conf, perlbal_conf(ports, &www))
            .with_context(|| format!("writing {}", self.perlbal_conf.display()))?;
        let index = self.www.join("index.html");
        let mine = match std::fs::read_to_string(&index) {
            Ok(text) => text.starts_with(MARKER),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
            Err(e) => return Err(e).with_context(|| format!("reading {}", index.display())),
        };
        if mine {
            std::fs::write(&index, index_html(ports))
                .with_context(|| format!("writing {}", index.display()))?;
        }
        Ok(())
    }
}

/// perlbal.conf: the site (reverse proxy with internal redirects) in front
/// of the demo app, the static web server, and the management console.
pub fn perlbal_conf(p: &Ports, www: &str) -> String {
    format!(
        "# Written by `danga up` at every start (edits are lost): Perlbal's
# config language, the same commands the management console takes.

# The application: the demo app, which stores uploads in MogileFS and
# answers downloads with X-REPROXY-URL.
CREATE POOL demo_app
  POOL demo_app ADD {demo}

# The site: a reverse proxy that serves the files the backend points at
# itself (internal redirects), so the backend never spoon-feeds bytes.
CREATE SERVICE site
  SET role           = reverse_proxy
  SET listen         = {site}
  SET pool           = demo_app
  SET enable_reproxy = true
  SET persist_client = on
ENABLE site

# Static files.
CREATE SERVICE static
  SET role           = web_server
  SET listen         = {web}
  SET docroot        = {www}
  SET index_files    = index.html
  SET dirindexing    = off
  SET persist_client = on
ENABLE static

# The management console (try: nc {mgmt_ip} {mgmt_port}, then `show service site`).
CREATE SERVICE mgmt
  SET role   = management
  SET listen = {mgmt}
ENABLE mgmt
",
        demo = p.demo,
        site = p.site,
        web = p.web,
        mgmt = p.mgmt,
        mgmt_ip = p.mgmt.ip(),
        mgmt_port = p.mgmt.port(),
    )
}

/// The page perlbal's `static` service serves at `/`.
fn index_html(p: &Ports) -> String {
    let [s1, s2] = &p.stores;
    format!(
        r#"{MARKER}
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>The Danga stack</title></head>
<body>
<h1>The Danga stack, on one machine</h1>
<p>This page comes from perlbal's <code>web_server</code> service ({web}).
<code>danga up</code> also started:</p>
<ul>
<li>memcached on {mc}: a cache, as the original design uses it, here for
MogileFS paths;</li>
<li>gearmand on {gm}: the job server; the demo app runs a worker that
computes a stored file's MD5;</li>
<li>mogilefsd on {tr}: the MogileFS tracker (SQLite), with domain
<code>{DOMAIN}</code> and class <code>{CLASS}</code> (two copies wanted);</li>
<li>two mogstored storage nodes: {h1} (device dev{d1}) and {h2} (device
dev{d2});</li>
<li>perlbal's <code>site</code> on {site}, a reverse proxy in front of the demo
app ({demo}) with <code>enable_reproxy</code>; its management console is
on {mgmt}.</li>
</ul>
<h2>Try it</h2>
<pre>
curl -T photo.jpg http://{site}/files/photo.jpg   # store: perlbal, demo app, MogileFS
curl -O http://{site}/files/photo.jpg             # fetch: perlbal reads it from mogstored
curl http://{site}/                               # list the keys
curl http://{site}/md5/photo.jpg                  # a Gearman job
curl -X DELETE http://{site}/files/photo.jpg
</pre>
<p>A download asks the demo app, which answers with no body and
<code>X-REPROXY-URL</code>: the storage nodes' URLs of the file's copies
(cached in memcached for a few seconds). Perlbal then fetches the bytes from
the first node that answers and sends them to you; you never see the
header.</p>
</body>
</html>
"#,
        web = p.web,
        mc = p.memcached,
        gm = p.gearmand,
        tr = p.tracker,
        h1 = s1.http,
        d1 = s1.devid,
        h2 = s2.http,
        d2 = s2.devid,
        site = p.site,
        demo = p.demo,
        mgmt = p.mgmt,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_page_is_kept_and_ours_is_rewritten() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let ports = Ports::new(0).expect("ports");
        let layout = Layout::create(&dir, &ports).expect("layout");
        layout.write_configs(&ports).expect("write");
        let index = layout.www.join("index.html");
        let ours = std::fs::read_to_string(&index).expect("index");
        assert!(ours.starts_with(MARKER));
        assert!(ours.contains("127.0.0.1:8080"));
        let moved = Ports::new(100).expect("ports");
        layout.write_configs(&moved).expect("rewrite");
        let again = std::fs::read_to_string(&index).expect("index");
        assert!(again.contains("127.0.0.1:8180"), "ours follows the ports");
        std::fs::write(&index, "mine").expect("write");
        layout.write_configs(&ports).expect("write");
        assert_eq!(std::fs::read_to_string(&index).expect("index"), "mine");
        let conf = std::fs::read_to_string(&layout.perlbal_conf).expect("conf");
        assert!(conf.contains("SET enable_reproxy = true"));
        assert!(conf.contains("POOL demo_app ADD 127.0.0.1:8090"));
        assert!(layout.docroot("mogstored2").join("dev2").is_dir());
    }
}
