//! The client against in-process fakes: a line-protocol tracker answering
//! from a closure, and a tiny HTTP storage node keeping PUT bodies.

use std::collections::HashMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::proto::{parse_line, Line};

type Handler = Arc<dyn Fn(&str, &crate::proto::Args) -> Option<String> + Send + Sync>;

/// A tracker on 127.0.0.1:0: each request line goes to `handler` (command,
/// args) which returns the reply line, or `None` to stay silent. Counts
/// accepted connections; `close_after_reply` drops each connection after
/// one reply.
async fn fake_tracker(handler: Handler, close_after_reply: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let h = Arc::clone(&handler);
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let Line::Command(req) = parse_line(line.as_bytes()) else {
                        continue;
                    };
                    match h(&req.cmd, &req.args) {
                        Some(reply) => {
                            if w.write_all(reply.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        // Silent: hold the connection open, never answer.
                        None => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                    }
                    if close_after_reply {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// A port nothing listens on.
async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// An HTTP/1.1 storage node: PUT keeps the body, GET returns it (404 if
/// missing). One request per connection.
async fn fake_storage() -> (SocketAddr, Files) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let files: Files = Arc::default();
    let store = Arc::clone(&files);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let store = Arc::clone(&store);
            tokio::spawn(async move { serve(s, store).await });
        }
    });
    (addr, files)
}

