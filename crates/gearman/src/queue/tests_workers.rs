//! Engine tests: sleeping and waking, epoch jobs, timeouts, retries,
//! leaving connections.

use super::tests::*;
use super::*;
use crate::proto::{Grab, Priority, Request, Response, SubmitJob};

#[test]
fn with_w1_one_noop_per_new_job_not_one_per_sleeper() {
    let mut h = H::new(Config {
        wakeup: 1,
        ..Config::default()
    });
    for w in [W, W2, 3] {
        h.req(w, Request::CanDo(b("f")));
        assert_eq!(h.req(w, Request::PreSleep), []);
    }
    let got = h.req(C, submit("f", "", "", Priority::Normal, true));
    assert_eq!(got, [(W, Response::Noop), (C, created(1))]);
    let got = h.req(C, submit("f", "", "", Priority::Normal, true));
    assert_eq!(got, [(W2, Response::Noop), (C, created(2))]);
    // A woken worker is not woken again before it grabs.
    h.req(W, Request::Grab(Grab::Uniq));
    h.req(W2, Request::Grab(Grab::Uniq));
    let got = h.req(C, submit("f", "", "", Priority::Normal, true));
    assert_eq!(got, [(3, Response::Noop), (C, created(3))]);
    // Nobody left asleep: no NOOP; PRE_SLEEP with a job waiting: NOOP at once.
    assert_eq!(
        h.req(C, submit("f", "", "", Priority::Normal, true)),
        [(C, created(4))]
    );
    assert_eq!(h.req(W, Request::PreSleep), [(W, Response::Noop)]);
}

#[test]
fn by_default_every_sleeper_of_the_function_is_woken() {
    let mut h = H::new(Config::default());
    for w in [W, W2, 3] {
        h.req(w, Request::CanDo(b("f")));
        h.req(w, Request::PreSleep);
    }
    h.req(4, Request::CanDo(b("g")));
    h.req(4, Request::PreSleep);
    let got = h.req(C, submit("f", "", "", Priority::Normal, true));
    assert_eq!(
        got,
        [
            (W, Response::Noop),
            (W2, Response::Noop),
            (3, Response::Noop),
            (C, created(1))
        ]
    );
    // Woken ones that have not grabbed yet are not woken again.
    assert_eq!(
        h.req(C, submit("f", "", "", Priority::Normal, true)),
        [(C, created(2))]
    );
    // Sleeping again without grabbing while jobs wait: NOOP at once.
    assert_eq!(h.req(W, Request::PreSleep), [(W, Response::Noop)]);
}

#[test]
fn wakeup_setting_wakes_more_sleepers_per_job() {
    let mut h = H::new(Config {
        wakeup: 2,
        ..Config::default()
    });
    for w in [W, W2, 3] {
        h.req(w, Request::CanDo(b("f")));
        h.req(w, Request::PreSleep);
    }
    let got = h.req(C, submit("f", "", "", Priority::Normal, true));
    assert_eq!(
        got,
        [(W, Response::Noop), (W2, Response::Noop), (C, created(1))]
    );
}

