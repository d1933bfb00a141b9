//! Engine tests: admin commands, maxqueue, reduce jobs, handles.

use super::tests::*;
use super::*;
use crate::proto::{Admin, Grab, Priority, Request, Response, SubmitJob};

#[test]
fn maxqueue_refuses_new_jobs_but_not_coalesced_ones() {
    let mut h = H::new(Config::default());
    assert_eq!(
        h.admin(A, "maxqueue f 1"),
        "OK\r\n",
        "no such function yet: no effect"
    );
    h.req(C, submit("f", "k", "", Priority::Normal, true));
    assert_eq!(
        h.req(C, submit("f", "", "", Priority::Normal, true)),
        [(C, created(2))]
    );
    assert_eq!(h.admin(A, "maxqueue f 2"), "OK\r\n");
    let full = Response::error("QUEUE_ERROR", "Job queue is full");
    assert_eq!(
        h.req(C, submit("f", "", "", Priority::Low, true)),
        [(C, full.clone())]
    );
    assert_eq!(
        h.req(C, submit("f", "k", "", Priority::Normal, false)),
        [(C, created(1))]
    );
    assert_eq!(h.admin(A, "maxqueue f 0 2 0"), "OK\r\n");
    assert_eq!(
        h.req(C, submit("f", "", "", Priority::Normal, true)),
        [(C, full)]
    );
    assert_eq!(
        h.req(C, submit("f", "", "", Priority::High, true)),
        [(C, created(3))]
    );
    assert_eq!(h.admin(A, "maxqueue f"), "OK\r\n");
    assert_eq!(
        h.req(C, submit("f", "", "", Priority::Normal, true)),
        [(C, created(4))]
    );
}

#[test]
fn admin_listings_have_gearmands_formats() {
    let mut h = H::new(Config::default());
    h.req(W, Request::SetClientId(b("w1")));
    h.req(W, Request::CanDo(b("b")));
    h.req(
        W,
        Request::CanDoTimeout {
            function: b("a"),
            timeout: b("5000"),
        },
    );
    h.req(C, submit("a", "ua", "", Priority::High, true));
    h.req(C, submit("b", "", "", Priority::Low, false));
    assert_eq!(h.admin(A, "status"), "a\t1\t0\t1\nb\t1\t0\t1\n.\n");
    assert_eq!(
        h.admin(A, "prioritystatus"),
        "a\t1\t0\t0\t1\nb\t0\t0\t1\t1\n.\n"
    );
    let workers = h.admin(A, "workers");
    assert!(
        workers.starts_with("31 127.0.0.1 w1 : a b\n32 127.0.0.1 - :\n"),
        "{workers}"
    );
    assert!(workers.ends_with("39 127.0.0.1 - :\n.\n"), "{workers}");
    assert_eq!(
        h.admin(A, "show jobs"),
        "H:test:1\t0\t0\t1\nH:test:2\t0\t0\t0\n.\n"
    );
    assert_eq!(h.admin(A, "show unique jobs"), "ua\n\n.\n");
    assert_eq!(h.admin(A, "version"), "OK 1.1.20\n");
    assert_eq!(h.admin(A, "verbose"), "OK ERROR\n");
    assert_eq!(
        h.admin(A, "bogus"),
        "ERR UNKNOWN_COMMAND Unknown+server+commandbogus\r\n"
    );
    h.req(W, Request::CantDo(b("a")));
    assert_eq!(h.admin(A, "status"), "a\t1\t0\t0\nb\t1\t0\t1\n.\n");
    h.req(W, Request::ResetAbilities);
    assert_eq!(h.admin(A, "status"), "a\t1\t0\t0\nb\t1\t0\t0\n.\n");
}

#[test]
fn cancel_create_and_drop_function() {
    let mut h = H::new(Config::default());
    assert_eq!(h.admin(A, "create function new"), "OK\r\n");
    assert_eq!(h.admin(A, "status"), "new\t0\t0\t0\n.\n");
    h.req(C, submit("new", "", "", Priority::Normal, false));
    assert_eq!(h.admin(A, "cancel job H:test:9"), "ERR UNKNOWN_JOB\r\n");
    let mut out = Outbox::default();
    h.q.admin(A, &Admin::parse(b"cancel job H:test:1"), &mut out);
    assert_eq!(
        out.msgs[0],
        (
            C,
            Msg::Packet(Response::WorkFail {
                handle: handle(1),
                trailing_nul: false
            })
        )
    );
    assert_eq!(h.admin(A, "status"), "new\t0\t0\t0\n.\n");
    h.req(W, Request::CanDo(b("new")));
    assert_eq!(
        h.admin(A, "drop function new"),
        "ERR there are still connected workers or executing clients\r\n"
    );
    h.req(W, Request::CantDo(b("new")));
    h.req(C, submit("new", "", "", Priority::Normal, true));
    assert_eq!(h.admin(A, "drop function new"), "OK\r\n");
    assert_eq!(
        h.admin(A, "drop function new"),
        "ERR function not found\r\n"
    );
    assert_eq!(h.admin(A, "status"), ".\n");
    assert_eq!(h.q.job_count(), 0);
}

