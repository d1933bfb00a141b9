//! Responses: the packets the server sends (`\0RES`).

use bytes::{Bytes, BytesMut};

use super::args::{put_packet, ArgReader, Parts};
use super::request::parse_i64_lenient;
use super::{Command, Magic};

/// A packet from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `NOOP`: wake up, there is work.
    Noop,
    /// `JOB_CREATED handle`
    JobCreated(Bytes),
    /// `NO_JOB`
    NoJob,
    /// `JOB_ASSIGN handle func data`
    JobAssign {
        /// The job.
        handle: Bytes,
        /// Its function.
        function: Bytes,
        /// Its workload.
        data: Bytes,
    },
    /// `JOB_ASSIGN_UNIQ handle func uniq data`
    JobAssignUniq {
        /// The job.
        handle: Bytes,
        /// Its function.
        function: Bytes,
        /// Its unique id.
        unique: Bytes,
        /// Its workload.
        data: Bytes,
    },
    /// `JOB_ASSIGN_ALL handle func uniq reducer data`
    JobAssignAll {
        /// The job.
        handle: Bytes,
        /// Its function.
        function: Bytes,
        /// Its unique id.
        unique: Bytes,
        /// Its reducer.
        reducer: Bytes,
        /// Its workload.
        data: Bytes,
    },
    /// `WORK_STATUS handle numerator denominator`, as the worker sent them.
    WorkStatus {
        /// The job.
        handle: Bytes,
        /// Verbatim.
        numerator: Bytes,
        /// Verbatim.
        denominator: Bytes,
    },
    /// `WORK_COMPLETE handle data`
    WorkComplete {
        /// The job.
        handle: Bytes,
        /// The result.
        data: Bytes,
    },
    /// `WORK_FAIL handle`. gearmand sends `handle\0` when it turns a
    /// `WORK_EXCEPTION` into a fail for a client without the `exceptions`
    /// option (`trailing_nul`); this keeps those bytes identical.
    WorkFail {
        /// The job.
        handle: Bytes,
        /// Whether a NUL follows the handle.
        trailing_nul: bool,
    },
    /// `WORK_EXCEPTION handle data`
    WorkException {
        /// The job.
        handle: Bytes,
        /// The exception.
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
    /// `ECHO_RES data`
    EchoRes(Bytes),
    /// `ERROR code text`
    Error {
        /// gearmand's code (`QUEUE_ERROR`, `JOB_NOT_FOUND`...).
        code: Bytes,
        /// Its text.
        text: Bytes,
    },
    /// `STATUS_RES handle known running numerator denominator`
    StatusRes {
        /// The job asked about.
        handle: Bytes,
        /// Whether the server has it.
        known: bool,
        /// Whether a worker has it.
        running: bool,
        /// From the last `WORK_STATUS`.
        numerator: u32,
        /// From the last `WORK_STATUS`.
        denominator: u32,
    },
    /// `STATUS_RES_UNIQUE uniq known running numerator denominator waiting`
    StatusResUnique {
        /// The unique id asked about.
        unique: Bytes,
        /// Whether the server has it.
        known: bool,
        /// Whether a worker has it.
        running: bool,
        /// From the last `WORK_STATUS`.
        numerator: u32,
        /// From the last `WORK_STATUS`.
        denominator: u32,
        /// Clients waiting for its result.
        waiting: u32,
    },
    /// `OPTION_RES option`
    OptionRes(Bytes),
}

impl Response {
    /// An `ERROR` packet with static code and text.
    pub fn error(code: &'static str, text: &'static str) -> Response {
        Response::Error {
            code: Bytes::from_static(code.as_bytes()),
            text: Bytes::from_static(text.as_bytes()),
        }
    }

    /// The packet type.
    pub fn command(&self) -> Command {
        match self {
            Response::Noop => Command::Noop,
            Response::JobCreated(_) => Command::JobCreated,
            Response::NoJob => Command::NoJob,
            Response::JobAssign { .. } => Command::JobAssign,
            Response::JobAssignUniq { .. } => Command::JobAssignUniq,
            Response::JobAssignAll { .. } => Command::JobAssignAll,
            Response::WorkStatus { .. } => Command::WorkStatus,
            Response::WorkComplete { .. } => Command::WorkComplete,
            Response::WorkFail { .. } => Command::WorkFail,
            Response::WorkException { .. } => Command::WorkException,
            Response::WorkData { .. } => Command::WorkData,
            Response::WorkWarning { .. } => Command::WorkWarning,
            Response::EchoRes(_) => Command::EchoRes,
            Response::Error { .. } => Command::Error,
            Response::StatusRes { .. } => Command::StatusRes,
            Response::StatusResUnique { .. } => Command::StatusResUnique,
            Response::OptionRes(_) => Command::OptionRes,
        }
    }

