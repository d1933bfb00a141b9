//! The Cgilike plugin, as a Rust daemon can have it: where 1.80 called a
//! Perl subroutine inside perlbal for every request of the service
//! (`PERLHANDLER`), this runs a CGI/1.1 program (`cgi_program`) for the
//! requests under `cgi_uri_prefix`; the others are served as if the plugin
//! were not there (1.80's `DECLINED`).
//!
//! One process per request, in its own process group, in the program's
//! directory, with only the CGI variables in its environment. The request
//! body (Content-Length) is streamed to its stdin while its stdout is read;
//! the head it writes (at most [`MAX_HEAD`] bytes) becomes an HTTP/1.0
//! response, the rest is relayed up to `cgi_max_output` bytes. The whole
//! exchange must end within `cgi_timeout` seconds; then, or past the
//! output budget, or once a write to the client fails, the process group is
//! killed.
//! The connection closes after the response.

use std::net::IpAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

pub(crate) use super::cgi_conf::CgiConf;
use super::conn::ClientConn;
use super::reply::{simple, Head};
use super::settings::Settings;
use crate::proto::cgi::{env, parse_head, CgiError, Meta};
use crate::proto::http::RequestHead;

/// The most bytes a program's response head may take.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Why a program gave no usable answer (a 500, logged).
#[derive(Debug, thiserror::Error)]
enum CgiFail {
    #[error("cannot run {0}: {1}")]
    Spawn(String, std::io::Error),
    #[error("the program ended without a response head")]
    NoHead,
    #[error("{0}")]
    BadHead(#[from] CgiError),
    #[error("reading the program's output: {0}")]
    Read(std::io::Error),
    /// The client went away (nothing to answer).
    #[error("client gone")]
    Client,
}

/// Runs the program for `req` and answers the client; the connection is
/// not kept.
pub(crate) async fn serve(
    conn: &mut ClientConn,
    buf: &mut BytesMut,
    req: &RequestHead,
    peer: IpAddr,
    s: &Settings,
    conf: &CgiConf,
) {
    let head_req = req.method == "HEAD";
    let fail = |code: u16, msg: &str| simple(code, msg, head_req, None, s.server_tokens);
    let Some(program) = &conf.program else {
        tracing::error!("Cgilike: no cgi_program is configured for this service: 500");
        let out = fail(500, "No cgi_program is configured for this service");
        let _ = conn.stream().write_all(&out).await;
        return;
    };
    if req.chunked {
        let out = fail(400, "Chunked request bodies are not passed to CGI programs");
        let _ = conn.stream().write_all(&out).await;
        return;
    }
    if req.expects_continue()
        && req.content_length > 0
        && conn
            .stream()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .is_err()
    {
        return;
    }
    let meta = Meta {
        script_name: &conf.prefix,
        remote: peer,
        server_ip: conf.listen.map(|a| a.ip()),
        server_port: conf.listen.map_or(0, |a| a.port()),
        https: conn.is_tls(),
    };
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .envs(env(req, &meta))
        .stdin(if req.content_length > 0 {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = program.parent().filter(|d| !d.as_os_str().is_empty()) {
        cmd.current_dir(dir);
    }
    let deadline = tokio::time::Instant::now() + conf.timeout;
    let sent = AtomicBool::new(false);
    let result = match cmd.spawn() {
        Err(e) => Err(CgiFail::Spawn(program.display().to_string(), e)),
        Ok(mut child) => {
            let ran = tokio::time::timeout_at(
                deadline,
                exchange(conn, buf, req, &mut child, conf.max_output, &sent, s),
            )
            .await;
            if matches!(ran, Ok(Ok(()) | Err(CgiFail::Client))) {
                // Answered: the client need not wait for the program to go.
                conn.close(s.idle_timeout).await;
            }
            finish(&mut child, deadline).await;
            match ran {
                Ok(r) => r,
                Err(_) => {
                    tracing::warn!(program = %program.display(), "Cgilike: program killed after cgi_timeout");
                    if sent.load(Ordering::Relaxed) {
                        return;
                    }
                    let out = fail(
                        500,
                        "Error in handler: the program took longer than cgi_timeout",
                    );
                    let _ = conn.stream().write_all(&out).await;
                    return;
                }
            }
        }
    };
    match result {
        Ok(()) | Err(CgiFail::Client) => {}
        Err(e) => {
            tracing::error!(program = %program.display(), error = %e, "Cgilike: 500");
            if !sent.load(Ordering::Relaxed) {
                let out = fail(500, &format!("Error in handler: {e}"));
                let _ = conn.stream().write_all(&out).await;
            }
        }
    }
}

/// Reaps the program, or kills its process group when it outlives its
/// output or its time.
async fn finish(child: &mut Child, deadline: tokio::time::Instant) {
    let grace = deadline.min(tokio::time::Instant::now() + Duration::from_secs(1));
    if tokio::time::timeout_at(grace, child.wait()).await.is_ok() {
        return;
    }
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
}

/// Feeds the body to the program while its answer goes to the client.
async fn exchange(
    conn: &mut ClientConn,
    buf: &mut BytesMut,
    req: &RequestHead,
    child: &mut Child,
    max_output: u64,
    sent: &AtomicBool,
    s: &Settings,
) -> Result<(), CgiFail> {
    let stdin = child.stdin.take();
    let Some(stdout) = child.stdout.take() else {
        return Err(CgiFail::NoHead);
    };
    let (mut rd, mut wr) = tokio::io::split(conn.stream());
    let feed = async {
        if let Some(mut stdin) = stdin {
            feed_body(buf, &mut rd, &mut stdin, req.content_length).await;
        }
        // Fed (or the program stopped reading): its stdin is closed, the
        // answer decides when this ends.
        std::future::pending::<Result<(), CgiFail>>().await
    };
    let relay = relay(stdout, &mut wr, req.method == "HEAD", max_output, sent, s);
    tokio::select! {
        r = relay => r,
        r = feed => r,
    }
}

/// The request body, from what was read with the head then from the
/// client, to the program's stdin; stops at the first error either side.
async fn feed_body<R: AsyncRead + Unpin>(
    buf: &mut BytesMut,
    client: &mut R,
    stdin: &mut ChildStdin,
    len: u64,
) {
    let mut left = len;
    let first = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
    if stdin.write_all(&buf[..first]).await.is_err() {
        return;
    }
    buf.advance(first);
    left -= first as u64;
    let mut chunk = vec![0u8; 16 * 1024];
    while left > 0 {
        let want = usize::try_from(left).map_or(chunk.len(), |l| l.min(chunk.len()));
        let n = match client.read(&mut chunk[..want]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stdin.write_all(&chunk[..n]).await.is_err() {
            return;
        }
        left -= n as u64;
    }
}

/// The program's head, then its body (at most `max_output` bytes, and no
/// more than a Content-Length it gave), to the client.
async fn relay<W: AsyncWrite + Unpin>(
    mut out: ChildStdout,
    client: &mut W,
    head_req: bool,
    max_output: u64,
    sent: &AtomicBool,
    s: &Settings,
) -> Result<(), CgiFail> {
    let mut got = Vec::with_capacity(4096);
    let (head, used) = loop {
        if let Some(h) = parse_head(&got, MAX_HEAD)? {
            break h;
        }
        let mut chunk = [0u8; 4096];
        let n = out.read(&mut chunk).await.map_err(CgiFail::Read)?;
        if n == 0 {
            return Err(CgiFail::NoHead);
        }
        got.extend_from_slice(&chunk[..n]);
    };
    let mut h = Head::new(head.status);
    for (name, value) in &head.headers {
        h.header(name, value);
    }
    h.server(s.server_tokens);
    sent.store(true, Ordering::Relaxed);
    client
        .write_all(&h.finish(None))
        .await
        .map_err(|_| CgiFail::Client)?;
    if head_req {
        return Ok(());
    }
    let mut left = head
        .content_length
        .map_or(max_output, |l| l.min(max_output));
    let mut body = got.split_off(used);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = usize::try_from(left).map_or(body.len(), |l| l.min(body.len()));
        client
            .write_all(&body[..n])
            .await
            .map_err(|_| CgiFail::Client)?;
        left -= n as u64;
        if left == 0 {
            if head.content_length.is_none_or(|l| l > max_output) {
                tracing::warn!(max_output, "Cgilike: output cut at cgi_max_output");
            }
            return Ok(());
        }
        let n = out.read(&mut chunk).await.map_err(CgiFail::Read)?;
        if n == 0 {
            return Ok(());
        }
        body.clear();
        body.extend_from_slice(&chunk[..n]);
    }
}
