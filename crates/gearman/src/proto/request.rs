//! Requests: the packets clients and workers send (`\0REQ`), decoded with
//! each type's argument count checked strictly inside the packet.

use bytes::{Bytes, BytesMut};

use super::args::{put_packet, ArgReader};
use super::{Command, Magic};

/// The longest unique id gearmand accepts (`GEARMAN_UNIQUE_SIZE`).
pub const MAX_UNIQUE: usize = 64;

/// Job priority. Workers get high before normal before low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// `SUBMIT_JOB_HIGH[_BG]`
    High = 0,
    /// `SUBMIT_JOB[_BG]`, `SUBMIT_JOB_EPOCH`, `SUBMIT_REDUCE_JOB*`
    Normal = 1,
    /// `SUBMIT_JOB_LOW[_BG]`
    Low = 2,
}

impl Priority {
    /// High, normal, low: the order workers are served in.
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    /// 0, 1 or 2 (gearmand's numbering, also the column order of
    /// `maxqueue` and `prioritystatus`).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Any of the submit packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitJob {
    /// The function name.
    pub function: Bytes,
    /// The unique id: empty = none, `-` = the data is the unique key.
    pub unique: Bytes,
    /// The workload.
    pub data: Bytes,
    /// Its priority.
    pub priority: Priority,
    /// A background job: the submitter does not wait for the result.
    pub background: bool,
    /// `SUBMIT_JOB_EPOCH`: not runnable before this unix time.
    pub when: Option<i64>,
    /// `SUBMIT_REDUCE_JOB*`: the reducer function.
    pub reducer: Option<Bytes>,
}

impl SubmitJob {
    /// The packet type that carries this submission.
    pub fn command(&self) -> Command {
        if self.reducer.is_some() {
            return if self.background {
                Command::SubmitReduceJobBackground
            } else {
                Command::SubmitReduceJob
            };
        }
        if self.when.is_some() {
            return Command::SubmitJobEpoch;
        }
        match (self.priority, self.background) {
            (Priority::High, false) => Command::SubmitJobHigh,
            (Priority::High, true) => Command::SubmitJobHighBg,
            (Priority::Normal, false) => Command::SubmitJob,
            (Priority::Normal, true) => Command::SubmitJobBg,
            (Priority::Low, false) => Command::SubmitJobLow,
            (Priority::Low, true) => Command::SubmitJobLowBg,
        }
    }
}

/// Which grab: what the assignment packet carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grab {
    /// `GRAB_JOB` → `JOB_ASSIGN` (no unique).
    Plain,
    /// `GRAB_JOB_UNIQ` → `JOB_ASSIGN_UNIQ`.
    Uniq,
    /// `GRAB_JOB_ALL` → `JOB_ASSIGN_ALL` for reduce jobs, else `JOB_ASSIGN_UNIQ`.
    All,
}

/// A packet from a client or worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `CAN_DO func`
    CanDo(Bytes),
    /// `CAN_DO_TIMEOUT func timeout` (milliseconds, as text).
    CanDoTimeout {
        /// The function.
        function: Bytes,
        /// The timeout as sent.
        timeout: Bytes,
    },
    /// `CANT_DO func`
    CantDo(Bytes),
    /// `RESET_ABILITIES`
    ResetAbilities,
    /// `PRE_SLEEP`
    PreSleep,
    /// Any submit packet.
    Submit(SubmitJob),
    /// `SUBMIT_JOB_SCHED`: a background job not runnable before the next
    /// time `sched` matches (the server turns it into an epoch job).
    SubmitSched {
        /// The job (background, normal priority).
        job: SubmitJob,
        /// When it is due.
        sched: super::Sched,
    },
    /// `GRAB_JOB`, `GRAB_JOB_UNIQ`, `GRAB_JOB_ALL`
    Grab(Grab),
    /// `WORK_STATUS handle numerator denominator`
    WorkStatus {
        /// The job.
        handle: Bytes,
        /// As sent (forwarded verbatim).
        numerator: Bytes,
        /// As sent (forwarded verbatim).
        denominator: Bytes,
    },
    /// `WORK_COMPLETE handle data`
    WorkComplete {
        /// The job.
        handle: Bytes,
        /// The result.
        data: Bytes,
    },
    /// `WORK_FAIL handle`
    WorkFail {
        /// The job.
        handle: Bytes,
    },
    /// `WORK_EXCEPTION handle data`
    WorkException {
        /// The job.
        handle: Bytes,
        /// The exception text.
        data: Bytes,
    },
    /// `WORK_DATA handle data`
    WorkData {
        /// The job.
        handle: Bytes,
        /// A piece of the result.
        data: Bytes,
    },
    /// `WORK_WARNING handle data`
    WorkWarning {
        /// The job.
        handle: Bytes,
        /// The warning.
        data: Bytes,
    },
    /// `GET_STATUS handle`
    GetStatus(Bytes),
    /// `GET_STATUS_UNIQUE uniq`
    GetStatusUnique(Bytes),
    /// `ECHO_REQ data`
    EchoReq(Bytes),
    /// `SET_CLIENT_ID id`
    SetClientId(Bytes),
    /// `OPTION_REQ option`
    OptionReq(Bytes),
}

