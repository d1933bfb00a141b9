//! Job control as MogileFS-Server 2.73's suite drives it: `!want N <job>`
//! for every background job, `--no-job_master`, the `default` class made
//! real by `update_class`, and the checksum replication stores.

use std::net::TcpStream;
use std::time::Duration;

use danga_testkit::wait_for;

use super::{admin, call, err, md5_hex, ok, store, Cluster};

/// `<job> count N` of `!jobs`.
fn job_count(s: &mut TcpStream, job: &str) -> Option<u64> {
    let prefix = format!("{job} count ");
    admin(s, "!jobs")
        .iter()
        .find_map(|l| l.strip_prefix(&prefix).and_then(|n| n.parse().ok()))
}

fn file_info(s: &mut TcpStream, key: &str) -> super::Args {
    ok(&call(s, &format!("file_info domain=d&key={key}")))
}

#[test]
fn mogilefs_want_pauses_and_resumes_each_background_job() {
    let c = Cluster::start(2);
    let mut s = c.conn();
    for job in [
        "fsck",
        "delete",
        "replicate",
        "reaper",
        "monitor",
        "job_master",
    ] {
        assert_eq!(
            admin(&mut s, &format!("!want 0 {job}")),
            [format!("Now desiring 0 children doing '{job}'.")]
        );
        assert_eq!(job_count(&mut s, job), Some(0), "{job}");
    }
    assert_eq!(
        admin(&mut s, "!want 1 nosuchjob")[0].split('.').next(),
        Some("ERROR: Invalid class 'nosuchjob'")
    );
    for job in ["monitor", "job_master", "reaper", "replicate", "delete"] {
        admin(&mut s, &format!("!want 1 {job}"));
        assert_eq!(job_count(&mut s, job), Some(1), "{job}");
    }

    // With replicate stopped a file stays at one copy; the class wants
    // MD5 and the client sent none.
    assert_eq!(job_count(&mut s, "replicate"), Some(1));
    admin(&mut s, "!want 0 replicate");
    assert!(call(&mut s, "update_class domain=d&class=c&hashtype=MD5").starts_with("OK "));
    let data = b"lazy checksum";
    store(&mut s, "k", data);
    std::thread::sleep(Duration::from_secs(2));
    let info = file_info(&mut s, "k");
    assert_eq!(info.get("devcount"), Some("1"), "{info:?}");
    assert_eq!(info.get("checksum"), Some("MISSING"), "{info:?}");

    // Started again: the second copy comes, and with it the checksum.
    admin(&mut s, "!want 1 replicate");
    let done = wait_for(Duration::from_secs(20), || {
        file_info(&mut s, "k").get("devcount") == Some("2")
    });
    assert!(done, "{:?}", file_info(&mut s, "k"));
    let info = file_info(&mut s, "k");
    let want = format!("MD5:{}", md5_hex(data));
    assert_eq!(info.get("checksum"), Some(want.as_str()), "{info:?}");
}

#[test]
fn mogilefs_no_job_master_holds_delete_replicate_and_fsck() {
    let c = Cluster::with_tracker_on_sqlite(&["--no-job_master"], 2);
    let mut s = c.conn();
    for job in ["delete", "replicate", "fsck", "job_master"] {
        assert_eq!(job_count(&mut s, job), Some(0), "{job}");
    }
    assert_eq!(job_count(&mut s, "monitor"), Some(1));
    store(&mut s, "k", b"one copy only");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(file_info(&mut s, "k").get("devcount"), Some("1"));
    admin(&mut s, "!want 1 job_master");
    for job in ["delete", "replicate", "fsck"] {
        assert_eq!(job_count(&mut s, job), Some(1), "{job}");
    }
    let done = wait_for(Duration::from_secs(20), || {
        file_info(&mut s, "k").get("devcount") == Some("2")
    });
    assert!(done, "{:?}", file_info(&mut s, "k"));
}

#[test]
fn mogilefs_default_class_is_modified_as_classid_0() {
    let c = Cluster::start(0);
    let mut s = c.conn();
    assert_eq!(
        call(&mut s, "create_domain domain=def"),
        "OK domain=def\r\n"
    );
    let r = ok(&call(
        &mut s,
        "update_class domain=def&class=default&mindevcount=3",
    ));
    assert_eq!(r.get("mindevcount"), Some("3"));
    let domains = ok(&call(&mut s, "get_domains"));
    let n = (1..=2)
        .find(|i| domains.get(&format!("domain{i}")) == Some("def"))
        .expect("domain def");
    assert_eq!(domains.get(&format!("domain{n}classes")), Some("1"));
    assert_eq!(
        domains.get(&format!("domain{n}class1name")),
        Some("default")
    );
    assert_eq!(
        domains.get(&format!("domain{n}class1mindevcount")),
        Some("3")
    );
    // Modified again, still one default class; it cannot be deleted, and
    // it does not keep its domain alive.
    ok(&call(
        &mut s,
        "update_class domain=def&class=default&mindevcount=4",
    ));
    let domains = ok(&call(&mut s, "get_domains"));
    assert_eq!(domains.get(&format!("domain{n}classes")), Some("1"));
    assert_eq!(
        err(&call(&mut s, "delete_class domain=def&class=default")),
        "nodel_default_class"
    );
    assert_eq!(
        call(&mut s, "delete_domain domain=def"),
        "OK domain=def\r\n"
    );
    assert_eq!(
        call(&mut s, "create_domain domain=def"),
        "OK domain=def\r\n"
    );
    let domains = ok(&call(&mut s, "get_domains"));
    let n = (1..=2)
        .find(|i| domains.get(&format!("domain{i}")) == Some("def"))
        .expect("domain def");
    assert_eq!(
        domains.get(&format!("domain{n}class1mindevcount")),
        Some("2"),
        "the default class's row went with the old domain"
    );
    // Other classes are not made by update_class.
    assert_eq!(
        err(&call(
            &mut s,
            "update_class domain=def&class=nope&mindevcount=2"
        )),
        "class_not_found"
    );
}
