//! Engine tests: requests in, addressed packets out, no sockets.

use bytes::Bytes;

use super::*;
use crate::proto::{Admin, Grab, Priority, Request, Response, SubmitJob};

pub(super) struct H {
    pub q: Queue,
    pub now: Now,
}

pub(super) fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

pub(super) fn submit(f: &str, u: &str, d: &str, p: Priority, bg: bool) -> Request {
    Request::Submit(SubmitJob {
        function: b(f),
        unique: b(u),
        data: b(d),
        priority: p,
        background: bg,
        when: None,
        reducer: None,
    })
}

pub(super) fn handle(n: u64) -> Bytes {
    b(&format!("H:test:{n}"))
}

impl H {
    pub fn new(cfg: Config) -> H {
        let mut q = Queue::new(Config {
            handle_prefix: "H:test".into(),
            ..cfg
        });
        for c in 1..=9 {
            q.connect(c, format!("{} 127.0.0.1", 30 + c));
        }
        H {
            q,
            now: Now {
                unix: 1_000_000,
                millis: 0,
            },
        }
    }

    pub fn req(&mut self, from: ConnId, r: Request) -> Vec<(ConnId, Response)> {
        let mut out = Outbox::default();
        self.q.handle(from, r, self.now, &mut out);
        packets(out)
    }

    pub fn admin(&mut self, from: ConnId, line: &str) -> String {
        let mut out = Outbox::default();
        self.q.admin(from, &Admin::parse(line.as_bytes()), &mut out);
        match out.msgs.as_slice() {
            [(to, Msg::Text(t))] if *to == from => String::from_utf8_lossy(t).into_owned(),
            other => panic!("admin reply {other:?}"),
        }
    }

    pub fn tick(&mut self) -> Vec<(ConnId, Response)> {
        let mut out = Outbox::default();
        self.q.tick(self.now, &mut out);
        packets(out)
    }

    pub fn drop_conn(&mut self, c: ConnId) -> Vec<(ConnId, Response)> {
        let mut out = Outbox::default();
        self.q.disconnect(c, &mut out);
        packets(out)
    }
}

pub(super) fn packets(out: Outbox) -> Vec<(ConnId, Response)> {
    out.msgs
        .into_iter()
        .map(|(c, m)| match m {
            Msg::Packet(r) => (c, r),
            Msg::Text(t) => panic!("unexpected text {t:?}"),
        })
        .collect()
}

pub(super) fn assign_uniq(n: u64, f: &str, u: &str, d: &str) -> Response {
    Response::JobAssignUniq {
        handle: handle(n),
        function: b(f),
        unique: b(u),
        data: b(d),
    }
}

pub(super) fn created(n: u64) -> Response {
    Response::JobCreated(handle(n))
}

pub(super) fn complete(n: u64, d: &str) -> Request {
    Request::WorkComplete {
        handle: handle(n),
        data: b(d),
    }
}

pub(super) const W: ConnId = 1;
pub(super) const W2: ConnId = 2;
pub(super) const C: ConnId = 5;
pub(super) const C2: ConnId = 6;
pub(super) const A: ConnId = 9;

#[test]
fn a_background_job_runs_once_and_is_gone() {
    let mut h = H::new(Config::default());
    assert_eq!(
        h.req(C, submit("rev", "u1", "abc", Priority::Normal, true)),
        [(C, created(1))]
    );
    assert_eq!(h.admin(A, "status"), "rev\t1\t0\t0\n.\n");
    h.req(W, Request::CanDo(b("rev")));
    assert_eq!(
        h.req(W, Request::Grab(Grab::Uniq)),
        [(W, assign_uniq(1, "rev", "u1", "abc"))]
    );
    assert_eq!(h.admin(A, "status"), "rev\t1\t1\t1\n.\n");
    assert_eq!(h.req(W, complete(1, "cba")), []);
    assert_eq!(h.admin(A, "status"), "rev\t0\t0\t1\n.\n");
    assert_eq!(h.req(W, Request::Grab(Grab::Plain)), [(W, Response::NoJob)]);
    assert_eq!(h.q.job_count(), 0);
}

#[test]
fn foreground_clients_get_status_data_and_the_result_in_order() {
    let mut h = H::new(Config::default());
    h.req(C, submit("f", "", "x", Priority::Normal, false));
    h.req(W, Request::CanDo(b("f")));
    let got = h.req(W, Request::Grab(Grab::Plain));
    assert_eq!(
        got,
        [(
            W,
            Response::JobAssign {
                handle: handle(1),
                function: b("f"),
                data: b("x")
            }
        )]
    );
    let status = Request::WorkStatus {
        handle: handle(1),
        numerator: b("1"),
        denominator: b("4"),
    };
    assert_eq!(
        h.req(W, status),
        [(
            C,
            Response::WorkStatus {
                handle: handle(1),
                numerator: b("1"),
                denominator: b("4")
            }
        )]
    );
    assert_eq!(
        h.req(C2, Request::GetStatus(handle(1))),
        [(
            C2,
            Response::StatusRes {
                handle: handle(1),
                known: true,
                running: true,
                numerator: 1,
                denominator: 4
            }
        )]
    );
    assert_eq!(
        h.req(
            W,
            Request::WorkData {
                handle: handle(1),
                data: b("d\0")
            }
        ),
        [(
            C,
            Response::WorkData {
                handle: handle(1),
                data: b("d\0")
            }
        )]
    );
    assert_eq!(
        h.req(
            W,
            Request::WorkWarning {
                handle: handle(1),
                data: b("w")
            }
        ),
        [(
            C,
            Response::WorkWarning {
                handle: handle(1),
                data: b("w")
            }
        )]
    );
    assert_eq!(
        h.req(W, complete(1, "done")),
        [(
            C,
            Response::WorkComplete {
                handle: handle(1),
                data: b("done")
            }
        )]
    );
    assert_eq!(
        h.req(C, Request::GetStatus(handle(1))),
        [(
            C,
            Response::StatusRes {
                handle: handle(1),
                known: false,
                running: false,
                numerator: 0,
                denominator: 0
            }
        )]
    );
}

