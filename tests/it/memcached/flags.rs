//! Command-line behaviour: refused options exit non-zero like the
//! original's; `-M` answers out-of-memory instead of evicting; `-C` gives
//! zero CAS uniques; `-F` refuses flush_all.

use std::process::Command;

use danga_testkit::bin_path;

use super::ours;
use crate::wire::{ask, connect};

#[test]
fn unknown_extended_options_and_bad_sizes_exit_non_zero() {
    for args in [
        &["-o", "no_such_option"][..],
        &["-I", "1g2"],
        &["-I", "512"],
        &["-B", "bogus"],
        &["--no-such-flag"],
    ] {
        let out = Command::new(bin_path("memcached"))
            .args(args)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?} must fail");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
    let out = Command::new(bin_path("memcached"))
        .arg("-o")
        .arg("no_such_option")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("Illegal suboption"));
    let out = Command::new(bin_path("memcached"))
        .arg("-h")
        .output()
        .expect("run");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("--memory-limit")
    );
}

#[test]
fn disable_evictions_answers_out_of_memory() {
    let mc = ours(&["-m", "2", "-M"]);
    let mut s = connect(mc.addr);
    let value = "m".repeat(100_000);
    let mut replies = Vec::new();
    for i in 0..40 {
        replies.push(ask(
            &mut s,
            &format!("set k{i} 0 0 {}\r\n{value}\r\n", value.len()),
            "\r\n",
        ));
    }
    assert_eq!(replies[0], "STORED\r\n");
    assert_eq!(
        replies.last().map(String::as_str),
        Some("SERVER_ERROR out of memory storing object\r\n")
    );
    let stats = ask(&mut s, "stats\r\n", "END\r\n");
    assert!(stats.contains("STAT evictions 0\r\n"), "{stats}");
    assert!(
        ask(&mut s, "get k0\r\n", "END\r\n").starts_with("VALUE k0 "),
        "nothing was evicted"
    );
}

#[test]
fn disable_cas_and_flush() {
    let mc = ours(&["-C", "-F"]);
    let mut s = connect(mc.addr);
    assert_eq!(
        ask(&mut s, "set a 0 0 1\r\nx\r\ngets a\r\n", "END\r\n"),
        "STORED\r\nVALUE a 0 1 0\r\nx\r\nEND\r\n"
    );
    assert_eq!(
        ask(&mut s, "flush_all\r\n", "\r\n"),
        "CLIENT_ERROR flush_all not allowed\r\n"
    );
    let settings = ask(&mut s, "stats settings\r\n", "END\r\n");
    assert!(
        settings.contains("STAT cas_enabled no\r\n")
            && settings.contains("STAT flush_enabled no\r\n"),
        "{settings}"
    );
}
