//! The packet types of the binary protocol: their numbers, names and how
//! many NUL-separated arguments each carries.

/// A packet type, by its number on the wire (gearmand's `PROTOCOL` table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Command {
    /// W→S `func`
    CanDo = 1,
    /// W→S `func`
    CantDo = 2,
    /// W→S
    ResetAbilities = 3,
    /// W→S
    PreSleep = 4,
    /// Never used; gearmand answers `INVALID_COMMAND`.
    Unused = 5,
    /// S→W
    Noop = 6,
    /// C→S `func, uniq, data`
    SubmitJob = 7,
    /// S→C `handle`
    JobCreated = 8,
    /// W→S
    GrabJob = 9,
    /// S→W
    NoJob = 10,
    /// S→W `handle, func, data`
    JobAssign = 11,
    /// W→S→C `handle, numerator, denominator`
    WorkStatus = 12,
    /// W→S→C `handle, data`
    WorkComplete = 13,
    /// W→S→C `handle`
    WorkFail = 14,
    /// C→S `handle`
    GetStatus = 15,
    /// any `data`
    EchoReq = 16,
    /// S→any `data`
    EchoRes = 17,
    /// C→S `func, uniq, data`
    SubmitJobBg = 18,
    /// S→any `code, text`
    Error = 19,
    /// S→C `handle, known, running, numerator, denominator`
    StatusRes = 20,
    /// C→S `func, uniq, data`
    SubmitJobHigh = 21,
    /// W→S `id`
    SetClientId = 22,
    /// W→S `func, timeout`
    CanDoTimeout = 23,
    /// W→S (never implemented by gearmand)
    AllYours = 24,
    /// W→S→C `handle, data`
    WorkException = 25,
    /// C/W→S `option`
    OptionReq = 26,
    /// S→C/W `option`
    OptionRes = 27,
    /// W→S→C `handle, data`
    WorkData = 28,
    /// W→S→C `handle, data`
    WorkWarning = 29,
    /// W→S
    GrabJobUniq = 30,
    /// S→W `handle, func, uniq, data`
    JobAssignUniq = 31,
    /// C→S `func, uniq, data`
    SubmitJobHighBg = 32,
    /// C→S `func, uniq, data`
    SubmitJobLow = 33,
    /// C→S `func, uniq, data`
    SubmitJobLowBg = 34,
    /// C→S `func, uniq, minute, hour, mday, month, wday, data`
    SubmitJobSched = 35,
    /// C→S `func, uniq, epoch, data`
    SubmitJobEpoch = 36,
    /// C→S `func, uniq, reducer, data`
    SubmitReduceJob = 37,
    /// C→S `func, uniq, reducer, data`
    SubmitReduceJobBackground = 38,
    /// W→S
    GrabJobAll = 39,
    /// S→W `handle, func, uniq, reducer, data`
    JobAssignAll = 40,
    /// C→S `uniq`
    GetStatusUnique = 41,
    /// S→C `uniq, known, running, numerator, denominator, waiting`
    StatusResUnique = 42,
}

use Command::*;

const ALL: [Command; 42] = [
    CanDo,
    CantDo,
    ResetAbilities,
    PreSleep,
    Unused,
    Noop,
    SubmitJob,
    JobCreated,
    GrabJob,
    NoJob,
    JobAssign,
    WorkStatus,
    WorkComplete,
    WorkFail,
    GetStatus,
    EchoReq,
    EchoRes,
    SubmitJobBg,
    Error,
    StatusRes,
    SubmitJobHigh,
    SetClientId,
    CanDoTimeout,
    AllYours,
    WorkException,
    OptionReq,
    OptionRes,
    WorkData,
    WorkWarning,
    GrabJobUniq,
    JobAssignUniq,
    SubmitJobHighBg,
    SubmitJobLow,
    SubmitJobLowBg,
    SubmitJobSched,
    SubmitJobEpoch,
    SubmitReduceJob,
    SubmitReduceJobBackground,
    GrabJobAll,
    JobAssignAll,
    GetStatusUnique,
    StatusResUnique,
];

impl Command {
    /// The command with this number (1..=42), if any.
    pub fn from_u32(n: u32) -> Option<Command> {
        let i = usize::try_from(n).ok()?.checked_sub(1)?;
        ALL.get(i).copied()
    }