#[test]
fn priorities_are_served_high_normal_low_fifo_across_functions() {
    let mut h = H::new(Config::default());
    h.req(C, submit("a", "", "a-low", Priority::Low, true));
    h.req(C, submit("b", "", "b-normal-1", Priority::Normal, true));
    h.req(C, submit("a", "", "a-normal-2", Priority::Normal, true));
    h.req(C, submit("b", "", "b-high", Priority::High, true));
    h.req(W, Request::CanDo(b("a")));
    h.req(W, Request::CanDo(b("b")));
    let mut order = Vec::new();
    for _ in 0..4 {
        match h.req(W, Request::Grab(Grab::Plain)).pop() {
            Some((_, Response::JobAssign { data, handle, .. })) => {
                order.push(String::from_utf8_lossy(&data).into_owned());
                h.req(
                    W,
                    Request::WorkComplete {
                        handle,
                        data: Bytes::new(),
                    },
                );
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(order, ["b-high", "b-normal-1", "a-normal-2", "a-low"]);
}

#[test]
fn same_unique_coalesces_and_every_foreground_submitter_gets_the_result() {
    let mut h = H::new(Config::default());
    assert_eq!(
        h.req(C, submit("f", "k", "1", Priority::Normal, false)),
        [(C, created(1))]
    );
    assert_eq!(
        h.req(C2, submit("f", "k", "2", Priority::High, false)),
        [(C2, created(1))]
    );
    assert_eq!(
        h.req(C, submit("f", "k", "3", Priority::Low, true)),
        [(C, created(1))]
    );
    assert_eq!(
        h.req(C, submit("g", "k", "other function", Priority::Low, true)),
        [(C, created(2))]
    );
    assert_eq!(
        h.req(C2, Request::GetStatusUnique(b("k"))),
        [(
            C2,
            Response::StatusResUnique {
                unique: b("k"),
                known: true,
                running: false,
                numerator: 0,
                denominator: 0,
                waiting: 2
            }
        )]
    );
    h.req(W, Request::CanDo(b("f")));
    assert_eq!(
        h.req(W, Request::Grab(Grab::Uniq)),
        [(W, assign_uniq(1, "f", "k", "1"))]
    );
    let done = h.req(W, complete(1, "r"));
    let wc = Response::WorkComplete {
        handle: handle(1),
        data: b("r"),
    };
    assert_eq!(done, [(C, wc.clone()), (C2, wc)]);
    // The key is free again.
    assert_eq!(
        h.req(C, submit("f", "k", "4", Priority::Normal, true)),
        [(C, created(3))]
    );
}

#[test]
fn dash_unique_means_the_data_is_the_key() {
    let mut h = H::new(Config::default());
    assert_eq!(
        h.req(C, submit("f", "-", "same", Priority::Normal, true)),
        [(C, created(1))]
    );
    assert_eq!(
        h.req(C, submit("f", "-", "same", Priority::Normal, true)),
        [(C, created(1))]
    );
    assert_eq!(
        h.req(C, submit("f", "-", "diff", Priority::Normal, true)),
        [(C, created(2))]
    );
    assert_eq!(
        h.req(C, submit("f", "same", "x", Priority::Normal, true)),
        [(C, created(3))]
    );
    assert_eq!(
        h.req(C, submit("f", "", "x", Priority::Normal, true)),
        [(C, created(4))]
    );
    assert_eq!(
        h.req(C, submit("f", "", "x", Priority::Normal, true)),
        [(C, created(5))]
    );
    h.req(W, Request::CanDo(b("f")));
    assert_eq!(
        h.req(W, Request::Grab(Grab::All)),
        [(W, assign_uniq(1, "f", "-", "same"))]
    );
}

#[test]
fn exceptions_go_to_clients_that_asked_and_fails_to_the_others() {
    let mut h = H::new(Config::default());
    assert_eq!(
        h.req(C, Request::OptionReq(b("exceptions"))),
        [(C, Response::OptionRes(b("exceptions")))]
    );
    assert_eq!(
        h.req(C, Request::OptionReq(b("bogus"))),
        [(
            C,
            Response::error("UNKNOWN_OPTION", "Server does not recognize given option")
        )]
    );
    h.req(C, submit("f", "u", "", Priority::Normal, false));
    h.req(C2, submit("f", "u", "", Priority::Normal, false));
    h.req(W, Request::CanDo(b("f")));
    h.req(W, Request::Grab(Grab::Uniq));
    let got = h.req(
        W,
        Request::WorkException {
            handle: handle(1),
            data: b("boom"),
        },
    );
    assert_eq!(
        got,
        [
            (
                C,
                Response::WorkException {
                    handle: handle(1),
                    data: b("boom")
                }
            ),
            (
                C2,
                Response::WorkFail {
                    handle: handle(1),
                    trailing_nul: true
                }
            ),
        ]
    );
    assert_eq!(h.q.job_count(), 0, "an exception ends the job");
}
