//! mogadm against the real tracker and storage nodes: a cluster built from
//! nothing, its listings and check, device states, errors and exit codes,
//! tracker failover and the configuration file.

use super::{dead_addr, tool, Bare};

#[test]
fn mogadm_builds_a_cluster_from_nothing_and_checks_it() {
    let c = Bare::start(2);
    // Nothing registered yet: check finds the tracker but no host to check.
    let empty = c.mogadm(&["check"]);
    assert!(
        empty
            .stdout
            .contains(&format!("  {} ... OK\n", c.tracker_addr())),
        "{empty:?}"
    );
    assert!(empty.failed().contains("No devices found on tracker(s)."));

    c.setup_with_mogadm();
    // Quiet on success unless --verbose.
    let v = tool(
        c.home.path(),
        "mogadm",
        &[&c.trackers(), "--verbose", "domain", "add", "other"],
    );
    assert_eq!(v.ok(), "Domain created.\n");

    let hosts = c.mogadm(&["host", "list"]);
    assert_eq!(
        hosts.ok(),
        format!(
            "s0 [1]: alive\n  IP:       127.0.0.1:{}\n\ns1 [2]: alive\n  IP:       127.0.0.1:{}\n\n",
            c.http_port(0),
            c.http_port(1)
        )
    );

    let domains = c.mogadm(&["domain", "list"]);
    let lines: Vec<&str> = domains.ok().lines().collect();
    assert_eq!(
        lines[0],
        " domain               class                mindevcount   replpolicy   hashtype"
    );
    assert_eq!(
        lines[1],
        "-------------------- -------------------- ------------- ------------ -------"
    );
    assert!(
        lines[2].starts_with(" d                    c                         2        "),
        "{lines:?}"
    );
    assert!(lines[3].starts_with(" d                    default                   2        "));
    assert_eq!(lines[4], "");
    assert!(lines[5].starts_with(" other                default   "));
    assert_eq!(c.mogadm(&["class", "list"]).ok(), domains.stdout);

    let devices = c.mogadm(&["device", "list"]);
    let text = devices.ok();
    assert!(
        text.starts_with(
            "s0 [1]: alive\n                   used(G) free(G) total(G)\n  dev1: alive      "
        ),
        "{text}"
    );
    for d in 1..=4 {
        assert!(text.contains(&format!("  dev{d}: alive      ")), "{text}");
    }
    let summary = c.mogadm(&["device", "summary"]);
    let lines: Vec<&str> = summary.ok().lines().collect();
    assert_eq!(
        lines[0],
        "Hostname        HostID  Status   used(G)  free(G) total(G)    %Used"
    );
    assert!(
        lines[1].starts_with("s0              [   1]:  alive  "),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with("s1              [   2]:  alive  "),
        "{lines:?}"
    );

    let check = c.mogadm(&["check"]);
    let text = check.ok();
    let expect_head = format!(
        "Checking trackers...\n  {} ... OK\n\nChecking hosts...\n  [ 1] s0 ... OK\n  [ 2] s1 ... OK\n\nChecking devices...\n  host device         size(G)    used(G)    free(G)   use%   ob state   I/O%\n  ---- ------------ ---------- ---------- ---------- ------ ---------- -----\n",
        c.tracker_addr()
    );
    assert!(text.starts_with(&expect_head), "{text}");
    for (host, dev) in [(1, 1), (1, 2), (2, 3), (2, 4)] {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("  [ {host}] dev{dev}    ")))
            .unwrap_or_else(|| panic!("dev{dev} in {text}"));
        // size, used, free, use% then the observed state and I/O%.
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.len(), 9, "{line}");
        assert!(cols[3].parse::<f64>().is_ok_and(|gb| gb > 0.0), "{line}");
        assert!(cols[6].ends_with('%'), "{line}");
    }
    assert!(text.contains(
        "  ---- ------------ ---------- ---------- ---------- ------\n             total:"
    ));
    assert!(!text.contains("FAILURE"), "{text}");

    // A dead device: gone from the listing and the check, back with --all,
    // and it cannot come back to life.
    let mark = c.mogadm(&["device", "mark", "s0", "2", "dead"]);
    assert_eq!(
        mark.ok(),
        "***NOTE***: As of server version 2.40 'drain' has changed. See docs/wiki\n"
    );
    assert!(!c.mogadm(&["device", "list"]).ok().contains("dev2:"));
    assert!(c
        .mogadm(&["device", "list", "--all"])
        .ok()
        .contains("  dev2: dead       "));
    assert!(!c.mogadm(&["check"]).ok().contains("dev2"));
    let revive = c.mogadm(&["device", "mark", "s0", "dev2", "alive"]);
    assert!(
        revive
            .failed()
            .starts_with("Error updating device: state_too_high"),
        "{revive:?}"
    );
    let summary = c.mogadm(&["device", "summary", "--status=dead"]);
    assert!(summary
        .ok()
        .lines()
        .nth(1)
        .is_some_and(|l| l.starts_with("s0 ")));

    // Other states and weights through modify.
    c.mogadm(&[
        "device",
        "modify",
        "s1",
        "3",
        "--status=readonly",
        "--weight=10",
    ])
    .ok();
    assert!(c
        .mogadm(&["device", "list"])
        .ok()
        .contains("  dev3: readonly   "));

    // A host marked down is skipped by the check.
    c.mogadm(&["host", "mark", "s1", "down"]).ok();
    let check = c.mogadm(&["check"]);
    assert!(
        check
            .ok()
            .contains("  [ 2] s1 ... skipping; status = down\n"),
        "{check:?}"
    );
    c.mogadm(&["host", "modify", "s1", "--status=alive", "--getport=7600"])
        .ok();
    assert!(c
        .mogadm(&["host", "list"])
        .ok()
        .contains("s1 [2]: alive\n  IP:       127.0.0.1:"));
    assert!(c
        .mogadm(&["host", "list"])
        .ok()
        .contains("  GET Port: 7600\n"));

    // Deleting needs an empty host / domain without classes.
    let busy = c.mogadm(&["host", "delete", "s1"]);
    assert!(
        busy.failed()
            .starts_with("Failure deleting host: host_not_empty"),
        "{busy:?}"
    );
    c.mogadm(&["class", "modify", "d", "c", "--mindevcount=3"])
        .ok();
    assert!(c
        .mogadm(&["class", "list"])
        .ok()
        .contains(" d                    c                         3        "));
    c.mogadm(&["class", "delete", "d", "c"]).ok();
    c.mogadm(&["domain", "delete", "other"]).ok();
    assert!(!c.mogadm(&["domain", "list"]).ok().contains(" other "));
}

