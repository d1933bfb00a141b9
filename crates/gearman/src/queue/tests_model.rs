//! The engine against a naive model over random operation sequences: which
//! job each grab gets, who hears about each result, and the counters
//! `status` shows.

use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::*;

use super::tests::{b, submit, H};
use super::*;
use crate::proto::{Grab, Priority, Request, Response};

#[derive(Debug, Clone)]
enum Op {
    Submit {
        client: u64,
        func: usize,
        uniq: Option<u8>,
        prio: Priority,
        bg: bool,
    },
    Grab {
        worker: u64,
    },
    Complete {
        worker: u64,
    },
    Fail {
        worker: u64,
    },
    DropWorker {
        worker: u64,
    },
    PreSleep {
        worker: u64,
    },
    DropClient {
        client: u64,
    },
}

const FUNCS: [&str; 2] = ["f0", "f1"];
const WORKERS: [u64; 3] = [1, 2, 3];
const CLIENTS: [u64; 3] = [5, 6, 7];

fn op() -> impl Strategy<Value = Op> {
    let prio = prop_oneof![
        Just(Priority::High),
        Just(Priority::Normal),
        Just(Priority::Low)
    ];
    prop_oneof![
        4 => (0usize..3, 0usize..2, proptest::option::of(0u8..3), prio, any::<bool>()).prop_map(
            |(c, func, uniq, prio, bg)| Op::Submit { client: CLIENTS[c], func, uniq, prio, bg }
        ),
        3 => (0usize..3).prop_map(|w| Op::Grab { worker: WORKERS[w] }),
        2 => (0usize..3).prop_map(|w| Op::Complete { worker: WORKERS[w] }),
        1 => (0usize..3).prop_map(|w| Op::Fail { worker: WORKERS[w] }),
        1 => (0usize..3).prop_map(|w| Op::DropWorker { worker: WORKERS[w] }),
        1 => (0usize..3).prop_map(|c| Op::DropClient { client: CLIENTS[c] }),
        2 => (0usize..3).prop_map(|w| Op::PreSleep { worker: WORKERS[w] }),
    ]
}

#[derive(Debug, Clone)]
struct MJob {
    func: usize,
    uniq: Option<u8>,
    prio: Priority,
    bg: bool,
    listeners: Vec<u64>,
    worker: Option<u64>,
    /// When the worker got it (a dead worker's jobs go back in this order).
    assigned: u64,
}

/// The model: jobs by number; the queue order is (priority, number),
/// except that a requeued job goes to the back: `order` is its position.
#[derive(Debug, Default)]
struct Model {
    jobs: BTreeMap<u64, MJob>,
    order: HashMap<u64, u64>,
    tick: u64,
    next: u64,
}

impl Model {
    fn enqueue(&mut self, seq: u64) {
        self.tick += 1;
        self.order.insert(seq, self.tick);
    }

    fn remove(&mut self, seq: u64) {
        self.jobs.remove(&seq);
        self.order.remove(&seq);
    }

