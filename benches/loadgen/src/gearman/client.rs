//! The submitting clients. `bg`: SUBMIT_JOB_BG pipelined with a window of
//! JOB_CREATED replies outstanding. `fg`: SUBMIT_JOB round trips, one at a
//! time, each waiting for JOB_CREATED and then WORK_COMPLETE. The request
//! is encoded once and appended for every job.

use std::sync::Arc;

use anyhow::{anyhow, bail, Result};

use super::conn::Conn;
use super::proto::{self, args, ty, Desync};
use super::Shared;

/// Submit `jobs` background jobs keeping up to `window` JOB_CREATED
/// replies outstanding. An ERROR reply takes the place of a JOB_CREATED.
pub async fn background(
    mut conn: Conn,
    jobs: u64,
    window: u64,
    packet: Arc<Vec<u8>>,
    sh: Arc<Shared>,
) -> Result<()> {
    let mut left = jobs;
    let mut outstanding = 0u64;
    while left > 0 || outstanding > 0 {
        while left > 0 && outstanding < window {
            conn.wbuf.extend_from_slice(&packet);
            left -= 1;
            outstanding += 1;
        }
        conn.flush().await?;
        let mut f = conn.recv().await?;
        let mut created = 0;
        loop {
            match f.ty {
                ty::JOB_CREATED => created += 1,
                ty::ERROR => sh.count_error(&proto::error_text(conn.body(f).0)),
                t => bail!(Desync(format!(
                    "{} (type {t}) in reply to SUBMIT_JOB_BG",
                    proto::name(t)
                ))),
            }
            if outstanding == 0 {
                bail!(Desync("a reply with no submit outstanding".into()));
            }
            outstanding -= 1;
            conn.consume(f);
            match conn.next_frame()? {
                Some(g) => f = g,
                None => break,
            }
        }
        sh.count_created(created);
    }
    sh.submits_done();
    Ok(())
}

/// Where a foreground job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fg {
    /// Waiting for JOB_CREATED (or ERROR).
    Submitted,
    /// Waiting for the result.
    Created,
}

/// `jobs` SUBMIT_JOB round trips in sequence. Each must end in a
/// WORK_COMPLETE for its handle carrying `payload` (an echo), an ERROR
/// instead of JOB_CREATED, or a WORK_FAIL/WORK_EXCEPTION.
pub async fn foreground(
    mut conn: Conn,
    jobs: u64,
    packet: Arc<Vec<u8>>,
    payload: Arc<Vec<u8>>,
    sh: Arc<Shared>,
) -> Result<()> {
    let mut handle = Vec::with_capacity(64);
    for _ in 0..jobs {
        conn.wbuf.extend_from_slice(&packet);
        conn.flush().await?;
        let mut state = Fg::Submitted;
        loop {
            let f = conn.recv().await?;
            let (body, _) = conn.body(f);
            let finished = match (f.ty, state) {
                (ty::JOB_CREATED, Fg::Submitted) => {
                    handle.clear();
                    handle.extend_from_slice(body);
                    state = Fg::Created;
                    false
                }
                (ty::ERROR, Fg::Submitted) => {
                    sh.count_error(&proto::error_text(body));
                    true
                }
                (ty::WORK_COMPLETE, Fg::Created) => {
                    let [h, data] = args::<2>(body)
                        .ok_or_else(|| anyhow!(Desync("WORK_COMPLETE without a NUL".into())))?;
                    if h != handle {
                        bail!(Desync(format!(
                            "WORK_COMPLETE for {} while waiting for {}",
                            proto::show(h),
                            proto::show(&handle)
                        )));
                    }
                    if data != payload.as_slice() {
                        bail!(
                            "WORK_COMPLETE for {} carries {} bytes that are not the payload",
                            proto::show(h),
                            data.len()
                        );
                    }
                    sh.count_round_trip();
                    true
                }
                (ty::WORK_FAIL | ty::WORK_EXCEPTION, Fg::Created) if body.starts_with(&handle) => {
                    sh.count_fail();
                    true
                }
                (ty::WORK_STATUS | ty::WORK_DATA | ty::WORK_WARNING, Fg::Created) => false,
                (t, s) => bail!(Desync(format!("{} (type {t}) while {s:?}", proto::name(t)))),
            };
            conn.consume(f);
            if finished {
                break;
            }
        }
    }
    Ok(())
}