#[test]
fn mogadm_usage_errors_and_exit_codes() {
    let c = Bare::start(1);
    c.setup_with_mogadm();
    let none = tool(c.home.path(), "mogadm", &[&c.trackers()]);
    assert_eq!(none.code, 1);
    assert!(none
        .stdout
        .starts_with("Usage:  (enter any command prefix, leaving off options, for further help)\n\n  mogadm check                     Check the state of the MogileFS world.\n"));
    let host = c.mogadm(&["host"]);
    assert_eq!(host.code, 1);
    assert!(host
        .stdout
        .starts_with("Help for 'host' command:\n (enter any command prefix"));
    let missing = c.mogadm(&["device", "add", "s0"]);
    assert_eq!(missing.code, 1);
    assert!(missing
        .stdout
        .starts_with("\nERROR: Missing argument 'devid'\n\nHelp for 'device-add' command:\n"));
    let bogus = c.mogadm(&["device", "add", "s0", "9", "--bogus"]);
    assert_eq!(bogus.code, 1);
    assert_eq!(bogus.stderr, "Unknown option: bogus\n");
    assert!(bogus
        .stdout
        .contains("      --status=s           One of 'alive' or 'down'."));
    let numeric = c.mogadm(&["device", "add", "s0", "x9"]);
    assert!(numeric.stdout.contains("ERROR: devid should be numeric"));

    let again = c.mogadm(&["domain", "add", "d"]);
    assert_eq!(
        again.failed(),
        "Error creating domain: domain_exists That domain already exists\n"
    );
    let dup = c.mogadm(&["host", "add", "s0", "--ip=127.0.0.1", "--port=1"]);
    assert_eq!(dup.failed(), "Host already exists.\n");
    let gone = c.mogadm(&["domain", "delete", "nosuch"]);
    assert!(gone
        .failed()
        .starts_with("Error deleting domain: domain_not_found"));
    let nodev = c.mogadm(&["device", "add", "nohost", "9"]);
    assert!(nodev
        .failed()
        .starts_with("Error adding device: unknown_host"));
    let stats = c.mogadm(&["stats"]);
    assert_eq!(
        stats.failed(),
        "mogadm stats is deprecated by new 'mogstats' utility\n"
    );
    let v = tool(c.home.path(), "mogadm", &["--version"]);
    assert!(v.ok().starts_with("mogadm 2.30 (danga "));

    // No tracker answers.
    let down = tool(
        c.home.path(),
        "mogadm",
        &[&format!("--trackers={}", dead_addr()), "domain", "list"],
    );
    assert_eq!(
        down.failed(),
        "Unable to retrieve domains from tracker(s).\n\n"
    );
}