/// A packet the server answers with an `ERROR` packet; the connection
/// stays open (the packet's length was known, so framing is intact).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// `\0RES` from a client.
    #[error("response magic from a client")]
    InvalidMagic,
    /// A type number outside 1..=42.
    #[error("unknown packet type {0}")]
    UnknownCommand(u32),
    /// A server-side or unimplemented type (`SUBMIT_JOB_SCHED`, `ALL_YOURS`...).
    #[error("{} is not expected from a client", .0.name())]
    NotExpected(Command),
    /// Fewer NUL separators than the type's arguments need.
    #[error("{} needs {} arguments", .0.name(), .0.arg_count())]
    MissingArgs(Command),
    /// A unique id over [`MAX_UNIQUE`] bytes.
    #[error("unique id longer than {MAX_UNIQUE} bytes")]
    UniqueTooLarge,
    /// A `SUBMIT_JOB_SCHED` field out of range, or a date that never comes.
    #[error("bad or impossible schedule")]
    BadSchedule,
}

impl RequestError {
    /// The `ERROR` packet's code and text (gearmand's where it has one).
    pub fn code_and_text(&self) -> (&'static str, &'static str) {
        match self {
            RequestError::InvalidMagic => ("INVALID_MAGIC", "Request magic expected"),
            RequestError::UnknownCommand(_) => ("INVALID_COMMAND", "Invalid command expected"),
            RequestError::NotExpected(_) => ("INVALID_COMMAND", "Command not expected"),
            RequestError::MissingArgs(_) => (
                "INVALID_PACKET",
                "Packet has fewer arguments than its type needs",
            ),
            RequestError::UniqueTooLarge => ("ARGUMENT_TOO_LARGE", "Unique value too large"),
            RequestError::BadSchedule => (
                "INVALID_ARGUMENTS",
                "Schedule fields out of range or never matching",
            ),
        }
    }
}

/// C `atoll`-style: optional spaces and sign, then digits; stops at the
/// first other byte; saturates instead of overflowing.
pub fn parse_i64_lenient(s: &[u8]) -> i64 {
    let mut i = 0;
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut n: i64 = 0;
    while let Some(d) = s.get(i).filter(|b| b.is_ascii_digit()) {
        let digit = i64::from(d - b'0');
        n = n.saturating_mul(10);
        n = if neg {
            n.saturating_sub(digit)
        } else {
            n.saturating_add(digit)
        };
        i += 1;
    }
    n
}

impl Request {
    /// Decodes a framed packet's data. `data` is exactly the packet's data
    /// (arguments are slices of it: no copy).
    #[inline]
    pub fn decode(magic: Magic, kind: u32, data: Bytes) -> Result<Request, RequestError> {
        if magic == Magic::Res {
            return Err(RequestError::InvalidMagic);
        }
        let cmd = Command::from_u32(kind).ok_or(RequestError::UnknownCommand(kind))?;
        let mut args =
            ArgReader::new(&data, cmd.arg_count()).ok_or(RequestError::MissingArgs(cmd))?;
        let mut next = || args.next_arg();
        use Command as C;
        let submit = |priority, background, args: [Bytes; 3]| {
            let [function, unique, data] = args;
            if unique.len() > MAX_UNIQUE {
                return Err(RequestError::UniqueTooLarge);
            }
            Ok(SubmitJob {
                function,
                unique,
                data,
                priority,
                background,
                when: None,
                reducer: None,
            })
        };
        Ok(match cmd {
            C::CanDo => Request::CanDo(next()),
            C::CantDo => Request::CantDo(next()),
            C::CanDoTimeout => Request::CanDoTimeout {
                function: next(),
                timeout: next(),
            },
            C::ResetAbilities => Request::ResetAbilities,
            C::PreSleep => Request::PreSleep,
            C::SubmitJob
            | C::SubmitJobBg
            | C::SubmitJobHigh
            | C::SubmitJobHighBg
            | C::SubmitJobLow
            | C::SubmitJobLowBg => {
                let (priority, background) = match cmd {
                    C::SubmitJobHigh => (Priority::High, false),
                    C::SubmitJobHighBg => (Priority::High, true),
                    C::SubmitJobLow => (Priority::Low, false),
                    C::SubmitJobLowBg => (Priority::Low, true),
                    C::SubmitJobBg => (Priority::Normal, true),
                    _ => (Priority::Normal, false),
                };
                Request::Submit(submit(priority, background, [next(), next(), next()])?)
            }
            C::SubmitJobEpoch => {
                let (function, unique, when, data) = (next(), next(), next(), next());
                let mut job = submit(Priority::Normal, true, [function, unique, data])?;
                job.when = Some(parse_i64_lenient(&when));
                Request::Submit(job)
            }
            C::SubmitJobSched => {
                let (function, unique) = (next(), next());
                let f = [next(), next(), next(), next(), next()];
                let sched = super::Sched::parse([&f[0], &f[1], &f[2], &f[3], &f[4]])
                    .map_err(|_| RequestError::BadSchedule)?;
                let job = submit(Priority::Normal, true, [function, unique, next()])?;
                Request::SubmitSched { job, sched }
            }
            C::SubmitReduceJob | C::SubmitReduceJobBackground => {
                let (function, unique, reducer, data) = (next(), next(), next(), next());
                let bg = cmd == C::SubmitReduceJobBackground;
                let mut job = submit(Priority::Normal, bg, [function, unique, data])?;
                job.reducer = Some(reducer);
                Request::Submit(job)
            }
            C::GrabJob => Request::Grab(Grab::Plain),
            C::GrabJobUniq => Request::Grab(Grab::Uniq),
            C::GrabJobAll => Request::Grab(Grab::All),
            C::WorkStatus => Request::WorkStatus {
                handle: next(),
                numerator: next(),
                denominator: next(),
            },
            C::WorkComplete => Request::WorkComplete {
                handle: next(),
                data: next(),
            },
            C::WorkFail => Request::WorkFail { handle: next() },
            C::WorkException => Request::WorkException {
                handle: next(),
                data: next(),
            },
            C::WorkData => Request::WorkData {
                handle: next(),
                data: next(),
            },
            C::WorkWarning => Request::WorkWarning {
                handle: next(),
                data: next(),
            },
            C::GetStatus => Request::GetStatus(next()),
            C::GetStatusUnique => Request::GetStatusUnique(next()),
            C::EchoReq => Request::EchoReq(next()),
            C::SetClientId => Request::SetClientId(next()),
            C::OptionReq => Request::OptionReq(next()),
            C::Unused
            | C::Noop
            | C::JobCreated
            | C::NoJob
            | C::JobAssign
            | C::EchoRes
            | C::Error
            | C::StatusRes
            | C::AllYours
            | C::OptionRes
            | C::JobAssignUniq
            | C::JobAssignAll
            | C::StatusResUnique => return Err(RequestError::NotExpected(cmd)),
        })
    }

