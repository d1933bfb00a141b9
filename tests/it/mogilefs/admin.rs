//! The `!` admin lines on the tracker port, through the real binary.

use std::time::Duration;

use danga_testkit::wait_for;

use super::{admin, call, Cluster};
use crate::wire::read_until;

#[test]
fn mogilefs_admin_version_stats_jobs_recent_want_and_help() {
    let c = Cluster::start(1);
    let mut s = c.conn();
    assert_eq!(admin(&mut s, "!version"), ["2.73"]);
    assert_eq!(call(&mut s, "noop callid=r1"), "OK callid=r1\r\n");
    let stats = admin(&mut s, "!stats");
    for (i, name) in [
        "uptime",
        "pending_queries",
        "processing_queries",
        "bored_queryworkers",
    ]
    .iter()
    .enumerate()
    {
        let (k, v) = stats[i].split_once(' ').expect("name value");
        assert_eq!(k, *name, "{stats:?}");
        v.parse::<u64>().expect("number");
    }
    assert!(stats.contains(&"pending_queries 0".to_owned()), "{stats:?}");
    assert!(
        stats.contains(&"bored_queryworkers 20".to_owned()),
        "{stats:?}"
    );
    let queries: u64 = stats
        .iter()
        .find_map(|l| l.strip_prefix("queries "))
        .expect("queries")
        .parse()
        .expect("n");
    assert!(queries >= 6, "setup and noop counted: {queries}");
    // The rest are sorted by name, as the original prints them.
    let rest: Vec<&String> = stats[4..].iter().collect();
    let mut sorted = rest.clone();
    sorted.sort();
    assert_eq!(rest, sorted);

    let jobs = admin(&mut s, "!jobs");
    let pid = c.tracker.pid().to_string();
    for job in ["delete", "monitor", "queryworker"] {
        assert!(
            jobs.iter().any(|l| l.starts_with(&format!("{job} count "))),
            "{jobs:?}"
        );
    }
    // Commands are the tracker's own tasks; each background job has a
    // process of its own.
    assert!(
        jobs.contains(&format!("queryworker pids {pid}")),
        "{jobs:?}"
    );
    for job in ["delete", "monitor"] {
        let own = jobs
            .iter()
            .find_map(|l| l.strip_prefix(&format!("{job} pids ")))
            .expect("pids line");
        assert!(own.parse::<u32>().is_ok() && own != pid, "{jobs:?}");
    }
    assert!(
        jobs.contains(&"queryworker desired 20".to_owned()),
        "{jobs:?}"
    );

    let recent = admin(&mut s, "!recent");
    let last = recent
        .iter()
        .rev()
        .find(|l| l.starts_with("127.0.0.1 noop callid=r1 "))
        .expect("the noop in !recent");
    let times: Vec<f64> = last
        .rsplitn(3, ' ')
        .take(2)
        .map(|t| t.parse().expect("seconds"))
        .collect();
    assert_eq!(times.len(), 2, "{last}");
    assert!(recent.len() <= 50);

    assert_eq!(
        admin(&mut s, "!want 3 queryworker"),
        ["Now desiring 3 children doing 'queryworker'."]
    );
    // Workers beyond the new level are retired as they come free.
    let fewer = wait_for(Duration::from_secs(5), || {
        admin(&mut s, "!stats").contains(&"bored_queryworkers 3".to_owned())
    });
    assert!(fewer, "{:?}", admin(&mut s, "!stats"));
    assert_eq!(
        admin(&mut s, "!want x"),
        ["ERROR: usage: !want <count> <jobclass>"]
    );
    assert_eq!(admin(&mut s, "!queue"), Vec::<String>::new());

    let help = admin(&mut s, "!bogus");
    assert_eq!(help[0], "Mogilefsd admin commands:");
    assert!(
        help.iter().any(|l| l.starts_with("    !shutdown ")),
        "{help:?}"
    );
    // `!` alone is no admin command: the query workers refuse it.
    assert_eq!(
        call(&mut s, "!"),
        "ERR unknown_command Unknown+server+command\r\n"
    );
    assert_eq!(call(&mut s, "noop"), "OK \r\n");
}

#[test]
fn mogilefs_admin_watch_streams_what_the_monitor_sees() {
    let mut c = Cluster::start(2);
    let mut s = c.conn();
    assert_eq!(admin(&mut s, "!watch"), ["Added you to watcher list."]);
    let port = c.nodes[0].daemon.addr("http").port();
    drop(c.nodes.remove(0));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let want =
        format!("Port {port} not listening on 127.0.0.1 (http://127.0.0.1:{port}/dev1/usage)?");
    let mut seen = String::new();
    let found = wait_for(Duration::from_secs(10), || {
        seen.push_str(&read_until(&mut s, b"\r\n"));
        seen.lines()
            .any(|l| l.starts_with(":: [monitor(") && l.contains(&want))
    });
    assert!(found, "{seen}");
    // Off again: the reply comes (after any messages already on their way).
    use std::io::Write;
    s.write_all(b"!watch\r\n").expect("write");
    let text = read_until(&mut s, b"Removed you from watcher list.\r\n.\r\n");
    assert!(
        text.ends_with("Removed you from watcher list.\r\n.\r\n"),
        "{text}"
    );
    let mut other = c.conn();
    assert_eq!(call(&mut other, "noop"), "OK \r\n");
}

#[test]
fn mogilefs_admin_shutdown_stops_the_tracker() {
    let mut c = Cluster::start(1);
    let mut s = c.conn();
    assert_eq!(admin(&mut s, "!shutdown"), Vec::<String>::new());
    let mut status = None;
    let stopped = wait_for(Duration::from_secs(10), || {
        status = c.tracker.try_exit();
        status.is_some()
    });
    assert!(stopped, "still running: {}", c.tracker.stderr());
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}