    /// Every command, in number order.
    pub fn all() -> &'static [Command] {
        &ALL
    }

    /// The number on the wire.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// How many NUL-separated arguments the packet carries. The last one
    /// runs to the end of the packet and may itself contain NULs.
    pub fn arg_count(self) -> usize {
        match self {
            ResetAbilities | PreSleep | Unused | Noop | GrabJob | NoJob | AllYours
            | GrabJobUniq | GrabJobAll => 0,
            CanDo | CantDo | JobCreated | WorkFail | GetStatus | EchoReq | EchoRes
            | SetClientId | OptionReq | OptionRes | GetStatusUnique => 1,
            WorkComplete | Error | CanDoTimeout | WorkException | WorkData | WorkWarning => 2,
            SubmitJob | JobAssign | WorkStatus | SubmitJobBg | SubmitJobHigh | SubmitJobHighBg
            | SubmitJobLow | SubmitJobLowBg => 3,
            JobAssignUniq | SubmitJobEpoch | SubmitReduceJob | SubmitReduceJobBackground => 4,
            StatusRes | JobAssignAll => 5,
            StatusResUnique => 6,
            SubmitJobSched => 8,
        }
    }

    /// The protocol document's name (`SUBMIT_JOB_BG`), for logs.
    pub fn name(self) -> &'static str {
        match self {
            CanDo => "CAN_DO",
            CantDo => "CANT_DO",
            ResetAbilities => "RESET_ABILITIES",
            PreSleep => "PRE_SLEEP",
            Unused => "UNUSED",
            Noop => "NOOP",
            SubmitJob => "SUBMIT_JOB",
            JobCreated => "JOB_CREATED",
            GrabJob => "GRAB_JOB",
            NoJob => "NO_JOB",
            JobAssign => "JOB_ASSIGN",
            WorkStatus => "WORK_STATUS",
            WorkComplete => "WORK_COMPLETE",
            WorkFail => "WORK_FAIL",
            GetStatus => "GET_STATUS",
            EchoReq => "ECHO_REQ",
            EchoRes => "ECHO_RES",
            SubmitJobBg => "SUBMIT_JOB_BG",
            Error => "ERROR",
            StatusRes => "STATUS_RES",
            SubmitJobHigh => "SUBMIT_JOB_HIGH",
            SetClientId => "SET_CLIENT_ID",
            CanDoTimeout => "CAN_DO_TIMEOUT",
            AllYours => "ALL_YOURS",
            WorkException => "WORK_EXCEPTION",
            OptionReq => "OPTION_REQ",
            OptionRes => "OPTION_RES",
            WorkData => "WORK_DATA",
            WorkWarning => "WORK_WARNING",
            GrabJobUniq => "GRAB_JOB_UNIQ",
            JobAssignUniq => "JOB_ASSIGN_UNIQ",
            SubmitJobHighBg => "SUBMIT_JOB_HIGH_BG",
            SubmitJobLow => "SUBMIT_JOB_LOW",
            SubmitJobLowBg => "SUBMIT_JOB_LOW_BG",
            SubmitJobSched => "SUBMIT_JOB_SCHED",
            SubmitJobEpoch => "SUBMIT_JOB_EPOCH",
            SubmitReduceJob => "SUBMIT_REDUCE_JOB",
            SubmitReduceJobBackground => "SUBMIT_REDUCE_JOB_BACKGROUND",
            GrabJobAll => "GRAB_JOB_ALL",
            JobAssignAll => "JOB_ASSIGN_ALL",
            GetStatusUnique => "GET_STATUS_UNIQUE",
            StatusResUnique => "STATUS_RES_UNIQUE",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_nothing_else_maps() {
        for (i, c) in Command::all().iter().enumerate() {
            assert_eq!(c.code() as usize, i + 1, "{}", c.name());
            assert_eq!(Command::from_u32(c.code()), Some(*c));
        }
        for n in [0, 43, 0x7fff_ffff, 0x8000_0000, u32::MAX] {
            assert_eq!(Command::from_u32(n), None, "{n:#x}");
        }
    }

    #[test]
    fn argument_counts_follow_the_protocol_table() {
        assert_eq!(SubmitJobSched.arg_count(), 8);
        assert_eq!(StatusResUnique.arg_count(), 6);
        assert_eq!(JobAssignAll.arg_count(), 5);
        assert_eq!(SubmitJobEpoch.arg_count(), 4);
        assert_eq!(GrabJobUniq.arg_count(), 0);
        assert_eq!(WorkFail.arg_count(), 1);
    }
}
