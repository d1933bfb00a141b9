//! `contrib/install.sh` into a temporary prefix: every daemon, tool and
//! Nagios plugin lands in it and runs, the systemd units point at the
//! prefix, the example configs are installed once and never overwritten;
//! release binaries are under 10 MB each.

use std::path::{Path, PathBuf};
use std::process::Command;

use danga_testkit::{bin_path, require};

pub const DAEMONS: [&str; 5] = ["memcached", "gearmand", "perlbal", "mogilefsd", "mogstored"];
pub const TOOLS: [&str; 13] = [
    "danga",
    "mogadm",
    "memcctl",
    "gearctl",
    "mogupload",
    "mogfetch",
    "mogdelete",
    "mogrename",
    "moglistkeys",
    "mogfileinfo",
    "moglistfids",
    "mogfiledebug",
    "mogstats",
];

pub const PLUGINS: [&str; 4] = [
    "check_memcached",
    "check_gearman",
    "check_perlbal",
    "check_mogilefs",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the installer from `from` into `prefix`; returns its stdout.
fn install(from: &Path, prefix: &Path) -> String {
    let out = Command::new("bash")
        .arg(root().join("contrib/install.sh"))
        .args(["--no-build", "--prefix"])
        .arg(prefix)
        .arg("--from")
        .arg(from)
        .output()
        .expect("run install.sh");
    assert!(
        out.status.success(),
        "install.sh: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check_tree(prefix: &Path) {
    for d in DAEMONS {
        let out = Command::new(prefix.join("bin").join(d))
            .arg("--version")
            .output()
            .expect("run installed daemon");
        assert!(out.status.success(), "{d} --version");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("(danga "),
            "{d}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    for t in TOOLS {
        assert!(prefix.join("bin").join(t).is_file(), "{t}");
    }
    for c in PLUGINS {
        let p = prefix.join("lib/nagios/plugins").join(c);
        let out = Command::new(&p).arg("-V").output().expect("run plugin");
        // Nagios plugins print their version and exit 3 (UNKNOWN), as the
        // monitoring-plugins do.
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with(c),
            "{c} -V: {}",
            out.status
        );
    }
    for d in DAEMONS {
        let unit = std::fs::read_to_string(prefix.join(format!("lib/systemd/system/{d}.service")))
            .expect("unit installed");
        let exec = unit
            .lines()
            .find(|l| l.starts_with("ExecStart="))
            .expect("ExecStart");
        let want = format!("ExecStart={}/bin/{d} ", prefix.display());
        assert!(exec.starts_with(&want), "{exec}");
        assert!(
            !unit.contains("/usr/local/bin/"),
            "{d}: a path left outside the prefix"
        );
    }
    for f in [
        "perlbal/perlbal.conf",
        "mogilefs/mogilefsd.conf",
        "mogilefs/mogstored.conf",
    ] {
        assert!(prefix.join("etc").join(f).is_file(), "{f}");
    }
}

#[test]
fn install_sh_installs_everything_under_a_prefix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let prefix = tmp.path().join("opt");
    let debug = bin_path("memcached").parent().expect("bin dir").to_owned();
    install(&debug, &prefix);
    check_tree(&prefix);
    // A second run keeps an edited config.
    let conf = prefix.join("etc/perlbal/perlbal.conf");
    std::fs::write(&conf, "# mine\n").expect("edit");
    let out = install(&debug, &prefix);
    assert!(out.contains("kept: already there"), "{out}");
    assert_eq!(std::fs::read_to_string(&conf).expect("read"), "# mine\n");
}

#[test]
fn release_binaries_install_under_10_mb_each() {
    let release = root().join("target/release");
    let built = DAEMONS.iter().all(|d| release.join(d).is_file());
    if !require(
        "release binaries (cargo build --release --workspace --exclude danga-fuzz --bins)",
        built,
    ) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let prefix = tmp.path().join("usr");
    install(&release, &prefix);
    check_tree(&prefix);
    let mut sizes = Vec::new();
    for d in DAEMONS.iter().chain(TOOLS.iter()) {
        let len = std::fs::metadata(prefix.join("bin").join(d))
            .expect("stat")
            .len();
        sizes.push((d.to_string(), len));
    }
    for c in PLUGINS {
        let len = std::fs::metadata(prefix.join("lib/nagios/plugins").join(c))
            .expect("stat")
            .len();
        sizes.push((c.to_string(), len));
    }
    let big: Vec<_> = sizes.iter().filter(|(_, l)| *l >= 10 << 20).collect();
    assert!(big.is_empty(), "10 MB or more: {big:?} (all: {sizes:?})");
}
