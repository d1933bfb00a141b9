//! The text admin protocol on the job server's port: one line in (already
//! framed, see [`super::parse_frame`]), words split on spaces, the command
//! and its keywords case-insensitive, as gearmand 1.1 parses them.

use bytes::Bytes;

/// What `deadletter` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterCmd {
    /// `HANDLE\tFUNCTION\tUNIQUE\tATTEMPTS\tREASON` per job, then `.`.
    List,
    /// Queue the job again (background, same handle).
    Requeue(Bytes),
    /// Forget the job.
    Drop(Bytes),
    /// Forget them all.
    DropAll,
}

/// An admin command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admin {
    /// `status`: `FUNC\tTOTAL\tRUNNING\tWORKERS` per function, then `.`.
    Status,
    /// `workers`: `FD IP ID : FUNC...` per connection, then `.`.
    Workers,
    /// `version`
    Version,
    /// `getpid`
    Getpid,
    /// `verbose`
    Verbose,
    /// `prioritystatus`: `FUNC\tHIGH\tNORMAL\tLOW\tWORKERS`, then `.`.
    PriorityStatus,
    /// `show jobs`
    ShowJobs,
    /// `show unique jobs`
    ShowUniqueJobs,
    /// `cancel job HANDLE`
    CancelJob(Bytes),
    /// `create function FUNC`
    CreateFunction(Bytes),
    /// `drop function FUNC`
    DropFunction(Bytes),
    /// `maxqueue FUNC [N | HIGH NORMAL LOW]`: 0 (or negative) = unlimited;
    /// one value sets all three priorities.
    MaxQueue {
        /// The function (only an existing one is changed).
        function: Bytes,
        /// Limits for high, normal, low.
        limits: [u32; 3],
    },
    /// `shutdown [graceful]`
    Shutdown {
        /// `graceful` given.
        graceful: bool,
    },
    /// `deadletter list|requeue H|drop H|drop all` (an extension): the
    /// jobs given up after `-j` attempts.
    DeadLetter(DeadLetterCmd),
    /// A command whose reply is fixed: an error string.
    Fixed(&'static str),
    /// `maxqueue`, `create`, `drop`, `shutdown` with the wrong arguments.
    BadArgs(Bytes),
    /// Anything else (also the empty line).
    Unknown(Bytes),
}

impl Admin {
    /// A listing: its reply grows with the server's state (a line per
    /// function, connection or job), not with the request.
    pub fn is_listing(&self) -> bool {
        matches!(
            self,
            Admin::Status
                | Admin::PriorityStatus
                | Admin::Workers
                | Admin::ShowJobs
                | Admin::ShowUniqueJobs
                | Admin::DeadLetter(DeadLetterCmd::List)
        )
    }

    /// Parses one line (without its terminator).
    pub fn parse(line: &[u8]) -> Admin {
        Self::parse_gated(line, true)
    }

