//! The file tools through the real binaries: a 10 MB file up and back
//! byte for byte, standard input and output, listing, renaming, deleting,
//! the progress bar on a terminal (a pty from `script`) and its silence
//! otherwise, failover between trackers and between storage nodes.

use std::process::Command;

use danga_testkit::{bin_path, have_command, require};

use super::{dead_addr, run, Bare};

/// Deterministic bytes that do not repeat on a short period.
fn payload(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn mogtools_ten_megabytes_round_trip_quietly() {
    let c = Bare::start(2);
    c.setup_with_mogadm();
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("in.bin");
    let data = payload(10 << 20);
    std::fs::write(&src, &data).expect("write");
    let file = format!("--file={}", src.display());

    let up = c.file_tool("mogupload", &["--key=big/file", "--class=c", &file]);
    assert_eq!(up.ok(), "");
    assert_eq!(up.stderr, "", "no progress bar without a terminal");

    let dst = dir.path().join("out.bin");
    let out = format!("--file={}", dst.display());
    let down = c.file_tool("mogfetch", &["--key=big/file", &out]);
    assert_eq!(down.ok(), "");
    assert_eq!(down.stderr, "");
    assert!(
        std::fs::read(&dst).expect("fetched") == data,
        "the copy differs"
    );

    let info = c.file_tool("mogfileinfo", &["--key=big/file"]);
    let text = info.ok();
    assert!(text.starts_with("- file: big/file\n"), "{text}");
    assert!(
        text.contains("\n     class:                    c\n"),
        "{text}"
    );
    assert!(
        text.contains("\n    domain:                    d\n"),
        "{text}"
    );
    assert!(
        text.contains("\n    length:             10485760\n"),
        "{text}"
    );
    let urls: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix(" - ")).collect();
    assert!(
        !urls.is_empty() && urls.iter().all(|u| u.starts_with("http://127.0.0.1:")),
        "{text}"
    );

    c.file_tool("mogupload", &["--key=big/other", &file]).ok();
    c.file_tool("mogupload", &["--key=small", &file]).ok();
    let keys = c.file_tool("moglistkeys", &["--key_prefix=big/"]);
    assert_eq!(keys.ok(), "big/file\nbig/other\n");
    let all = c.file_tool("moglistkeys", &[]);
    assert_eq!(all.ok(), "big/file\nbig/other\nsmall\n");
    let none = c.file_tool("moglistkeys", &["--key_prefix=zzz"]);
    assert!(none.failed().starts_with("Error listing files: none_match"));

    c.file_tool("mogrename", &["--old_key=small", "--new_key=renamed"])
        .ok();
    c.file_tool("mogrename", &["--old-key=renamed", "--new-key=big/third"])
        .ok();
    let clash = c.file_tool("mogrename", &["--old_key=big/third", "--new_key=big/file"]);
    assert!(clash.failed().contains("key_exists"), "{clash:?}");
    assert_eq!(
        c.file_tool("moglistkeys", &["--key_prefix=big/"]).ok(),
        "big/file\nbig/other\nbig/third\n"
    );

    c.file_tool("mogdelete", &["--key=big/third"]).ok();
    let again = c.file_tool("mogdelete", &["--key=big/third"]);
    assert!(again
        .failed()
        .starts_with("Error deleting file: unknown_key"));
    let lost = c.file_tool("mogfetch", &["--key=big/third", &out]);
    assert!(
        lost.failed()
            .starts_with("Error fetching file: unknown_key"),
        "{lost:?}"
    );
    let unknown = c.file_tool("mogfileinfo", &["--key=big/third"]);
    assert!(unknown
        .failed()
        .starts_with("Error fetching file info: unknown_key"));
    let missing = c.file_tool("mogupload", &["--key=x", "--file=/nonexistent/file"]);
    assert!(missing
        .failed()
        .starts_with("Could not open /nonexistent/file"));
}

