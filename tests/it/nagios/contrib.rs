//! contrib/: the systemd units and the example configs, checked so they
//! cannot rot. Each unit is a foreground service that restarts on failure
//! with a file limit and a user; `systemd-analyze verify` accepts it; and
//! its ExecStart (ports moved to ephemeral ones, the example config in
//! place of /etc) really starts the daemon, which then answers. The example
//! perlbal.conf is also loaded by Debian's Perlbal 1.80, so it stays in the
//! original's language.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use danga_testkit::{bin_path, have_command, require, wait_for, Daemon, Spawn};
use nix::sys::signal::Signal;

use crate::perlbal::console;
use crate::version::stops_cleanly;
use crate::wire::{ask_once, read_until};

const UNITS: [&str; 5] = ["memcached", "gearmand", "perlbal", "mogilefsd", "mogstored"];

fn contrib(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(rel)
}

/// A unit file's `Key=Value` lines (sections flattened; keys may repeat).
fn unit(name: &str) -> Vec<(String, String)> {
    let path = contrib(&format!("systemd/{name}.service"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("{name}: {l:?}"));
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

fn key<'a>(u: &'a [(String, String)], k: &str) -> Option<&'a str> {
    u.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

#[test]
fn contrib_units_are_foreground_services_that_restart() {
    for name in UNITS {
        let u = unit(name);
        assert_eq!(key(&u, "Type"), Some("simple"), "{name}");
        assert_eq!(key(&u, "Restart"), Some("on-failure"), "{name}");
        let nofile: u64 = key(&u, "LimitNOFILE")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name}: LimitNOFILE"));
        assert!(nofile >= 4096, "{name}: LimitNOFILE {nofile}");
        let user = key(&u, "User").unwrap_or_else(|| panic!("{name}: User="));
        assert!(!user.is_empty() && user != "root", "{name}: User={user}");
        assert_eq!(key(&u, "WantedBy"), Some("multi-user.target"), "{name}");
        let exec = key(&u, "ExecStart").unwrap_or_else(|| panic!("{name}: ExecStart"));
        let argv: Vec<&str> = exec.split_whitespace().collect();
        assert_eq!(argv[0], format!("/usr/local/bin/{name}"));
        for fork in ["-d", "--daemon", "-D", "--daemonize"] {
            assert!(!argv.contains(&fork), "{name} must stay in the foreground");
        }
        // Only gearmand writes a log file (-l); SIGHUP reopens it.
        let reload = key(&u, "ExecReload");
        if name == "gearmand" {
            assert_eq!(reload, Some("/bin/kill -HUP $MAINPID"));
            let log = argv[argv.iter().position(|a| *a == "-l").expect("-l") + 1];
            let dir = key(&u, "LogsDirectory").expect("LogsDirectory");
            assert!(log.starts_with(&format!("/var/log/{dir}/")), "{log}");
        } else {
            assert_eq!(reload, None, "{name} logs to the journal");
        }
    }
}

#[test]
fn contrib_units_pass_systemd_analyze_verify() {
    if !require(
        "systemd-analyze (Debian's systemd)",
        have_command("systemd-analyze"),
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for name in UNITS {
        let text =
            std::fs::read_to_string(contrib(&format!("systemd/{name}.service"))).expect("unit");
        // The built binary in place of the installed one, which verify
        // checks is executable.
        let text = text.replace(
            &format!("/usr/local/bin/{name} "),
            &format!("{} ", bin_path(name).display()),
        );
        let path = dir.path().join(format!("{name}.service"));
        std::fs::write(&path, text).expect("write unit");
        files.push(path);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&files)
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
}

/// ExecStart's arguments with the values of `flags` replaced (both
/// `-f value` and `--flag=value` forms); every flag must be there.
fn exec_args(name: &str, flags: &[(&str, String)]) -> Vec<String> {
    let u = unit(name);
    let exec = key(&u, "ExecStart").expect("ExecStart");
    let mut args: Vec<String> = exec.split_whitespace().skip(1).map(str::to_owned).collect();
    for (flag, value) in flags {
        let at = args
            .iter()
            .position(|a| a == flag || a.starts_with(&format!("{flag}=")))
            .unwrap_or_else(|| panic!("{name}: no {flag} in {exec}"));
        if args[at] == *flag {
            args[at + 1] = value.clone();
        } else {
            args[at] = format!("{flag}={value}");
        }
    }
    args
}

/// `key = value` config text with `values` put in (keys must exist).
fn with_values(text: &str, values: &[(&str, String)]) -> String {
    let mut found = BTreeMap::new();
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            let t = l.trim_start();
            for (k, v) in values {
                if !t.starts_with('#') && t.split_once('=').is_some_and(|(key, _)| key.trim() == *k)
                {
                    found.insert(*k, ());
                    return format!("{k} = {v}");
                }
            }
            l.to_owned()
        })
        .collect();
    for (k, _) in values {
        assert!(found.contains_key(k), "the example sets no {k}");
    }
    out.join("\n") + "\n"
}