    /// Parses one line; unless `shutdown` is allowed, `shutdown` in any
    /// form is an unknown command, as gearmand 1.1.20 answers it.
    pub fn parse_gated(line: &[u8], shutdown: bool) -> Admin {
        let words: Vec<&[u8]> = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|w| !w.is_empty())
            .collect();
        let Some(&cmd) = words.first() else {
            return Admin::Unknown(Bytes::new());
        };
        let is = |i: usize, kw: &str| {
            words
                .get(i)
                .is_some_and(|w| w.eq_ignore_ascii_case(kw.as_bytes()))
        };
        let arg = |i: usize| Bytes::copy_from_slice(words.get(i).copied().unwrap_or_default());
        let argc = words.len();
        let bad = || Admin::BadArgs(Bytes::copy_from_slice(cmd));
        if is(0, "workers") {
            Admin::Workers
        } else if is(0, "status") {
            Admin::Status
        } else if is(0, "cancel") && argc >= 3 {
            if argc == 3 && is(1, "job") {
                Admin::CancelJob(arg(2))
            } else {
                Admin::Fixed("ERR UNKNOWN_ERROR\r\n")
            }
        } else if is(0, "show") && argc >= 2 {
            if argc == 3 && is(1, "unique") && is(2, "jobs") {
                Admin::ShowUniqueJobs
            } else if argc == 2 && is(1, "jobs") {
                Admin::ShowJobs
            } else {
                Admin::Fixed("ERR UNKNOWN_SHOW_ARGUMENTS\r\n")
            }
        } else if is(0, "create") {
            if argc == 3 && is(1, "function") {
                Admin::CreateFunction(arg(2))
            } else {
                bad()
            }
        } else if is(0, "drop") {
            if argc == 3 && is(1, "function") {
                Admin::DropFunction(arg(2))
            } else {
                bad()
            }
        } else if is(0, "maxqueue") {
            if argc == 1 {
                return bad();
            }
            let value = |i: usize| match words.get(i) {
                Some(w) => {
                    let n = super::request::parse_i64_lenient(w);
                    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
                }
                None => 0,
            };
            let mut limits = [value(2), value(3), value(4)];
            if argc <= 3 {
                limits = [limits[0]; 3];
            }
            Admin::MaxQueue {
                function: arg(1),
                limits,
            }
        } else if is(0, "getpid") {
            Admin::Getpid
        } else if is(0, "shutdown") {
            if !shutdown {
                return Admin::Unknown(Bytes::copy_from_slice(cmd));
            }
            match argc {
                1 => Admin::Shutdown { graceful: false },
                2 if is(1, "graceful") => Admin::Shutdown { graceful: true },
                _ => bad(),
            }
        } else if is(0, "deadletter") {
            match argc {
                2 if is(1, "list") => Admin::DeadLetter(DeadLetterCmd::List),
                3 if is(1, "requeue") => Admin::DeadLetter(DeadLetterCmd::Requeue(arg(2))),
                3 if is(1, "drop") && is(2, "all") => Admin::DeadLetter(DeadLetterCmd::DropAll),
                3 if is(1, "drop") => Admin::DeadLetter(DeadLetterCmd::Drop(arg(2))),
                _ => bad(),
            }
        } else if is(0, "verbose") {
            Admin::Verbose
        } else if is(0, "version") {
            Admin::Version
        } else if is(0, "prioritystatus") {
            Admin::PriorityStatus
        } else {
            Admin::Unknown(Bytes::copy_from_slice(cmd))
        }
    }

    /// The reply of the commands that need no state (errors); `None` for
    /// the others.
    pub fn fixed_reply(&self) -> Option<Vec<u8>> {
        match self {
            Admin::Fixed(s) => Some(s.as_bytes().to_vec()),
            Admin::BadArgs(cmd) => Some(
                [
                    b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+"
                        .as_slice(),
                    cmd,
                    b"\r\n",
                ]
                .concat(),
            ),
            Admin::Unknown(cmd) => Some(
                [b"ERR UNKNOWN_COMMAND Unknown+server+command".as_slice(), cmd, b"\r\n"].concat(),
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Admin {
        Admin::parse(s.as_bytes())
    }

    #[test]
    fn commands_and_keywords_are_case_insensitive() {
        assert_eq!(p("STATUS"), Admin::Status);
        assert_eq!(p("status extra"), Admin::Status);
        assert_eq!(p("Show Unique Jobs"), Admin::ShowUniqueJobs);
        assert_eq!(p("show jobs"), Admin::ShowJobs);
        assert_eq!(
            p("cancel JOB H:x:1"),
            Admin::CancelJob(Bytes::from_static(b"H:x:1"))
        );
        assert_eq!(p("shutdown  graceful"), Admin::Shutdown { graceful: true });
        assert_eq!(p("prioritystatus"), Admin::PriorityStatus);
        assert_eq!(p("DeadLetter LIST"), Admin::DeadLetter(DeadLetterCmd::List));
        assert_eq!(
            p("deadletter requeue H:x:1"),
            Admin::DeadLetter(DeadLetterCmd::Requeue(Bytes::from_static(b"H:x:1")))
        );
        assert_eq!(
            p("deadletter drop all"),
            Admin::DeadLetter(DeadLetterCmd::DropAll)
        );
        assert_eq!(
            p("deadletter drop H:x:2"),
            Admin::DeadLetter(DeadLetterCmd::Drop(Bytes::from_static(b"H:x:2")))
        );
        assert_eq!(
            p("deadletter"),
            Admin::BadArgs(Bytes::from_static(b"deadletter"))
        );
        assert_eq!(
            p("deadletter list x"),
            Admin::BadArgs(Bytes::from_static(b"deadletter"))
        );
    }

    #[test]
    fn shutdown_off_is_an_unknown_command() {
        let off = |s: &str| Admin::parse_gated(s.as_bytes(), false);
        for line in ["shutdown", "SHUTDOWN graceful", "shutdown x y"] {
            let word = line.split(' ').next().unwrap_or_default();
            assert_eq!(
                off(line),
                Admin::Unknown(Bytes::copy_from_slice(word.as_bytes()))
            );
        }
        let r = off("shutdown").fixed_reply().expect("fixed");
        assert_eq!(r, b"ERR UNKNOWN_COMMAND Unknown+server+commandshutdown\r\n");
        assert_eq!(off("status"), Admin::Status);
    }

    #[test]
    fn maxqueue_takes_one_or_three_limits() {
        let f = Bytes::from_static(b"f");
        assert_eq!(
            p("maxqueue f 5"),
            Admin::MaxQueue {
                function: f.clone(),
                limits: [5; 3]
            }
        );
        assert_eq!(
            p("maxqueue f"),
            Admin::MaxQueue {
                function: f.clone(),
                limits: [0; 3]
            }
        );
        assert_eq!(
            p("maxqueue f 1 -2 x"),
            Admin::MaxQueue {
                function: f.clone(),
                limits: [1, 0, 0]
            }
        );
        assert_eq!(
            p("maxqueue f 1 2"),
            Admin::MaxQueue {
                function: f,
                limits: [1, 2, 0]
            }
        );
    }

    #[test]
    fn error_replies_are_gearmands() {
        let r = |s: &str| String::from_utf8(p(s).fixed_reply().expect("fixed")).expect("utf8");
        assert_eq!(
            r("maxqueue"),
            "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+maxqueue\r\n"
        );
        assert_eq!(
            r("bogus x"),
            "ERR UNKNOWN_COMMAND Unknown+server+commandbogus\r\n"
        );
        assert_eq!(r(""), "ERR UNKNOWN_COMMAND Unknown+server+command\r\n");
        assert_eq!(
            r("show"),
            "ERR UNKNOWN_COMMAND Unknown+server+commandshow\r\n"
        );
        assert_eq!(r("show me"), "ERR UNKNOWN_SHOW_ARGUMENTS\r\n");
        assert_eq!(
            r("cancel job"),
            "ERR UNKNOWN_COMMAND Unknown+server+commandcancel\r\n"
        );
        assert_eq!(r("cancel x y"), "ERR UNKNOWN_ERROR\r\n");
        assert_eq!(
            r("create function"),
            "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+create\r\n"
        );
        assert_eq!(
            r("shutdown now"),
            "ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+shutdown\r\n"
        );
        assert_eq!(p("status").fixed_reply(), None);
    }
}