#[test]
fn mogtools_standard_input_and_output() {
    let c = Bare::start(1);
    c.setup_with_mogadm();
    let data = payload(300_000);
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("in.bin");
    std::fs::write(&src, &data).expect("write");
    let t = c.trackers();
    let up = run(Command::new(bin_path("mogupload"))
        .args([t.as_str(), "--domain=d", "--key=piped", "--file=-"])
        .env("HOME", c.home.path())
        .stdin(std::fs::File::open(&src).expect("open")));
    assert_eq!(up.code, 0, "{up:?}");
    let mut cmd = Command::new(bin_path("mogfetch"));
    cmd.args([t.as_str(), "--domain=d", "--key=piped", "--file=-"])
        .env("HOME", c.home.path());
    let out = cmd.output().expect("mogfetch");
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout == data, "stdout differs");
    // Domain and trackers from MOGUTILSCONF.
    let conf = dir.path().join("utils.conf");
    std::fs::write(
        &conf,
        format!("trackers = {}\ndomain = d\n", c.tracker_addr()),
    )
    .expect("conf");
    let listed = Command::new(bin_path("moglistkeys"))
        .env("HOME", c.home.path())
        .env("MOGUTILSCONF", &conf)
        .output()
        .expect("moglistkeys");
    assert_eq!(String::from_utf8_lossy(&listed.stdout), "piped\n");
}

