//! Operations: sleep, httpcopy, fsck_reset.

use super::{flag, int, Refusal};
use crate::proto::{Args, ErrCode};

/// `sleep`: the seconds asked (10 when absent, 0 or not a number; a
/// negative number is 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sleep {
    pub seconds: u64,
}

impl Sleep {
    pub(super) fn decode(a: &Args) -> Sleep {
        let seconds = match a.nonempty("duration").map(|d| d.trim().parse::<i64>()) {
            Some(Ok(n)) if n != 0 => u64::try_from(n).unwrap_or(0),
            _ => 10,
        };
        Sleep { seconds }
    }
}

/// httpcopy: all three required (`copy_err`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCopy {
    pub sdevid: i64,
    pub ddevid: i64,
    pub fid: i64,
}

impl HttpCopy {
    pub(super) fn decode(a: &Args) -> Result<HttpCopy, Refusal> {
        match (int(a, "sdevid"), int(a, "ddevid"), int(a, "fid")) {
            (Some(sdevid), Some(ddevid), Some(fid)) => Ok(HttpCopy {
                sdevid,
                ddevid,
                fid,
            }),
            _ => Err(Refusal {
                code: ErrCode::CopyErr,
                text: Some("sdevid, ddevid and fid are required".into()),
            }),
        }
    }
}

/// fsck_reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckReset {
    /// `policy_only=1`: only the replication policy is checked.
    pub policy_only: bool,
    /// The fid to start after (0 when absent or not positive).
    pub startpos: i64,
}

impl FsckReset {
    pub(super) fn decode(a: &Args) -> FsckReset {
        FsckReset {
            policy_only: flag(a, "policy_only"),
            startpos: int(a, "startpos").filter(|&n| n > 0).unwrap_or(0),
        }
    }
}
