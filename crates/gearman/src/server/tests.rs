//! In-process server tests: a real listener on 127.0.0.1:0, raw packets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use danga_common::listen::{bind, ListenSpec, LocalAddr};
use danga_common::{Acceptor, AtLimit, ConnStats, Registry, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Config, Server};
use crate::proto::{parse_frame, Frame, Limits, Request, Response, SubmitJob, HEADER_LEN};
use crate::proto::{Grab, Priority};
use crate::queue::{self, Queue};

async fn start(cfg: Config) -> (SocketAddr, Shutdown, Arc<Server>) {
    let spec = ListenSpec::tcp("gearmand", "127.0.0.1:0".parse().expect("addr"));
    let listener = bind(&spec, 64).expect("bind").into_tokio().expect("tokio");
    let addr = match listener.local_addr() {
        LocalAddr::Tcp(a) => *a,
        other => panic!("unexpected {other}"),
    };
    let shutdown = Shutdown::new();
    let q = Queue::new(queue::Config {
        handle_prefix: "H:t".into(),
        ..queue::Config::default()
    });
    let server = Server::new(q, cfg, shutdown.clone());
    server.spawn_timer();
    let acc = Acceptor::new(
        100,
        AtLimit::Wait,
        ConnStats::register(&Registry::new()),
        shutdown.clone(),
    );
    let s = Arc::clone(&server);
    acc.spawn(listener, move |c| Arc::clone(&s).serve(c));
    (addr, shutdown, server)
}

struct Client {
    s: TcpStream,
    buf: BytesMut,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client {
            s: TcpStream::connect(addr).await.expect("connect"),
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, r: Request) {
        let mut out = BytesMut::new();
        r.encode(&mut out);
        self.s.write_all(&out).await.expect("write");
    }