/// Runs `cmd` under a pseudo-terminal (util-linux `script`): what the
/// terminal showed.
fn on_terminal(home: &std::path::Path, cmd: &str) -> String {
    let out = Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .env("HOME", home)
        .env("TERM", "xterm")
        .output()
        .expect("script");
    assert!(out.status.success(), "{cmd}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn mogtools_progress_bar_only_on_a_terminal() {
    if !require("script (util-linux)", have_command("script")) {
        return;
    }
    let c = Bare::start(1);
    c.setup_with_mogadm();
    let dir = tempfile::tempdir().expect("dir");
    let big = dir.path().join("big.bin");
    let small = dir.path().join("small.bin");
    std::fs::write(&big, payload(10 << 20)).expect("write");
    std::fs::write(&small, payload(100_000)).expect("write");
    let base = format!(
        "{} {} --domain=d",
        bin_path("mogupload").display(),
        c.trackers()
    );

    let shown = on_terminal(
        c.home.path(),
        &format!("{base} --key=big --file={}", big.display()),
    );
    assert!(shown.contains("big ["), "{shown:?}");
    assert!(
        shown.contains("10.00 MiB/10.00 MiB"),
        "the finished bar: {shown:?}"
    );
    let fetch = format!(
        "{} {} --domain=d --key=big --file={}",
        bin_path("mogfetch").display(),
        c.trackers(),
        dir.path().join("copy.bin").display()
    );
    let shown = on_terminal(c.home.path(), &fetch);
    assert!(shown.contains("10.00 MiB/10.00 MiB"), "{shown:?}");
    assert!(
        std::fs::read(dir.path().join("copy.bin")).expect("copy")
            == std::fs::read(&big).expect("big")
    );

    // A small file shows nothing, even on a terminal.
    let quiet = on_terminal(
        c.home.path(),
        &format!("{base} --key=small --file={}", small.display()),
    );
    assert_eq!(quiet, "", "no bar for a small file");
}

#[test]
fn mogtools_fail_over_between_trackers_and_storage_nodes() {
    let mut c = Bare::start(2);
    c.setup_with_mogadm();
    let dir = tempfile::tempdir().expect("dir");
    let data = payload(200_000);
    let src = dir.path().join("in.bin");
    std::fs::write(&src, &data).expect("write");
    let file = format!("--file={}", src.display());
    let trackers = format!("--trackers={},{}", dead_addr(), c.tracker_addr());
    let tool = |bin: &str, args: &[&str]| {
        let mut all = vec![trackers.as_str(), "--domain=d"];
        all.extend_from_slice(args);
        super::tool(c.home.path(), bin, &all)
    };
    for i in 0..4 {
        tool("mogupload", &[&format!("--key=k{i}"), &file]).ok();
    }
    // One storage node gone while its host is still `alive`: uploads move
    // on to a device of the other node.
    let (node, _docroot) = c.nodes.remove(1);
    drop(node);
    for i in 0..6 {
        let key = format!("--key=after{i}");
        tool("mogupload", &[&key, &file]).ok();
        let out = dir.path().join(format!("after{i}.bin"));
        let dest = format!("--file={}", out.display());
        tool("mogfetch", &[&key, &dest]).ok();
        assert!(
            std::fs::read(&out).expect("fetched") == data,
            "copy {i} differs"
        );
    }
    let listed = tool("moglistkeys", &[]);
    assert_eq!(listed.ok().lines().count(), 10);
}

#[test]
fn mogtools_moglistfids_and_mogfiledebug() {
    let c = Bare::start(2);
    c.setup_with_mogadm();
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("in.bin");
    let data = payload(70_000);
    std::fs::write(&src, &data).expect("write");
    let file = format!("--file={}", src.display());
    for k in ["one", "two", "three"] {
        c.file_tool("mogupload", &[&format!("--key={k}"), "--class=c", &file])
            .ok();
    }
    // Every fid, in order, in 2.30's layout; then resuming after the first.
    let all = c.file_tool("moglistfids", &[]);
    let text = all.ok();
    let blocks: Vec<&str> = text.split("\n\n").filter(|b| !b.is_empty()).collect();
    assert_eq!(blocks.len(), 3, "{text}");
    let first: Vec<&str> = blocks[0].lines().collect();
    assert!(first[0].starts_with("fid "), "{text}");
    assert_eq!(first.len(), 6, "{text}");
    assert_eq!(first[1], "class c");
    assert!(first[2].starts_with("devcount "), "{text}");
    assert_eq!(first[3..], ["domain d", "key one", "length 70000"]);
    let fid1: u64 = first[0]["fid ".len()..].parse().expect("fid");
    let later = c.file_tool("moglistfids", &[&format!("--fromfid={fid1}"), "--count=1"]);
    let later = later.ok();
    assert_eq!(later.matches("fid ").count(), 1, "{later}");
    assert!(later.contains("key two"), "{later}");

    // mogfiledebug fetches each copy, sums it, and shows the file row.
    let dbg = c.file_tool("mogfiledebug", &["--key=one"]);
    let out = dbg.ok();
    assert!(out.starts_with("Fetching and summing paths...\n"), "{out}");
    let sum = format!("{:x}", <md5::Md5 as md5::Digest>::digest(&data));
    assert!(
        out.matches(&format!(" - MD5 Hash: {sum}\n")).count() >= 1,
        "{out}"
    );
    assert!(out.contains(" - Length: 70000\n"), "{out}");
    assert!(out.contains(" - HTTP result: 200 OK\n"), "{out}");
    assert!(!out.contains("ERROR"), "{out}");
    assert!(out.contains("\n- File Row:\n"), "{out}");
    assert!(out.contains("\n- Raw devids: "), "{out}");
    let by_fid = c.file_tool("mogfiledebug", &[&format!("--fid={fid1}"), "--paths=print"]);
    let printed = by_fid.ok();
    assert!(
        printed.starts_with("Paths...\n - http://127.0.0.1:"),
        "{printed}"
    );
    let bad = c.file_tool("mogfiledebug", &["--key=one", "--paths=eat"]);
    assert_ne!(bad.code, 0);
}

#[test]
fn mogtools_mogupload_sends_the_checksum_when_asked() {
    use std::io::{BufRead, BufReader, Write};
    let c = Bare::start(2);
    c.setup_with_mogadm();
    c.mogadm(&["class", "modify", "d", "c", "--hashtype=MD5"])
        .ok();
    let dir = tempfile::tempdir().expect("dir");
    let src = dir.path().join("in.bin");
    let data = payload(100_000);
    std::fs::write(&src, &data).expect("write");
    let file = format!("--file={}", src.display());
    let up = c.file_tool(
        "mogupload",
        &[
            "--key=summed",
            "--class=c",
            "--checksum",
            "--checksumverify",
            &file,
        ],
    );
    assert_eq!(up.ok(), "");
    // Only with --checksum.
    let alone = c.file_tool("mogupload", &["--key=x", "--checksumverify", &file]);
    assert_ne!(alone.code, 0, "{alone:?}");

    let mut s = std::net::TcpStream::connect(c.tracker_addr()).expect("tracker");
    s.write_all(b"file_info domain=d&key=summed\r\n")
        .expect("write");
    let mut reply = String::new();
    BufReader::new(&s).read_line(&mut reply).expect("reply");
    let digest = {
        use md5::Digest;
        md5::Md5::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert!(
        reply.contains(&format!("checksum=MD5:{digest}")),
        "the client's checksum is kept at once: {reply}"
    );
}
