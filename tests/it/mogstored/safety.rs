//! Nothing outside `--docroot` is ever read, written or deleted.

use std::net::SocketAddr;

use super::{once, perl_put, Node};

fn status(addr: SocketAddr, method: &str, target: &str) -> u16 {
    let body: &[u8] = if method == "PUT" { b"evil" } else { b"" };
    let head = format!(
        "{method} {target} HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    once(addr, &head, body).status
}

#[test]
fn mogstored_traversal_attempts_are_refused() {
    let node = Node::start();
    // A secret beside the docroot, reachable with one `..`.
    let parent = node.docroot.path().parent().expect("parent");
    let secret_name = format!("secret-{}", std::process::id());
    std::fs::write(parent.join(&secret_name), b"secret").expect("secret");
    let attempts = [
        format!("/dev1/../../{secret_name}"),
        format!("/../{secret_name}"),
        format!("/dev1/%2e%2e/%2e%2e/{secret_name}"),
        format!("/dev1/%2E%2E/%2E%2E/{secret_name}"),
        format!("/dev1/..%2f..%2f{secret_name}"),
        format!("/dev1%2f..%2f..%2f{secret_name}"),
        format!("//{}/{secret_name}", parent.display()),
        parent
            .join(&secret_name)
            .display()
            .to_string()
            .trim_start_matches('/')
            .to_string(),
        format!("/dev1/./../../{secret_name}"),
        "/etc/passwd/..".to_string(),
    ];
    for target in &attempts {
        for method in ["GET", "HEAD", "PUT", "DELETE"] {
            let code = status(node.http, method, target);
            assert!(
                matches!(code, 400 | 403),
                "{method} {target} answered {code}"
            );
        }
    }
    assert_eq!(
        std::fs::read(parent.join(&secret_name)).expect("secret untouched"),
        b"secret"
    );
    let _ = std::fs::remove_file(parent.join(&secret_name));
    // The absolute path of a real file is just a (missing) path under the docroot.
    assert_eq!(status(node.http, "GET", "/etc/passwd"), 404);
    assert!(!node.docroot.path().join("etc").exists());
}

#[test]
fn mogstored_symlinks_leading_out_are_refused() {
    let node = Node::start();
    let outside = tempfile::tempdir().expect("outside");
    std::fs::write(outside.path().join("secret"), b"secret").expect("secret");
    std::os::unix::fs::symlink(outside.path(), node.file("/dev1/out")).expect("dir link");
    std::os::unix::fs::symlink(outside.path().join("secret"), node.file("/dev1/link.fid"))
        .expect("file link");
    for target in ["/dev1/out/secret", "/dev1/link.fid"] {
        assert_eq!(status(node.http, "GET", target), 403, "GET {target}");
        assert_eq!(status(node.http, "DELETE", target), 403, "DELETE {target}");
    }
    assert_eq!(status(node.http, "PUT", "/dev1/out/new.fid"), 403);
    assert_eq!(status(node.http, "PUT", "/dev1/out/deeper/new.fid"), 403);
    assert!(!outside.path().join("new.fid").exists());
    assert!(!outside.path().join("deeper").exists());
    assert_eq!(
        std::fs::read(outside.path().join("secret")).expect("kept"),
        b"secret"
    );
    // A PUT over the file link replaces the link, never the file it names.
    assert_eq!(perl_put(node.http, "/dev1/link.fid", b"mine").status, 200);
    assert_eq!(
        std::fs::read(outside.path().join("secret")).expect("kept"),
        b"secret"
    );
    assert_eq!(
        std::fs::read(node.file("/dev1/link.fid")).expect("ours"),
        b"mine"
    );
}

#[test]
fn mogstored_put_needs_a_directory() {
    let node = Node::start();
    // min_put_directory = 1: nothing at the top of the docroot.
    assert_eq!(status(node.http, "PUT", "/toplevel.fid"), 403);
    assert!(!node.file("/toplevel.fid").exists());
}