    async fn raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.expect("write");
    }

    /// The next packet, or `None` if the server closed the connection.
    async fn recv(&mut self) -> Option<Response> {
        let lim = Limits::default();
        loop {
            if let Some((Frame::Packet { kind, .. }, n)) =
                parse_frame(&self.buf, &lim).expect("frame")
            {
                let whole = self.buf.split_to(n).freeze();
                return Some(Response::decode(kind, whole.slice(HEADER_LEN..)).expect("decodes"));
            }
            let read = tokio::time::timeout(Duration::from_secs(5), self.s.read_buf(&mut self.buf));
            match read.await.expect("reply within 5 s") {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    async fn line(&mut self, cmd: &str) -> String {
        self.raw(cmd.as_bytes()).await;
        let end: &[u8] = if cmd.starts_with("status") || cmd.starts_with("workers") {
            b".\n"
        } else {
            b"\n"
        };
        while !self.buf.ends_with(end) {
            let read = tokio::time::timeout(Duration::from_secs(5), self.s.read_buf(&mut self.buf));
            assert!(read.await.expect("reply").expect("read") > 0, "closed");
        }
        String::from_utf8_lossy(&self.buf.split()).into_owned()
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn submit(f: &str, data: &str, bg: bool) -> Request {
    Request::Submit(SubmitJob {
        function: b(f),
        unique: Bytes::new(),
        data: b(data),
        priority: Priority::Normal,
        background: bg,
        when: None,
        reducer: None,
    })
}

#[tokio::test]
async fn a_sleeping_worker_is_woken_and_the_client_gets_the_result() {
    let (addr, _sd, _srv) = start(Config::default()).await;
    let mut w = Client::connect(addr).await;
    let mut c = Client::connect(addr).await;
    w.send(Request::CanDo(b("rev"))).await;
    w.send(Request::PreSleep).await;
    // The sleep is registered once the worker's later request is answered.
    w.send(Request::EchoReq(b("x"))).await;
    assert_eq!(w.recv().await, Some(Response::EchoRes(b("x"))));
    c.send(submit("rev", "abc", false)).await;
    assert_eq!(c.recv().await, Some(Response::JobCreated(b("H:t:1"))));
    assert_eq!(w.recv().await, Some(Response::Noop));
    w.send(Request::Grab(Grab::Uniq)).await;
    let Some(Response::JobAssignUniq { handle, data, .. }) = w.recv().await else {
        panic!("assignment");
    };
    assert_eq!(data, b("abc"));
    w.send(Request::WorkData {
        handle: handle.clone(),
        data: b("partial"),
    })
    .await;
    w.send(Request::WorkComplete {
        handle: handle.clone(),
        data: b("cba"),
    })
    .await;
    assert_eq!(
        c.recv().await,
        Some(Response::WorkData {
            handle: handle.clone(),
            data: b("partial")
        })
    );
    assert_eq!(
        c.recv().await,
        Some(Response::WorkComplete {
            handle,
            data: b("cba")
        })
    );
}

#[tokio::test]
async fn bad_input_gets_an_error_or_a_close_and_others_keep_working() {
    let cfg = Config {
        limits: Limits {
            max_packet: 1024,
            max_line: 64,
        },
        ..Config::default()
    };
    let (addr, _sd, _srv) = start(cfg).await;
    let mut bystander = Client::connect(addr).await;
    // Unknown type (even >= 2^31): an ERROR, the connection stays.
    let mut a = Client::connect(addr).await;
    a.raw(b"\0REQ\xff\xff\xff\xff\0\0\0\0").await;
    assert_eq!(
        a.recv().await,
        Some(Response::error(
            "INVALID_COMMAND",
            "Invalid command expected"
        ))
    );
    // Arguments without their NULs: an ERROR, never a read past the packet.
    a.raw(b"\0REQ\0\0\0\x07\0\0\0\x03abc").await;
    let Some(Response::Error { code, .. }) = a.recv().await else {
        panic!("error")
    };
    assert_eq!(code, b("INVALID_PACKET"));
    a.send(Request::EchoReq(b("still here"))).await;
    assert_eq!(a.recv().await, Some(Response::EchoRes(b("still here"))));
    // A huge declared length: an ERROR and a close, nothing allocated.
    let mut big = Client::connect(addr).await;
    big.raw(b"\0REQ\0\0\0\x07\xff\xff\xff\xf0").await;
    let Some(Response::Error { code, .. }) = big.recv().await else {
        panic!("error")
    };
    assert_eq!(code, b("ARGUMENT_TOO_LARGE"));
    assert_eq!(big.recv().await, None);
    // Bad magic: closed.
    let mut bad = Client::connect(addr).await;
    bad.raw(b"\0XYZ\0\0\0\x10\0\0\0\0").await;
    assert_eq!(bad.recv().await, None);
    // Half a packet, then gone.
    let mut half = Client::connect(addr).await;
    half.raw(b"\0REQ\0\0\0\x07\0\0\0\x10ab").await;
    drop(half);
    bystander.send(Request::EchoReq(b("fine"))).await;
    assert_eq!(bystander.recv().await, Some(Response::EchoRes(b("fine"))));
}

#[tokio::test]
async fn a_client_that_does_not_read_is_dropped_when_its_output_overflows() {
    let cfg = Config {
        limits: Limits {
            max_packet: 64 * 1024,
            max_line: 64,
        },
        max_pending: 0,
        keepalive: None,
        admin_shutdown: false,
        tls: None,
    };
    let (addr, _sd, srv) = start(cfg).await;
    assert_eq!(srv.config().max_pending, 2 * (64 * 1024 + HEADER_LEN));
    let mut w = Client::connect(addr).await;
    let mut c = Client::connect(addr).await;
    w.send(Request::CanDo(b("f"))).await;
    c.send(submit("f", "", false)).await;
    assert!(matches!(c.recv().await, Some(Response::JobCreated(_))));
    w.send(Request::Grab(Grab::Plain)).await;
    let Some(Response::JobAssign { handle, .. }) = w.recv().await else {
        panic!("assign")
    };
    // The client never reads: 64 MB of WORK_DATA cannot all fit in socket
    // buffers, so its output overflows and it is closed.
    let chunk = Bytes::from(vec![b'x'; 60 * 1024]);
    let mut admin = Client::connect(addr).await;
    for i in 0.. {
        w.send(Request::WorkData {
            handle: handle.clone(),
            data: chunk.clone(),
        })
        .await;
        if i % 64 == 63 {
            let workers = admin.line("workers\n").await;
            if workers.lines().count() == 3 {
                break;
            }
            assert!(i < 2000, "never dropped: {workers}");
        }
    }
    w.send(Request::EchoReq(b("ok"))).await;
    assert_eq!(w.recv().await, Some(Response::EchoRes(b("ok"))));
}

#[tokio::test]
async fn admin_shutdown_is_an_unknown_command_unless_enabled() {
    let (addr, sd, _srv) = start(Config::default()).await;
    let mut a = Client::connect(addr).await;
    assert_eq!(
        a.line("shutdown\n").await,
        "ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n"
    );
    assert_eq!(a.line("version\n").await, "OK 1.1.20\n");
    assert!(!sd.is_triggered());
}

#[tokio::test]
async fn admin_shutdown_replies_then_stops_the_server() {
    let cfg = Config {
        admin_shutdown: true,
        ..Config::default()
    };
    let (addr, sd, _srv) = start(cfg).await;
    let mut a = Client::connect(addr).await;
    assert_eq!(a.line("version\n").await, "OK 1.1.20\n");
    assert_eq!(a.line("shutdown graceful\n").await, "OK\r\n");
    tokio::time::timeout(Duration::from_secs(5), sd.triggered())
        .await
        .expect("triggered");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), a.s.read_to_end(&mut rest)).await;
    assert!(rest.is_empty());
}