#[test]
fn shutdown_is_reported_to_the_server() {
    let mut h = H::new(Config::default());
    let mut out = Outbox::default();
    h.q.admin(A, &Admin::parse(b"shutdown graceful"), &mut out);
    assert_eq!(out.shutdown, Some(true));
    assert_eq!(out.msgs, [(A, Msg::Text(b("OK\r\n")))]);
}

#[test]
fn grab_all_assigns_reduce_jobs_with_their_reducer() {
    let mut h = H::new(Config::default());
    let mut job = SubmitJob {
        function: b("map"),
        unique: b("u"),
        data: b("d"),
        priority: Priority::Normal,
        background: false,
        when: None,
        reducer: Some(b("red")),
    };
    h.req(C, Request::Submit(job.clone()));
    job.unique = b("v");
    h.req(C, Request::Submit(job));
    h.req(W, Request::CanDo(b("map")));
    assert_eq!(
        h.req(W, Request::Grab(Grab::All)),
        [(
            W,
            Response::JobAssignAll {
                handle: handle(1),
                function: b("map"),
                unique: b("u"),
                reducer: b("red"),
                data: b("d")
            }
        )]
    );
    assert_eq!(
        h.req(W, Request::Grab(Grab::Uniq)),
        [(W, assign_uniq(2, "map", "v", "d"))]
    );
}

#[test]
fn handles_that_only_look_like_ours_are_unknown() {
    let mut h = H::new(Config::default());
    h.req(C, submit("f", "", "", Priority::Normal, true));
    for hd in [
        "H:test:01",
        "H:test:1x",
        "H:test:",
        "H:other:1",
        "H:test:99999999999999999999999",
    ] {
        assert_eq!(
            h.req(C, Request::GetStatus(b(hd))),
            [(
                C,
                Response::StatusRes {
                    handle: b(hd),
                    known: false,
                    running: false,
                    numerator: 0,
                    denominator: 0
                }
            )],
            "{hd}"
        );
    }
}

#[test]
fn idle_functions_are_forgotten_and_names_own_their_bytes() {
    let mut h = H::new(Config {
        forget_idle_ms: 10_000,
        ..Config::default()
    });
    // The name arrives as a slice of a bigger packet.
    let packet = Bytes::from(vec![b'n'; 4096]);
    let name = packet.slice(..3);
    h.req(
        C,
        Request::Submit(SubmitJob {
            function: name,
            unique: b(""),
            data: packet.slice(4..),
            priority: Priority::Normal,
            background: false,
            when: None,
            reducer: None,
        }),
    );
    let within = packet.as_ptr_range();
    drop(packet);
    let kept = h.q.by_name.keys().next().expect("named").clone();
    assert_eq!(kept, b("nnn"));
    assert!(!within.contains(&kept.as_ptr()), "a copy, not a slice");
    h.drop_conn(C);
    h.req(W, Request::CanDo(b("busy")));
    h.admin(A, "create function limited");
    h.admin(A, "maxqueue limited 5");
    h.req(C2, submit("queued", "", "", Priority::Low, true));
    assert_eq!(
        h.admin(A, "status"),
        "busy\t0\t0\t1\nlimited\t0\t0\t0\nnnn\t0\t0\t0\nqueued\t1\t0\t0\n.\n"
    );
    h.now.millis += 9_999;
    h.tick();
    assert!(
        h.admin(A, "status").contains("nnn"),
        "not idle for long yet"
    );
    h.now.millis += 10_000;
    h.tick();
    // Forgotten: no worker, no job, no maxqueue, unused for 10 s.
    assert_eq!(
        h.admin(A, "status"),
        "busy\t0\t0\t1\nlimited\t0\t0\t0\nqueued\t1\t0\t0\n.\n"
    );
    // Its slot is reused by the next new name.
    let slots = h.q.functions.len();
    h.req(C2, submit("fresh", "", "", Priority::Low, true));
    assert_eq!(h.q.functions.len(), slots);
    assert!(h.admin(A, "status").contains("fresh\t1\t0\t0\n"));
}