#[test]
fn epoch_jobs_are_invisible_until_due_then_wake_a_sleeper() {
    let mut h = H::new(Config::default());
    h.req(W, Request::CanDo(b("f")));
    h.req(W, Request::PreSleep);
    let mut job = SubmitJob {
        function: b("f"),
        unique: b("e"),
        data: b("later"),
        priority: Priority::Normal,
        background: true,
        when: Some(h.now.unix + 10),
        reducer: None,
    };
    let mut out = Outbox::default();
    h.q.handle(C, Request::Submit(job.clone()), h.now, &mut out);
    assert!(out.timers_changed);
    assert_eq!(packets(out), [(C, created(1))]);
    assert_eq!(h.q.next_wakeup(h.now), Some(10_000));
    assert_eq!(h.admin(A, "prioritystatus"), "f\t0\t1\t0\t1\n.\n");
    assert_eq!(h.admin(A, "status"), "f\t0\t0\t1\n.\n", "counted once due");
    assert_eq!(h.req(W2, Request::CanDo(b("f"))), []);
    assert_eq!(
        h.req(W2, Request::Grab(Grab::Plain)),
        [(W2, Response::NoJob)]
    );
    h.now.unix += 9;
    assert_eq!(h.tick(), []);
    h.now.unix += 1;
    assert_eq!(h.tick(), [(W, Response::Noop)]);
    assert_eq!(h.admin(A, "status"), "f\t1\t0\t2\n.\n");
    assert_eq!(h.q.next_wakeup(h.now), None);
    assert_eq!(
        h.req(W, Request::Grab(Grab::Uniq)),
        [(W, assign_uniq(1, "f", "e", "later"))]
    );
    // An epoch in the past runs at once.
    job.unique = b("past");
    job.when = Some(5);
    assert_eq!(h.req(C, Request::Submit(job)), [(C, created(2))]);
    assert_eq!(
        h.req(W2, Request::Grab(Grab::Uniq)),
        [(W2, assign_uniq(2, "f", "past", "later"))]
    );
}

#[test]
fn can_do_timeout_requeues_the_job_and_the_late_result_is_refused() {
    let mut h = H::new(Config::default());
    h.req(C, submit("f", "", "x", Priority::Normal, false));
    h.req(
        W,
        Request::CanDoTimeout {
            function: b("f"),
            timeout: b("500"),
        },
    );
    let mut out = Outbox::default();
    h.q.handle(W, Request::Grab(Grab::Plain), h.now, &mut out);
    assert!(out.timers_changed);
    assert_eq!(h.q.next_wakeup(h.now), Some(1000), "at least one second");
    h.req(W2, Request::CanDo(b("f")));
    h.req(W2, Request::PreSleep);
    h.now.millis = 999;
    assert_eq!(h.tick(), []);
    h.now.millis = 1000;
    assert_eq!(h.tick(), [(W2, Response::Noop)]);
    assert_eq!(h.admin(A, "show jobs"), "H:test:1\t1\t0\t0\n.\n");
    assert_eq!(
        h.req(W, complete(1, "late")),
        [(
            W,
            Response::error("JOB_NOT_FOUND", "Job given in work result not found")
        )]
    );
    h.req(W2, Request::Grab(Grab::Plain));
    assert_eq!(
        h.req(W2, complete(1, "ok")),
        [(
            C,
            Response::WorkComplete {
                handle: handle(1),
                data: b("ok")
            }
        )]
    );
}

#[test]
fn a_dead_worker_requeues_until_the_retry_limit_then_clients_get_work_fail() {
    let mut h = H::new(Config {
        job_retries: 2,
        ..Config::default()
    });
    h.req(C, submit("f", "", "x", Priority::Normal, false));
    for w in [W, W2] {
        h.req(w, Request::CanDo(b("f")));
    }
    h.req(W, Request::Grab(Grab::Plain));
    assert_eq!(h.admin(A, "status"), "f\t1\t1\t2\n.\n");
    assert_eq!(h.drop_conn(W), []);
    assert_eq!(h.admin(A, "status"), "f\t1\t0\t1\n.\n");
    assert_eq!(h.req(W2, Request::Grab(Grab::Plain)).len(), 1);
    assert_eq!(
        h.drop_conn(W2),
        [(
            C,
            Response::WorkFail {
                handle: handle(1),
                trailing_nul: false
            }
        )]
    );
    assert_eq!(h.admin(A, "status"), "f\t0\t0\t0\n.\n");
}

#[test]
fn unlimited_retries_by_default() {
    let mut h = H::new(Config::default());
    h.req(C, submit("f", "", "x", Priority::Normal, true));
    for w in 1..=4 {
        h.req(w, Request::CanDo(b("f")));
        assert_eq!(h.req(w, Request::Grab(Grab::Plain)).len(), 1);
        h.drop_conn(w);
    }
    assert_eq!(h.admin(A, "show jobs"), "H:test:1\t4\t0\t1\n.\n");
}

