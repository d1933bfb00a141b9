//! An echo worker: `CAN_DO bench`, then GRAB_JOB (or GRAB_JOB_UNIQ); on
//! JOB_ASSIGN it sends WORK_COMPLETE with the job's data and grabs again in
//! the same write; on NO_JOB it sends PRE_SLEEP and grabs again after the
//! NOOP. One job at a time, like the Perl and libgearman workers.

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};

use super::conn::Conn;
use super::proto::{self, args, ty, Desync, Frame, HEADER};
use super::Shared;
use crate::net::Target;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// One GRAB in flight.
    Grabbing,
    /// PRE_SLEEP sent; waiting for a NOOP.
    Sleeping,
}

pub struct Worker {
    conn: Conn,
    grab: [u8; HEADER],
    pre_sleep: [u8; HEADER],
    state: State,
    sh: Arc<Shared>,
}

impl Worker {
    pub async fn connect(target: &Target, grab: u32, sh: Arc<Shared>) -> Result<Worker> {
        Ok(Worker {
            conn: Conn::connect(target).await?,
            grab: proto::empty_request(grab),
            pre_sleep: proto::empty_request(ty::PRE_SLEEP),
            state: State::Grabbing,
            sh,
        })
    }

    /// Register `func` and grab until NO_JOB, completing (and counting as
    /// stale) whatever an earlier run left queued; the worker then sleeps.
    pub async fn prepare(&mut self, func: &[u8]) -> Result<u64> {
        proto::request(&mut self.conn.wbuf, ty::CAN_DO, &[func]);
        self.conn.wbuf.extend_from_slice(&self.grab);
        self.state = State::Grabbing;
        let mut stale = 0;
        while self.state == State::Grabbing {
            self.conn.flush().await?;
            let f = self.conn.recv().await?;
            stale += self.handle(f)?;
        }
        self.conn.flush().await?;
        Ok(stale)
    }

    /// Serve until the connection fails or the task is aborted. Completed
    /// jobs are counted once per batch, after the batch is written.
    pub async fn run(mut self) -> Result<()> {
        loop {
            let mut f = self.conn.recv().await?;
            let mut done = 0;
            loop {
                done += self.handle(f)?;
                match self.conn.next_frame()? {
                    Some(g) => f = g,
                    None => break,
                }
            }
            self.conn.flush().await?;
            if done > 0 {
                self.sh.completed(done);
            }
        }
    }

    /// Answer the frame at the front of the read buffer; returns the jobs
    /// it completed (0 or 1).
    fn handle(&mut self, f: Frame) -> Result<u64> {
        let (body, out) = self.conn.body(f);
        let done = match (f.ty, self.state) {
            (ty::JOB_ASSIGN | ty::JOB_ASSIGN_UNIQ, State::Grabbing) => {
                let (handle, data) = if f.ty == ty::JOB_ASSIGN {
                    args::<3>(body).map(|[h, _func, d]| (h, d))
                } else {
                    args::<4>(body).map(|[h, _func, _uniq, d]| (h, d))
                }
                .ok_or_else(|| {
                    anyhow!(Desync(format!(
                        "{} without its NULs: {}",
                        proto::name(f.ty),
                        proto::show(body)
                    )))
                })?;
                proto::request(out, ty::WORK_COMPLETE, &[handle, data]);
                out.extend_from_slice(&self.grab);
                1
            }
            (ty::NO_JOB, State::Grabbing) => {
                out.extend_from_slice(&self.pre_sleep);
                self.state = State::Sleeping;
                self.sh.count_sleep();
                0
            }
            (ty::NOOP, State::Sleeping) => {
                out.extend_from_slice(&self.grab);
                self.state = State::Grabbing;
                0
            }
            // A wake-up for a sleep that is already over.
            (ty::NOOP, State::Grabbing) => 0,
            (ty::ERROR, _) => {
                let text = proto::error_text(body);
                self.sh.count_error(&text);
                bail!("worker got ERROR {text}");
            }
            (t, s) => bail!(Desync(format!("{} (type {t}) while {s:?}", proto::name(t)))),
        };
        self.conn.consume(f);
        Ok(done)
    }
}