    fn requeue(&mut self, worker: u64) {
        let mut held: Vec<(u64, u64)> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.worker == Some(worker))
            .map(|(&s, j)| (j.assigned, s))
            .collect();
        held.sort_unstable();
        let held: Vec<u64> = held.into_iter().map(|(_, s)| s).collect();
        for s in held {
            let j = self.jobs.get_mut(&s).expect("held");
            j.worker = None;
            if !j.bg && j.listeners.is_empty() {
                self.remove(s);
            } else {
                self.enqueue(s);
            }
        }
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut h = H::new(Config::default());
    let mut m = Model {
        next: 1,
        ..Model::default()
    };
    let mut alive: HashSet<u64> = (1..=9).collect();
    for w in WORKERS {
        for f in FUNCS {
            h.req(w, Request::CanDo(b(f)));
        }
    }
    for op in ops {
        match op {
            Op::Submit {
                client,
                func,
                uniq,
                prio,
                bg,
            } => {
                if !alive.contains(&client) {
                    continue;
                }
                let u = uniq.map(|u| format!("u{u}")).unwrap_or_default();
                let got = h.req(client, submit(FUNCS[func], &u, "d", prio, bg));
                let existing = m
                    .jobs
                    .iter()
                    .find(|(_, j)| uniq.is_some() && j.uniq == uniq && j.func == func)
                    .map(|(&s, _)| s);
                let seq = match existing {
                    Some(s) => {
                        let j = m.jobs.get_mut(&s).expect("job");
                        if bg {
                            j.bg = true;
                        } else {
                            j.listeners.push(client);
                        }
                        s
                    }
                    None => {
                        let s = m.next;
                        m.next += 1;
                        let listeners = if bg { vec![] } else { vec![client] };
                        m.jobs.insert(
                            s,
                            MJob {
                                func,
                                uniq,
                                prio,
                                bg,
                                listeners,
                                worker: None,
                                assigned: 0,
                            },
                        );
                        m.enqueue(s);
                        s
                    }
                };
                m.next = m.next.max(seq + 1);
                let h_ = b(&format!("H:test:{seq}"));
                let (noops, rest): (Vec<_>, Vec<_>) =
                    got.into_iter().partition(|(_, r)| *r == Response::Noop);
                prop_assert_eq!(rest, vec![(client, Response::JobCreated(h_))]);
                let mut woken: Vec<ConnId> = noops.iter().map(|(c, _)| *c).collect();
                woken.sort_unstable();
                woken.dedup();
                prop_assert_eq!(
                    woken.len(),
                    noops.len(),
                    "one NOOP per sleeper: {:?}",
                    noops
                );
            }
            Op::Grab { worker } => {
                if !alive.contains(&worker) {
                    continue;
                }
                let got = h.req(worker, Request::Grab(Grab::Plain));
                let want = m
                    .jobs
                    .iter()
                    .filter(|(_, j)| j.worker.is_none())
                    .min_by_key(|(s, j)| (j.prio, m.order[s]))
                    .map(|(&s, _)| s);
                match want {
                    None => prop_assert_eq!(got, vec![(worker, Response::NoJob)]),
                    Some(s) => {
                        m.tick += 1;
                        let j = m.jobs.get_mut(&s).expect("job");
                        j.worker = Some(worker);
                        j.assigned = m.tick;
                        m.order.remove(&s);
                        let hd = b(&format!("H:test:{s}"));
                        let f = FUNCS[m.jobs[&s].func];
                        prop_assert_eq!(
                            got,
                            vec![(
                                worker,
                                Response::JobAssign {
                                    handle: hd,
                                    function: b(f),
                                    data: b("d")
                                }
                            )]
                        );
                    }
                }
            }
            Op::Complete { worker } | Op::Fail { worker } => {
                let fail = matches!(op, Op::Fail { .. });
                let Some((&s, j)) = m.jobs.iter().find(|(_, j)| j.worker == Some(worker)) else {
                    continue;
                };
                let hd = b(&format!("H:test:{s}"));
                let (req, resp) = if fail {
                    (
                        Request::WorkFail { handle: hd.clone() },
                        Response::WorkFail {
                            handle: hd,
                            trailing_nul: false,
                        },
                    )
                } else {
                    (
                        Request::WorkComplete {
                            handle: hd.clone(),
                            data: b("r"),
                        },
                        Response::WorkComplete {
                            handle: hd,
                            data: b("r"),
                        },
                    )
                };
                let want: Vec<(ConnId, Response)> =
                    j.listeners.iter().map(|&c| (c, resp.clone())).collect();
                prop_assert_eq!(h.req(worker, req), want);
                m.remove(s);
            }
            Op::DropWorker { worker } => {
                if !alive.remove(&worker) {
                    continue;
                }
                let mut out = Outbox::default();
                h.q.disconnect(worker, &mut out);
                let only_noops = out
                    .msgs
                    .iter()
                    .all(|(_, m)| *m == Msg::Packet(Response::Noop));
                prop_assert!(only_noops, "{:?}", out.msgs);
                m.requeue(worker);
            }
            Op::PreSleep { worker } => {
                if !alive.contains(&worker) {
                    continue;
                }
                let got = h.req(worker, Request::PreSleep);
                let waiting = m.jobs.values().any(|j| j.worker.is_none());
                let want = if waiting {
                    vec![(worker, Response::Noop)]
                } else {
                    vec![]
                };
                prop_assert_eq!(got, want);
            }
            Op::DropClient { client } => {
                if !alive.remove(&client) {
                    continue;
                }
                let mut out = Outbox::default();
                h.q.disconnect(client, &mut out);
                prop_assert!(out.msgs.is_empty());
                let seqs: Vec<u64> = m.jobs.keys().copied().collect();
                for s in seqs {
                    let j = m.jobs.get_mut(&s).expect("job");
                    j.listeners.retain(|&c| c != client);
                    if j.listeners.is_empty() && !j.bg && j.worker.is_none() {
                        m.remove(s);
                    }
                }
            }
        }
        check_counters(&h.q, &m)?;
        check_nobody_sleeps_on_work(&h.q)?;
    }
    Ok(())
}

/// No lost wake-up: while a function has runnable jobs, some worker that
/// can do it is awake or has been sent its `NOOP`.
fn check_nobody_sleeps_on_work(q: &Queue) -> Result<(), TestCaseError> {
    for (fid, f) in q.functions.iter().enumerate() {
        let Some(f) = f else { continue };
        if !f.has_runnable() {
            continue;
        }
        let capable: Vec<&conn::Conn> = q
            .conns
            .values()
            .filter(|c| c.abilities.iter().any(|a| a.func == fid))
            .collect();
        prop_assert!(
            capable.is_empty() || capable.iter().any(|c| !c.sleeping || c.noop_sent),
            "jobs wait while every worker of {:?} sleeps",
            f.name
        );
    }
    Ok(())
}

/// `status` and `prioritystatus` agree with the model.
fn check_counters(q: &Queue, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(q.job_count(), m.jobs.len());
    for (fid, name) in FUNCS.iter().enumerate() {
        let Some(&id) = q.by_name.get(&b(name)) else {
            continue;
        };
        let f = q.func(id).expect("function");
        let mine: Vec<&MJob> = m.jobs.values().filter(|j| j.func == fid).collect();
        prop_assert_eq!(f.total, mine.len());
        prop_assert_eq!(
            f.running,
            mine.iter().filter(|j| j.worker.is_some()).count()
        );
        let mut queued = [0usize; 3];
        for j in mine.iter().filter(|j| j.worker.is_none()) {
            queued[j.prio.index()] += 1;
        }
        prop_assert_eq!(f.queued(), queued);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn engine_matches_the_model(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops)?;
    }
}