async fn serve(s: TcpStream, files: Files) {
    let mut r = BufReader::new(s);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_owned());
    }
    let mut first = head[0].split(' ');
    let (method, path) = (
        first.next().unwrap().to_owned(),
        first.next().unwrap().to_owned(),
    );
    let len: usize = head
        .iter()
        .find_map(|h| {
            h.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .map(|v| v.parse().unwrap())
        .unwrap_or(0);
    let reply = match method.as_str() {
        "PUT" => {
            let mut body = vec![0; len];
            r.read_exact(&mut body).await.unwrap();
            files.lock().unwrap().insert(path, body);
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
        _ => match files.lock().unwrap().get(&path) {
            Some(b) => {
                let mut out = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    b.len()
                )
                .into_bytes();
                out.extend_from_slice(b);
                out
            }
            None => {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            }
        },
    };
    let _ = r.get_mut().write_all(&reply).await;
}

fn opts() -> Options {
    Options {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_millis(300),
        dead_retry: Duration::from_secs(60),
        shuffle: false,
        http_idle: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn fails_over_to_the_next_tracker_when_one_is_down() {
    let dead = dead_addr().await;
    let handler: Handler = Arc::new(|cmd, _| (cmd == "noop").then(|| "OK \r\n".to_owned()));
    let (live, _) = fake_tracker(handler, false).await;
    let t = Trackers::new([dead.to_string(), live.to_string()], opts()).unwrap();
    for _ in 0..3 {
        t.call("noop", &[])
            .await
            .expect("the second tracker answers");
    }
    assert_eq!(t.dead(), [dead.to_string()]);
    // Only a dead list: an error naming the tracker.
    let only_dead = Trackers::new([dead.to_string()], opts()).unwrap();
    let e = only_dead.call("noop", &[]).await.unwrap_err();
    assert!(
        matches!(e, Error::Unreachable(ref why) if why.contains(&dead.to_string())),
        "{e}"
    );
}

#[tokio::test]
async fn a_tracker_that_timed_out_is_skipped_for_a_while() {
    // The first tracker accepts but never answers; the second closes
    // after each reply, so every call connects anew.
    let silent: Handler = Arc::new(|_, _| None);
    let (hung, hung_accepts) = fake_tracker(silent, false).await;
    let answer: Handler = Arc::new(|_, _| Some("OK \r\n".to_owned()));
    let (live, _) = fake_tracker(answer, true).await;
    let t = Trackers::new([hung.to_string(), live.to_string()], opts()).unwrap();
    for _ in 0..4 {
        // get_hosts is read-only: asked again of the next tracker.
        t.call("get_hosts", &[])
            .await
            .expect("answered by the live tracker");
    }
    assert_eq!(
        hung_accepts.load(Ordering::SeqCst),
        1,
        "the hung tracker was tried once"
    );
    assert_eq!(t.dead(), [hung.to_string()]);
    // A command that changes things is not sent twice.
    let t = Trackers::new([hung.to_string(), live.to_string()], opts()).unwrap();
    let e = t
        .call("delete", &[("domain", "d"), ("key", "k")])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::TrackerIo { .. }), "{e}");
}

#[tokio::test]
async fn err_replies_carry_code_and_text() {
    let handler: Handler = Arc::new(|_, _| Some("ERR unknown_key Unknown+key%21\r\n".to_owned()));
    let (addr, _) = fake_tracker(handler, false).await;
    let c = Client::new(Trackers::new([addr.to_string()], opts()).unwrap(), "d");
    let e = c.delete("k").await.unwrap_err();
    assert_eq!(e.code(), Some("unknown_key"));
    assert_eq!(e.to_string(), "unknown_key Unknown key!");
}

#[tokio::test]
async fn store_moves_to_the_next_destination_and_fetch_to_the_next_path() {
    let (storage, files) = fake_storage().await;
    let dead = dead_addr().await;
    let good = format!("http://{storage}/dev2/0/000/000/0000000007.fid");
    let bad = format!("http://{dead}/dev1/0/000/000/0000000007.fid");
    let missing = format!("http://{storage}/dev3/0/000/000/0000000007.fid");
    let closed = Arc::new(Mutex::new(None::<(String, String)>));
    let seen = Arc::clone(&closed);
    let (g, b, m) = (good.clone(), bad.clone(), missing.clone());
    let handler: Handler = Arc::new(move |cmd, a| {
        Some(match cmd {
            "create_open" => {
                assert_eq!(a.get("multi_dest"), Some("1"));
                assert_eq!(a.get("class"), Some("c"));
                format!(
                    "OK fid=7&dev_count=2&devid_1=1&path_1={}&devid_2=2&path_2={}\r\n",
                    crate::proto::encode(b.as_bytes()),
                    crate::proto::encode(g.as_bytes())
                )
            }
            "create_close" => {
                let got = (
                    a.get("devid").unwrap_or_default().to_owned(),
                    a.get("size").unwrap_or_default().to_owned(),
                );
                *seen.lock().unwrap() = Some(got);
                "OK \r\n".to_owned()
            }
            "get_paths" => format!(
                "OK paths=2&path1={}&path2={}\r\n",
                crate::proto::encode(m.as_bytes()),
                crate::proto::encode(g.as_bytes())
            ),
            _ => "ERR unknown_command x\r\n".to_owned(),
        })
    });
    let (tracker, _) = fake_tracker(handler, false).await;
    let c = Client::new(Trackers::new([tracker.to_string()], opts()).unwrap(), "d");
    let data: Vec<u8> = (0..700_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let last = Arc::new(AtomicUsize::new(0));
    let heard = Arc::clone(&last);
    let progress: Progress = Arc::new(move |n| heard.store(n as usize, Ordering::SeqCst));
    let fid = c
        .store(
            "k",
            Some("c"),
            Cursor::new(data.clone()),
            data.len() as u64,
            Some(progress),
        )
        .await
        .expect("stored on the second destination");
    assert_eq!(fid, 7);
    assert_eq!(last.load(Ordering::SeqCst), data.len());
    assert_eq!(
        *closed.lock().unwrap(),
        Some(("2".to_owned(), data.len().to_string()))
    );
    assert_eq!(
        files.lock().unwrap().get("/dev2/0/000/000/0000000007.fid"),
        Some(&data)
    );
    let mut out = Vec::new();
    let n = c
        .fetch("k", &mut out, None)
        .await
        .expect("second path serves it");
    assert_eq!(n, data.len() as u64);
    assert_eq!(out, data);
}

#[tokio::test]
async fn store_of_a_short_source_fails_instead_of_hanging() {
    let (storage, _) = fake_storage().await;
    let path = format!("http://{storage}/dev1/x.fid");
    let handler: Handler = Arc::new(move |cmd, _| {
        Some(match cmd {
            "create_open" => format!(
                "OK fid=1&devid=1&path={}\r\n",
                crate::proto::encode(path.as_bytes())
            ),
            _ => "OK \r\n".to_owned(),
        })
    });
    let (tracker, _) = fake_tracker(handler, false).await;
    let c = Client::new(Trackers::new([tracker.to_string()], opts()).unwrap(), "d");
    let e = c
        .store("k", None, Cursor::new(vec![1u8; 10]), 20, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("early"), "{e}");
}