    /// The packet type.
    pub fn command(&self) -> Command {
        match self {
            Request::CanDo(_) => Command::CanDo,
            Request::CanDoTimeout { .. } => Command::CanDoTimeout,
            Request::CantDo(_) => Command::CantDo,
            Request::ResetAbilities => Command::ResetAbilities,
            Request::PreSleep => Command::PreSleep,
            Request::Submit(job) => job.command(),
            Request::SubmitSched { .. } => Command::SubmitJobSched,
            Request::Grab(Grab::Plain) => Command::GrabJob,
            Request::Grab(Grab::Uniq) => Command::GrabJobUniq,
            Request::Grab(Grab::All) => Command::GrabJobAll,
            Request::WorkStatus { .. } => Command::WorkStatus,
            Request::WorkComplete { .. } => Command::WorkComplete,
            Request::WorkFail { .. } => Command::WorkFail,
            Request::WorkException { .. } => Command::WorkException,
            Request::WorkData { .. } => Command::WorkData,
            Request::WorkWarning { .. } => Command::WorkWarning,
            Request::GetStatus(_) => Command::GetStatus,
            Request::GetStatusUnique(_) => Command::GetStatusUnique,
            Request::EchoReq(_) => Command::EchoReq,
            Request::SetClientId(_) => Command::SetClientId,
            Request::OptionReq(_) => Command::OptionReq,
        }
    }

    /// Appends the packet (`\0REQ`) to `out`, as a client or worker sends it.
    pub fn encode(&self, out: &mut BytesMut) {
        let cmd = self.command();
        let when;
        let fields;
        let args: Vec<&[u8]> = match self {
            Request::ResetAbilities | Request::PreSleep | Request::Grab(_) => vec![],
            Request::CanDo(a)
            | Request::CantDo(a)
            | Request::GetStatus(a)
            | Request::GetStatusUnique(a)
            | Request::EchoReq(a)
            | Request::SetClientId(a)
            | Request::OptionReq(a)
            | Request::WorkFail { handle: a } => vec![a],
            Request::CanDoTimeout { function, timeout } => vec![function, timeout],
            Request::WorkComplete { handle, data }
            | Request::WorkException { handle, data }
            | Request::WorkData { handle, data }
            | Request::WorkWarning { handle, data } => vec![handle, data],
            Request::WorkStatus {
                handle,
                numerator,
                denominator,
            } => vec![handle, numerator, denominator],
            Request::Submit(job) => match (&job.reducer, job.when) {
                (Some(r), _) => vec![&job.function, &job.unique, r, &job.data],
                (None, Some(w)) => {
                    when = w.to_string();
                    vec![&job.function, &job.unique, when.as_bytes(), &job.data]
                }
                (None, None) => vec![&job.function, &job.unique, &job.data],
            },
            Request::SubmitSched { job, sched } => {
                fields = sched.fields();
                let mut v: Vec<&[u8]> = vec![&job.function, &job.unique];
                v.extend(fields.iter().map(|f| &f[..]));
                v.push(&job.data);
                v
            }
        };
        put_packet(out, Magic::Req, cmd.code(), &args);
    }
}