#[test]
fn mogadm_fails_over_between_trackers_and_reads_its_config() {
    let c = Bare::start(1);
    c.setup_with_mogadm();
    let dead = dead_addr();
    let both = format!("--trackers={dead},{}", c.tracker_addr());
    // The start tracker is random: several runs meet the dead one first.
    for i in 0..6 {
        let name = format!("dom{i}");
        tool(c.home.path(), "mogadm", &[&both, "domain", "add", &name]).ok();
    }
    let check = tool(c.home.path(), "mogadm", &[&both, "check"]);
    let text = check.ok();
    assert!(
        text.starts_with(&format!(
            "Checking trackers...\n  {dead} ... REQUEST FAILURE (is the tracker up?)\n  {} ... OK\n",
            c.tracker_addr()
        )),
        "{text}"
    );
    assert!(text.contains("  [ 1] s0 ... OK\n"));

    // trackers = from ~/.mogilefs.conf, then from --config (which wins).
    std::fs::write(
        c.home.path().join(".mogilefs.conf"),
        format!("# the test cluster\ntrackers = {}\n", c.tracker_addr()),
    )
    .expect("write conf");
    let listed = tool(c.home.path(), "mogadm", &["domain", "list"]);
    assert!(listed.ok().contains(" dom5 "));
    let other = c.home.path().join("other.conf");
    std::fs::write(&other, format!("trackers = {dead}\n")).expect("write conf");
    let cfg = format!("--config={}", other.display());
    let via_config = tool(c.home.path(), "mogadm", &[&cfg, "domain", "list"]);
    assert_eq!(
        via_config.failed(),
        "Unable to retrieve domains from tracker(s).\n\n"
    );
}

#[test]
fn mogadm_settings_list_and_set() {
    let c = Bare::start(1);
    c.mogadm(&["settings", "set", "memcache_servers", "127.0.0.1:11211"])
        .ok();
    c.mogadm(&["settings", "set", "memcache_ttl", "60"]).ok();
    c.mogadm(&["settings", "set", "rebalance_policy", "from_hosts=1"])
        .failed();
    let listed = c.mogadm(&["settings", "list"]);
    let text = listed.ok();
    assert!(
        text.contains("         memcache_servers = 127.0.0.1:11211\n"),
        "{text}"
    );
    assert!(text.contains("             memcache_ttl = 60\n"), "{text}");
    // Listed sorted, rebal* hidden, every line `%25s = value`.
    let keys: Vec<&str> = text
        .lines()
        .map(|l| l.split(" = ").next().unwrap_or("").trim_start())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);
    assert!(text.lines().all(|l| l.find(" = ") == Some(25)), "{text}");
    let bad = c.mogadm(&["settings", "set", "memcache_ttl", "soon"]);
    assert!(bad.failed().starts_with("invalid_format"), "{bad:?}");
    let locked = c.mogadm(&["settings", "set", "schema_version", "1"]);
    assert!(locked.failed().starts_with("not_writable"), "{locked:?}");
    let missing = c.mogadm(&["settings", "set", "memcache_ttl"]);
    assert!(missing.stdout.contains("ERROR: Missing argument 'value'"));
}