#[test]
fn a_leaving_client_drops_its_queued_foreground_jobs_only() {
    let mut h = H::new(Config::default());
    h.req(C, submit("f", "", "fg", Priority::Normal, false));
    h.req(C, submit("f", "", "bg", Priority::Normal, true));
    h.req(C, submit("f", "shared", "fg2", Priority::Normal, false));
    h.req(C2, submit("f", "shared", "fg2", Priority::Normal, false));
    h.req(C, submit("f", "", "running", Priority::High, false));
    h.req(W, Request::CanDo(b("f")));
    assert_eq!(h.req(W, Request::Grab(Grab::Plain)).len(), 1);
    assert_eq!(h.drop_conn(C), []);
    assert_eq!(
        h.admin(A, "show jobs"),
        "H:test:2\t0\t0\t1\nH:test:3\t0\t0\t0\nH:test:4\t0\t0\t0\n.\n"
    );
    assert_eq!(h.admin(A, "status"), "f\t3\t1\t1\n.\n");
    // The worker's result for the abandoned running job is accepted quietly.
    assert_eq!(h.req(W, complete(4, "")), []);
    let next = h.req(W, Request::Grab(Grab::Uniq));
    assert_eq!(next, [(W, assign_uniq(2, "f", "", "bg"))]);
}

#[test]
fn work_results_for_jobs_the_worker_does_not_hold_are_job_not_found() {
    let mut h = H::new(Config::default());
    h.req(C, submit("f", "", "", Priority::Normal, false));
    h.req(W, Request::CanDo(b("f")));
    h.req(W2, Request::CanDo(b("f")));
    h.req(W, Request::Grab(Grab::Plain));
    let nf = |t| vec![(W2, Response::error("JOB_NOT_FOUND", t))];
    assert_eq!(
        h.req(W2, complete(1, "")),
        nf("Job given in work result not found")
    );
    assert_eq!(
        h.req(W2, Request::WorkFail { handle: handle(1) }),
        nf("Job given in work result not found")
    );
    let st = Request::WorkStatus {
        handle: handle(1),
        numerator: b("1"),
        denominator: b("2"),
    };
    assert_eq!(h.req(W2, st), nf("Job given in work result not found"));
    assert_eq!(
        h.req(
            W2,
            Request::WorkData {
                handle: handle(1),
                data: b("")
            }
        ),
        nf("Job does not exist on server")
    );
    assert_eq!(
        h.req(
            W2,
            Request::WorkException {
                handle: handle(1),
                data: b("")
            }
        ),
        nf("An exception was received for a job that does not exist")
    );
    assert_eq!(
        h.req(W2, complete(99, "")),
        nf("Job given in work result not found")
    );
    assert_eq!(
        h.req(C, Request::EchoReq(b("e\0cho"))),
        [(C, Response::EchoRes(b("e\0cho")))]
    );
}

#[test]
fn a_woken_worker_that_leaves_or_drops_the_function_hands_the_wakeup_on() {
    let mut h = H::new(Config {
        wakeup: 1,
        ..Config::default()
    });
    for w in [W, W2, 3] {
        h.req(w, Request::CanDo(b("f")));
        h.req(w, Request::PreSleep);
    }
    let got = h.req(C, submit("f", "", "", Priority::Normal, true));
    assert_eq!(got, [(W, Response::Noop), (C, created(1))]);
    // Woken, it leaves without grabbing: the next sleeper is woken.
    assert_eq!(h.drop_conn(W), [(W2, Response::Noop)]);
    // Woken, it stops doing the function: the next one.
    assert_eq!(h.req(W2, Request::CantDo(b("f"))), [(3, Response::Noop)]);
    assert_eq!(h.req(3, Request::ResetAbilities), []);
}

