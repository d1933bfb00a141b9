//! What every plugin shares: CRITICAL on a closed port, the -t time limit
//! (CRITICAL by default, or the state given after a colon), and exit 3 for
//! --help, --version and bad arguments.

use std::net::TcpListener;
use std::time::Duration;

use tokio::time::Instant;

use super::{check, closed_port};

const PLUGINS: [(&str, &str); 4] = [
    ("check_memcached", "MEMCACHED"),
    ("check_gearman", "GEARMAN"),
    ("check_perlbal", "PERLBAL"),
    ("check_mogilefs", "MOGILEFS"),
];

#[test]
fn nagios_every_plugin_is_critical_on_a_closed_port() {
    let port = closed_port().to_string();
    for (bin, service) in PLUGINS {
        let r = check(bin, &["-H", "127.0.0.1", "-p", &port]);
        r.expect(2);
        assert_eq!(r.service, service);
        assert!(
            r.text.contains("cannot connect") && r.text.contains(&port),
            "{}",
            r.stdout
        );
        assert!(r.perf.is_empty(), "{}", r.stdout);
    }
}

#[test]
fn nagios_every_plugin_times_out_critical_or_as_told() {
    // Accepts connections (the backlog does) and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port().to_string();
    for (bin, service) in PLUGINS {
        let start = Instant::now();
        let r = check(bin, &["-p", &port, "-t", "1"]);
        let took = start.elapsed();
        r.expect(2);
        assert_eq!(r.service, service);
        assert!(r.text.contains("within 1s"), "{}", r.stdout);
        assert!(took < Duration::from_secs(10), "{bin} took {took:?}");
        check(bin, &["-p", &port, "-t", "1:UNKNOWN"]).expect(3);
        check(bin, &["-p", &port, "-t", "0.5:warning"]).expect(1);
    }
    drop(silent);
}

#[test]
fn nagios_help_version_and_bad_arguments_exit_unknown() {
    for (bin, service) in PLUGINS {
        let out = std::process::Command::new(danga_testkit::bin_path(bin))
            .arg("--help")
            .output()
            .expect("run --help");
        assert_eq!(out.status.code(), Some(3));
        let help = String::from_utf8_lossy(&out.stdout);
        for flag in ["-H", "-p", "-w", "-c", "-t", "-V", "-h", "[@]start:end"] {
            assert!(help.contains(flag), "{bin} --help lacks {flag}:\n{help}");
        }
        let out = std::process::Command::new(danga_testkit::bin_path(bin))
            .arg("-V")
            .output()
            .expect("run -V");
        assert_eq!(out.status.code(), Some(3));
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with(&format!("{bin} ")),
            "{bin} -V"
        );
        for bad in [
            vec!["--no-such-flag"],
            vec!["-w", "20:10"],
            vec!["-c", "abc"],
            vec!["-t", "0"],
            vec!["-t", "5:SOMETIMES"],
            vec!["-p", "99999"],
        ] {
            let r = check(bin, &bad);
            r.expect(3);
            assert_eq!(r.service, service);
            assert!(r.text.starts_with("invalid arguments"), "{}", r.stdout);
        }
    }
}