#[test]
fn mogadm_fsck_and_rebalance_verbs() {
    use danga_testkit::wait_for;
    use std::time::Duration;
    let c = Bare::start(2);
    c.setup_with_mogadm();
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("f");
    std::fs::write(&file, b"checked by fsck").expect("write");
    let file = format!("--file={}", file.display());
    c.file_tool("mogupload", &["--key=k", "--class=c", &file])
        .ok();

    c.mogadm(&["fsck", "stop"]).ok();
    c.mogadm(&["fsck", "clearlog"]).ok();
    c.mogadm(&["fsck", "reset", "--startpos=0"]).ok();
    c.mogadm(&["fsck", "start"]).ok();
    let mut text = String::new();
    let done = wait_for(Duration::from_secs(30), || {
        text = c.mogadm(&["fsck", "status"]).ok().to_owned();
        text.contains("    Running: No\n")
    });
    assert!(done, "{text}");
    assert!(text.contains("     Status: 1 / 1 (100.00%)\n"), "{text}");
    assert!(
        text.contains(" Check Type: Normal (check policy + files)\n"),
        "{text}"
    );
    let log = c.mogadm(&["fsck", "printlog"]);
    assert!(
        log.ok()
            .starts_with("unixtime             event           fid      devid\n"),
        "{log:?}"
    );
    let again = c.mogadm(&["fsck", "start"]);
    again.ok();
    let twice = c.mogadm(&["fsck", "start"]);
    // Either still running (refused) or already done (started afresh).
    assert!(
        twice.code == 0 || twice.failed().starts_with("fsck_running"),
        "{twice:?}"
    );

    c.mogadm(&[
        "rebalance",
        "policy",
        "--options=from_devices=1 leave_in_drain_mode=1",
    ])
    .ok();
    let test = c.mogadm(&["rebalance", "test"]);
    let t = test.ok();
    assert!(
        t.starts_with(
            "Tested rebalance policy...\nPolicy: from_devices=1 leave_in_drain_mode=1\n\nSource devices:\n - 1\nDestination devices:\n"
        ),
        "{t}"
    );
    let bad = c.mogadm(&["rebalance", "policy", "--options=nonsense=1"]);
    assert!(bad.failed().starts_with("bad_rebal_pol"), "{bad:?}");
    let stop = c.mogadm(&["rebalance", "stop"]);
    assert!(stop.failed().starts_with("rebal_not_started"), "{stop:?}");
}

#[test]
fn mogadm_slave_list_add_modify_delete() {
    let c = Bare::start(0);
    assert_eq!(c.mogadm(&["slave", "list"]).ok(), "");
    let verbose = |args: &[&str]| {
        let mut all = vec!["--verbose"];
        all.extend_from_slice(args);
        c.mogadm(&all)
    };
    assert_eq!(
        verbose(&[
            "slave",
            "add",
            "s2",
            "--dsn=DBI:mysql:mfs:host=b",
            "--username=mog"
        ])
        .ok(),
        "Slave added\n"
    );
    c.mogadm(&[
        "slave",
        "add",
        "s1",
        "--dsn=DBI:mysql:mfs:host=a",
        "--username=u",
        "--password=p",
    ])
    .ok();
    assert_eq!(
        c.mogadm(&["slave", "add", "s1", "--dsn=x"]).failed(),
        "Slave failed to be added\n"
    );
    assert_eq!(
        c.mogadm(&["slave", "list"]).ok(),
        "s1 --dsn=DBI:mysql:mfs:host=a --username=u --password=p\n\
         s2 --dsn=DBI:mysql:mfs:host=b --username=mog --password=\n"
    );
    // Kept as the original's MogileFS::Admin keeps them.
    let settings = c.mogadm(&["settings", "list"]);
    let text = settings.ok();
    assert!(
        text.contains("               slave_keys = s2,s1\n"),
        "{text}"
    );
    assert!(
        text.contains("                 slave_s2 = DBI:mysql:mfs:host=b|mog|\n"),
        "{text}"
    );

    assert_eq!(
        verbose(&["slave", "modify", "s2", "--password=secret"]).ok(),
        "Slave modify success\n"
    );
    assert_eq!(
        c.mogadm(&["slave", "modify", "nope", "--password=x"])
            .failed(),
        "Slave modify failure: \n"
    );
    assert_eq!(verbose(&["slave", "delete", "s1"]).ok(), "Slave deleted\n");
    assert_eq!(
        c.mogadm(&["slave", "delete", "s1"]).failed(),
        "Slave delete failed\n"
    );
    assert_eq!(
        c.mogadm(&["slave", "list"]).ok(),
        "s2 --dsn=DBI:mysql:mfs:host=b --username=mog --password=secret\n"
    );
    let usage = c.mogadm(&["slave", "add"]);
    assert!(
        usage.stdout.contains("ERROR: Missing argument 'slave_key'"),
        "{usage:?}"
    );
}