    /// Appends the packet to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let kind = self.command().code();
        let flag = |b: bool| -> &'static [u8] {
            if b {
                b"1"
            } else {
                b"0"
            }
        };
        let (mut n1, mut n2, mut n3) = (
            itoa::Buffer::new(),
            itoa::Buffer::new(),
            itoa::Buffer::new(),
        );
        let args = match self {
            Response::Noop | Response::NoJob => Parts::of([]),
            Response::JobCreated(a) | Response::EchoRes(a) | Response::OptionRes(a) => {
                Parts::of([a])
            }
            Response::WorkFail {
                handle,
                trailing_nul,
            } => {
                if *trailing_nul {
                    Parts::of([handle, b""])
                } else {
                    Parts::of([handle])
                }
            }
            Response::JobAssign {
                handle,
                function,
                data,
            } => Parts::of([handle, function, data]),
            Response::JobAssignUniq {
                handle,
                function,
                unique,
                data,
            } => Parts::of([handle, function, unique, data]),
            Response::JobAssignAll {
                handle,
                function,
                unique,
                reducer,
                data,
            } => Parts::of([handle, function, unique, reducer, data]),
            Response::WorkStatus {
                handle,
                numerator,
                denominator,
            } => Parts::of([handle, numerator, denominator]),
            Response::WorkComplete { handle, data }
            | Response::WorkException { handle, data }
            | Response::WorkData { handle, data }
            | Response::WorkWarning { handle, data } => Parts::of([handle, data]),
            Response::Error { code, text } => Parts::of([code, text]),
            Response::StatusRes {
                handle,
                known,
                running,
                numerator,
                denominator,
            } => {
                let (a, b) = (n1.format(*numerator), n2.format(*denominator));
                Parts::of([
                    handle,
                    flag(*known),
                    flag(*running),
                    a.as_bytes(),
                    b.as_bytes(),
                ])
            }
            Response::StatusResUnique {
                unique,
                known,
                running,
                numerator,
                denominator,
                waiting,
            } => {
                let (a, b) = (n1.format(*numerator), n2.format(*denominator));
                let c = n3.format(*waiting);
                Parts::of([
                    unique,
                    flag(*known),
                    flag(*running),
                    a.as_bytes(),
                    b.as_bytes(),
                    c.as_bytes(),
                ])
            }
        };
        put_packet(out, Magic::Res, kind, args.as_slice());
    }

    /// Decodes a server packet (what a client or worker library does).
    /// `None` for a type the server never sends or missing arguments.
    pub fn decode(kind: u32, data: Bytes) -> Option<Response> {
        let cmd = Command::from_u32(kind)?;
        let mut args = ArgReader::new(&data, cmd.arg_count())?;
        let mut next = || args.next_arg();
        let num = |b: Bytes| u32::try_from(parse_i64_lenient(&b).max(0)).unwrap_or(u32::MAX);
        Some(match cmd {
            Command::Noop => Response::Noop,
            Command::NoJob => Response::NoJob,
            Command::JobCreated => Response::JobCreated(next()),
            Command::EchoRes => Response::EchoRes(next()),
            Command::OptionRes => Response::OptionRes(next()),
            Command::WorkFail => {
                let all = next();
                match all.last() {
                    Some(0) => Response::WorkFail {
                        handle: all.slice(..all.len() - 1),
                        trailing_nul: true,
                    },
                    _ => Response::WorkFail {
                        handle: all,
                        trailing_nul: false,
                    },
                }
            }
            Command::JobAssign => Response::JobAssign {
                handle: next(),
                function: next(),
                data: next(),
            },
            Command::JobAssignUniq => Response::JobAssignUniq {
                handle: next(),
                function: next(),
                unique: next(),
                data: next(),
            },
            Command::JobAssignAll => Response::JobAssignAll {
                handle: next(),
                function: next(),
                unique: next(),
                reducer: next(),
                data: next(),
            },
            Command::WorkStatus => Response::WorkStatus {
                handle: next(),
                numerator: next(),
                denominator: next(),
            },
            Command::WorkComplete => Response::WorkComplete {
                handle: next(),
                data: next(),
            },
            Command::WorkException => Response::WorkException {
                handle: next(),
                data: next(),
            },
            Command::WorkData => Response::WorkData {
                handle: next(),
                data: next(),
            },
            Command::WorkWarning => Response::WorkWarning {
                handle: next(),
                data: next(),
            },
            Command::Error => Response::Error {
                code: next(),
                text: next(),
            },
            Command::StatusRes => Response::StatusRes {
                handle: next(),
                known: &next()[..] == b"1",
                running: &next()[..] == b"1",
                numerator: num(next()),
                denominator: num(next()),
            },
            Command::StatusResUnique => Response::StatusResUnique {
                unique: next(),
                known: &next()[..] == b"1",
                running: &next()[..] == b"1",
                numerator: num(next()),
                denominator: num(next()),
                waiting: num(next()),
            },
            _ => return None,
        })
    }
}