/// The example perlbal.conf with each `SET listen` taken from `listen` in
/// turn and the docroot replaced.
fn perlbal_conf(listen: &mut dyn FnMut() -> String, docroot: &Path) -> String {
    let text = std::fs::read_to_string(contrib("conf/perlbal.conf")).expect("perlbal.conf");
    let (mut listens, mut docroots) = (0, 0);
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            let lower = l.trim().to_ascii_lowercase();
            let key = lower
                .strip_prefix("set ")
                .and_then(|r| r.split_once('='))
                .map(|(k, _)| k.trim().to_owned());
            match key.as_deref() {
                Some("listen") => {
                    listens += 1;
                    format!("  SET listen = {}", listen())
                }
                Some("docroot") => {
                    docroots += 1;
                    format!("  SET docroot = {}", docroot.display())
                }
                _ => l.to_owned(),
            }
        })
        .collect();
    assert_eq!(
        (listens, docroots),
        (3, 1),
        "three services, one web server"
    );
    out.join("\n") + "\n"
}

fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

#[test]
fn contrib_perlbal_conf_loads_in_the_original_perlbal() {
    const ORIGINAL: &str = "/usr/bin/perlbal";
    if !require(
        "Debian's perlbal (/usr/bin/perlbal)",
        have_command(ORIGINAL),
    ) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut addrs = Vec::new();
    let conf = perlbal_conf(
        &mut || {
            let a = free_addr();
            addrs.push(a);
            a.to_string()
        },
        dir.path(),
    );
    let path = dir.path().join("perlbal.conf");
    std::fs::write(&path, conf).expect("conf");
    let d = Spawn::external(ORIGINAL)
        .arg(format!("--config={}", path.display()))
        .start();
    let mgmt = addrs[2];
    assert!(
        wait_for(Duration::from_secs(20), || TcpStream::connect(mgmt).is_ok()),
        "Perlbal 1.80 did not start with the example: {}",
        d.stderr()
    );
    let services = console(mgmt, "SHOW SERVICE");
    for (svc, addr) in ["balancer", "static", "mgmt"].iter().zip(&addrs) {
        assert!(
            services.contains(&format!("{svc} {addr} ENABLED")),
            "{services}"
        );
    }
}

/// Starts `name` from its unit's ExecStart with `flags` replaced.
fn start_unit(name: &str, flags: &[(&str, String)]) -> Daemon {
    Spawn::new(name).args(exec_args(name, flags)).start()
}