#[test]
fn sched_jobs_wait_for_the_next_matching_minute() {
    let mut h = H::new(Config::default());
    // 1970-01-12 13:46:40 UTC, a Monday; due at 13:50.
    h.now.unix = 1_000_000;
    h.req(W, Request::CanDo(b("f")));
    h.req(W, Request::PreSleep);
    let job = SubmitJob {
        function: b("f"),
        unique: b(""),
        data: b("d"),
        priority: Priority::Normal,
        background: true,
        when: None,
        reducer: None,
    };
    let sched = crate::proto::Sched {
        minute: Some(50),
        ..Default::default()
    };
    let got = h.req(
        C,
        Request::SubmitSched {
            job: job.clone(),
            sched,
        },
    );
    assert_eq!(got, [(C, created(1))]);
    assert_eq!(h.q.next_wakeup(h.now), Some(200_000));
    h.now.unix = 1_000_199;
    assert_eq!(h.tick(), []);
    h.now.unix = 1_000_200;
    assert_eq!(h.tick(), [(W, Response::Noop)]);
    // A date that never comes: refused.
    let never = crate::proto::Sched {
        mday: Some(31),
        month: Some(4),
        ..Default::default()
    };
    let got = h.req(C, Request::SubmitSched { job, sched: never });
    assert_eq!(
        got,
        [(
            C,
            Response::error(
                "INVALID_ARGUMENTS",
                "Schedule fields out of range or never matching"
            )
        )]
    );
}

#[test]
fn lost_jobs_back_off_exponentially_then_go_to_the_dead_letter_list() {
    let mut h = H::new(Config {
        job_retries: 3,
        retry_backoff_ms: 1000,
        ..Config::default()
    });
    h.tick();
    h.req(C, submit("f", "u1", "x", Priority::Normal, false));
    let mut w: ConnId = 10;
    let mut lose = |h: &mut H| {
        h.q.connect(w, "w".into());
        h.req(w, Request::CanDo(b("f")));
        let got = h.req(w, Request::Grab(Grab::Plain));
        assert!(
            matches!(got[..], [(_, Response::JobAssign { .. })]),
            "{got:?}"
        );
        let out = h.drop_conn(w);
        w += 1;
        out
    };
    // Lost once: 1 s before anyone gets it again; then 2 s.
    assert_eq!(lose(&mut h), []);
    for wait in [1000, 2000] {
        assert_eq!(h.q.next_wakeup(h.now), Some(wait));
        assert_eq!(h.admin(A, "status"), "f\t0\t0\t0\n.\n", "backing off");
        h.q.connect(20, "p".into());
        h.req(20, Request::CanDo(b("f")));
        assert_eq!(
            h.req(20, Request::Grab(Grab::Plain)),
            [(20, Response::NoJob)]
        );
        h.drop_conn(20);
        h.now.millis += wait - 1;
        h.tick();
        assert_eq!(h.admin(A, "status"), "f\t0\t0\t0\n.\n");
        h.now.millis += 1;
        h.tick();
        assert_eq!(h.admin(A, "status"), "f\t1\t0\t0\n.\n", "due again");
        if wait == 1000 {
            assert_eq!(lose(&mut h), []);
        }
    }
    // The third loss gives it up: WORK_FAIL, and kept as a dead letter.
    let fail = Response::WorkFail {
        handle: handle(1),
        trailing_nul: false,
    };
    assert_eq!(lose(&mut h), [(C, fail)]);
    assert_eq!(h.admin(A, "status"), "f\t0\t0\t0\n.\n");
    assert_eq!(
        h.admin(A, "deadletter list"),
        "H:test:1\tf\tu1\t3\tworker-disconnected\n.\n"
    );
    assert_eq!(
        h.admin(A, "deadletter drop H:test:9"),
        "ERR UNKNOWN_JOB\r\n"
    );
    // Requeued: a background job with its old handle, for any worker.
    assert_eq!(h.admin(A, "deadletter requeue H:test:1"), "OK\r\n");
    assert_eq!(h.admin(A, "deadletter list"), ".\n");
    h.q.connect(30, "w".into());
    h.req(30, Request::CanDo(b("f")));
    assert_eq!(
        h.req(30, Request::Grab(Grab::Uniq)),
        [(30, assign_uniq(1, "f", "u1", "x"))]
    );
    assert_eq!(h.req(30, complete(1, "ok")), []);
    assert_eq!(h.q.job_count(), 0);
}
