//! Heap allocations per foreground job through the engine and the codec
//! (no sockets): decode the client's and the worker's packets, run them,
//! encode every reply. Prints the figure; fails if it grows past a bound.
//! (One test in this binary: the counting allocator sees the process.)

use std::alloc::System;

use bytes::{Bytes, BytesMut};
use danga_gearman::proto::{Command, Magic, Request, Response};
use danga_gearman::queue::{Config, Msg, Now, Outbox, Queue};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const CLIENT: u64 = 1;
const WORKER: u64 = 2;

/// A request as the server decodes it: its data copied out of the read
/// buffer once (as the server does), then split.
fn req(cmd: Command, args: &[&[u8]]) -> Request {
    let data = Bytes::from(args.join(&b"\0"[..]));
    Request::decode(Magic::Req, cmd.code(), data).expect("valid")
}

fn one_job(q: &mut Queue, out: &mut Outbox, wire: &mut BytesMut) {
    let now = Now::default();
    out.clear();
    q.handle(
        CLIENT,
        req(Command::SubmitJob, &[b"f", b"", b"payload"]),
        now,
        out,
    );
    q.handle(WORKER, req(Command::GrabJob, &[]), now, out);
    let handle = out
        .msgs
        .iter()
        .find_map(|(_, m)| match m {
            Msg::Packet(Response::JobAssign { handle, .. }) => Some(handle.clone()),
            _ => None,
        })
        .expect("assigned");
    q.handle(
        WORKER,
        req(Command::WorkComplete, &[&handle, b"result"]),
        now,
        out,
    );
    q.handle(WORKER, req(Command::GrabJob, &[]), now, out);
    q.handle(WORKER, req(Command::PreSleep, &[]), now, out);
    wire.clear();
    for (_, m) in &out.msgs {
        if let Msg::Packet(r) = m {
            r.encode(wire);
        }
    }
}

#[test]
fn allocations_per_foreground_job() {
    let mut q = Queue::new(Config::default());
    q.connect(CLIENT, "1 127.0.0.1".into());
    q.connect(WORKER, "2 127.0.0.1".into());
    let mut out = Outbox::default();
    let mut wire = BytesMut::with_capacity(1 << 16);
    q.handle(
        WORKER,
        req(Command::CanDo, &[b"f"]),
        Now::default(),
        &mut out,
    );
    for _ in 0..1000 {
        one_job(&mut q, &mut out, &mut wire);
    }
    const JOBS: usize = 10_000;
    let region = Region::new(GLOBAL);
    for _ in 0..JOBS {
        one_job(&mut q, &mut out, &mut wire);
    }
    let stats = region.change();
    let per_job = stats.allocations as f64 / JOBS as f64;
    println!(
        "allocations per foreground job (engine + codec, 5 packets in, 5 out): {per_job:.1}, {:.0} bytes",
        stats.bytes_allocated as f64 / JOBS as f64
    );
    assert_eq!(q.job_count(), 0);
    // 13 before the results went out without copying the listener list
    // and arguments were held inline (issue 19); 10 now.
    assert!(per_job < 11.5, "{per_job} allocations per job");
}