#[test]
fn contrib_units_start_each_daemon_with_its_flags_and_example_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tmp = |f: &str| dir.path().join(f).display().to_string();

    let d = start_unit(
        "memcached",
        &[("-p", "-1".into()), ("-l", "127.0.0.1".into())],
    );
    let reply = ask_once(d.addr("memcached"), "stats settings\r\n", "END\r\n");
    for want in ["STAT maxbytes 67108864\r\n", "STAT maxconns 1024\r\n"] {
        assert!(reply.contains(want), "{reply}");
    }
    stops_cleanly(d);

    // gearmand, and the ExecReload promise: SIGHUP reopens the log file.
    let log = tmp("gearmand.log");
    let d = start_unit(
        "gearmand",
        &[
            ("-p", "0".into()),
            ("-L", "127.0.0.1".into()),
            ("-l", log.clone()),
        ],
    );
    assert!(ask_once(d.addr("gearmand"), "version\n", "\n").starts_with("OK "));
    assert!(Path::new(&log).is_file(), "gearmand opened {log}");
    std::fs::rename(&log, format!("{log}.1")).expect("rotate");
    d.signal(Signal::SIGHUP);
    assert!(
        wait_for(Duration::from_secs(10), || Path::new(&log).is_file()),
        "no new log file after SIGHUP"
    );
    assert!(ask_once(d.addr("gearmand"), "version\n", "\n").starts_with("OK "));
    stops_cleanly(d);

    // mogilefsd with the example mogilefsd.conf (SQLite instead of MySQL).
    let text = std::fs::read_to_string(contrib("conf/mogilefsd.conf")).expect("example");
    let conf = with_values(
        &text,
        &[
            ("listen", "127.0.0.1:0".into()),
            (
                "db_dsn",
                format!("DBI:SQLite:dbname={}", tmp("mogilefs.sqlite3")),
            ),
        ],
    );
    std::fs::write(tmp("mogilefsd.conf"), conf).expect("write");
    let d = start_unit("mogilefsd", &[("--config", tmp("mogilefsd.conf"))]);
    assert_eq!(ask_once(d.addr("mogilefsd"), "noop\r\n", "\r\n"), "OK \r\n");
    stops_cleanly(d);

    // mogstored with the example mogstored.conf.
    let docroot = tmp("mogdata");
    std::fs::create_dir_all(format!("{docroot}/dev1")).expect("dev1");
    let text = std::fs::read_to_string(contrib("conf/mogstored.conf")).expect("example");
    let conf = with_values(
        &text,
        &[
            ("httplisten", "127.0.0.1:0".into()),
            ("mgmtlisten", "127.0.0.1:0".into()),
            ("docroot", docroot.clone()),
        ],
    );
    std::fs::write(tmp("mogstored.conf"), conf).expect("write");
    let d = start_unit("mogstored", &[("--config", tmp("mogstored.conf"))]);
    std::fs::write(format!("{docroot}/dev1/hello.txt"), "hi").expect("file");
    let mut s = crate::wire::connect(d.addr("http"));
    s.write_all(b"GET /dev1/hello.txt HTTP/1.0\r\n\r\n")
        .expect("get");
    let reply = read_until(&mut s, b"hi");
    assert!(
        reply.starts_with("HTTP/1.") && reply.contains(" 200 "),
        "{reply}"
    );
    stops_cleanly(d);

    // perlbal with the example perlbal.conf.
    let web = tmp("www");
    std::fs::create_dir_all(&web).expect("docroot");
    let conf = perlbal_conf(&mut || "127.0.0.1:0".to_owned(), Path::new(&web));
    std::fs::write(tmp("perlbal.conf"), conf).expect("write");
    let d = start_unit("perlbal", &[("--config", tmp("perlbal.conf"))]);
    let services = console(d.addr("mgmt"), "SHOW SERVICE");
    for svc in ["balancer", "static", "mgmt"] {
        assert!(
            services
                .lines()
                .any(|l| l.starts_with(&format!("{svc} 127.0.0.1:")) && l.ends_with(" ENABLED")),
            "{services}"
        );
    }
    std::fs::write(format!("{web}/index.html"), "static hello").expect("index");
    let mut s = crate::wire::connect(d.addr("static"));
    s.write_all(b"GET / HTTP/1.0\r\nHost: t\r\n\r\n")
        .expect("get");
    let reply = read_until(&mut s, b"static hello");
    assert!(reply.starts_with("HTTP/1.0 200"), "{reply}");
    stops_cleanly(d);
}
