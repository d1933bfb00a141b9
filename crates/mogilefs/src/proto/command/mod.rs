//! Typed tracker requests: each query command's `k=v` arguments decoded
//! into one struct, with the error the tracker answers for a missing or bad
//! argument.
//!
//! Most argument errors are found here, before the command runs. Some the
//! original reports only after a lookup (`get_paths` says `unreg_domain`
//! before `no_key`): those fields are an [`Arg`], decoded here and their
//! error returned by the handler when it reaches them, so the order of the
//! errors stays the original's.

mod files;
mod hosts;
mod namespace;
mod ops;

pub use files::{
    CreateClose, CreateOpen, FileDebug, FileInfo, FileKey, GetPaths, ListFids, ListKeys, Rename,
    UpdateFileClass, MAX_DESTS,
};
pub use hosts::{
    DeviceSpec, HostName, HostRef, HostSpec, SetState, SetWeight, DEVICE_STATES, HOST_STATES,
};
pub use namespace::{valid_replpolicy, ClassName, ClassSpec, DomainName};
pub use ops::{FsckReset, HttpCopy, Sleep};

use super::{Args, ErrCode, Request, Response};

/// An argument decoded now whose error the handler reports when it gets
/// to it (after the lookups the original makes first).
pub type Arg<T> = Result<T, ErrCode>;

/// Why a request is refused without running: the code, and a text when
/// not the code's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrCode,
    pub text: Option<String>,
}

impl From<ErrCode> for Refusal {
    fn from(code: ErrCode) -> Self {
        Refusal { code, text: None }
    }
}

impl From<Refusal> for Response {
    fn from(r: Refusal) -> Self {
        Response::Err(r.code, r.text)
    }
}

/// One query command of the tracker, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `noop`
    Noop,
    /// `test [crash=1]`: the original's self-test.
    Test { crash: bool },
    /// `clear_cache`, `do_monitor_round`: a fresh monitor round.
    ClearCache,
    /// `sleep [duration=N]`
    Sleep(Sleep),
    /// `create_domain domain=`
    CreateDomain(DomainName),
    /// `delete_domain domain=`
    DeleteDomain(DomainName),
    /// `get_domains`
    GetDomains,
    /// `create_class domain= class= [mindevcount= replpolicy= hashtype= durable=]`
    CreateClass(ClassSpec),
    /// `update_class` (the arguments of create_class)
    UpdateClass(ClassSpec),
    /// `delete_class domain= class=`
    DeleteClass(ClassName),
    /// `create_host host= ip= port= [status= getport= altip= altmask=]`
    CreateHost(HostSpec),
    /// `update_host` (the arguments of create_host, all but host optional)
    UpdateHost(HostSpec),
    /// `delete_host host=`
    DeleteHost(HostName),
    /// `get_hosts [hostid=]`
    GetHosts { hostid: Option<i64> },
    /// `create_device devid= (hostname=|hostid=) [state=]`
    CreateDevice(DeviceSpec),
    /// `get_devices [devid=]`
    GetDevices { devid: Option<i64> },
    /// `set_state host= device= state=`
    SetState(SetState),
    /// `set_weight host= device= weight=`
    SetWeight(SetWeight),
    /// `create_open domain= key= [class= multi_dest= size= fid=]`
    CreateOpen(CreateOpen),
    /// `create_close fid= devid= path= domain= [key= size= checksum= ...]`
    CreateClose(CreateClose),
    /// `get_paths domain= key= [zone= noverify= pathcount=]`
    GetPaths(GetPaths),
    /// `delete domain= key=`
    Delete(FileKey),
    /// `updateclass domain= key= class=`
    UpdateFileClass(UpdateFileClass),
    /// `rename domain= from_key= to_key=`
    Rename(Rename),
    /// `list_keys domain= [prefix= after= limit=]`
    ListKeys(ListKeys),
    /// `file_info domain= key= [devices=1]`
    FileInfo(FileInfo),
    /// `file_debug fid=` or `file_debug domain= key=`
    FileDebug(FileDebug),
    /// `list_fids [from= to=]`
    ListFids(ListFids),
    /// `server_setting key=`
    ServerSetting { key: String },
    /// `server_settings`
    ServerSettings,
    /// `set_server_setting key= [value=]`
    SetServerSetting { key: String, value: String },
    /// `replicate_now`
    ReplicateNow,
    /// `httpcopy sdevid= ddevid= fid=`
    HttpCopy(HttpCopy),
    /// `fsck_start`
    FsckStart,
    /// `fsck_stop`
    FsckStop,
    /// `fsck_reset [policy_only=1 startpos=FID]`
    FsckReset(FsckReset),
    /// `fsck_clearlog`
    FsckClearLog,
    /// `fsck_getlog [after_logid=]`
    FsckGetLog { after_logid: i64 },
    /// `fsck_status`
    FsckStatus,
    /// `rebalance_set_policy policy=`
    RebalanceSetPolicy { policy: String },
    /// `rebalance_test`
    RebalanceTest,
    /// `rebalance_start`
    RebalanceStart,
    /// `rebalance_stop`
    RebalanceStop,
    /// `rebalance_status`
    RebalanceStatus,
    /// `rebalance_reset`
    RebalanceReset,
}

impl Command {
    /// Decodes one request; an unknown command is `unknown_command`.
    pub fn decode(req: &Request) -> Result<Command, Refusal> {
        Self::decode_args(&req.cmd, &req.args)
    }

    /// Decodes command `cmd` (lower case) with arguments `a`.
    pub fn decode_args(cmd: &str, a: &Args) -> Result<Command, Refusal> {
        use Command as C;
        Ok(match cmd {
            "noop" => C::Noop,
            "test" => C::Test {
                crash: a.nonempty("crash").is_some(),
            },
            "clear_cache" | "do_monitor_round" => C::ClearCache,
            "sleep" => C::Sleep(Sleep::decode(a)),
            "create_domain" => C::CreateDomain(DomainName::decode(a)?),
            "delete_domain" => C::DeleteDomain(DomainName::decode(a)?),
            "get_domains" => C::GetDomains,
            "create_class" => C::CreateClass(ClassSpec::decode(a)?),
            "update_class" => C::UpdateClass(ClassSpec::decode(a)?),
            "delete_class" => C::DeleteClass(ClassName::decode(a)?),
            "create_host" => C::CreateHost(HostSpec::decode(a)?),
            "update_host" => C::UpdateHost(HostSpec::decode(a)?),
            "delete_host" => C::DeleteHost(HostName::decode(a)?),
            "get_hosts" => C::GetHosts {
                hostid: int(a, "hostid"),
            },
            "create_device" => C::CreateDevice(DeviceSpec::decode(a)?),
            "get_devices" => C::GetDevices {
                devid: int(a, "devid"),
            },
            "set_state" => C::SetState(SetState::decode(a)?),
            "set_weight" => C::SetWeight(SetWeight::decode(a)?),
            "create_open" => C::CreateOpen(CreateOpen::decode(a)?),
            "create_close" => C::CreateClose(CreateClose::decode(a)?),
            "get_paths" => C::GetPaths(GetPaths::decode(a)?),
            "delete" => C::Delete(FileKey::decode(a)?),
            "updateclass" => C::UpdateFileClass(UpdateFileClass::decode(a)?),
            "rename" => C::Rename(Rename::decode(a)?),
            "list_keys" => C::ListKeys(ListKeys::decode(a)?),
            "file_info" => C::FileInfo(FileInfo::decode(a)?),
            "file_debug" => C::FileDebug(FileDebug::decode(a)?),
            "list_fids" => C::ListFids(ListFids::decode(a)),
            "server_setting" => C::ServerSetting {
                key: need(a, "key", ErrCode::BadParams)?,
            },
            "server_settings" => C::ServerSettings,
            "set_server_setting" => C::SetServerSetting {
                key: need(a, "key", ErrCode::BadParams)?,
                value: a.get("value").unwrap_or("").to_owned(),
            },
            "replicate_now" => C::ReplicateNow,
            "httpcopy" => C::HttpCopy(HttpCopy::decode(a)?),
            "fsck_start" => C::FsckStart,
            "fsck_stop" => C::FsckStop,
            "fsck_reset" => C::FsckReset(FsckReset::decode(a)),
            "fsck_clearlog" => C::FsckClearLog,
            "fsck_getlog" => C::FsckGetLog {
                after_logid: int(a, "after_logid").unwrap_or(0),
            },
            "fsck_status" => C::FsckStatus,
            "rebalance_set_policy" => C::RebalanceSetPolicy {
                policy: a.get("policy").unwrap_or_default().to_owned(),
            },
            "rebalance_test" => C::RebalanceTest,
            "rebalance_start" => C::RebalanceStart,
            "rebalance_stop" => C::RebalanceStop,
            "rebalance_status" => C::RebalanceStatus,
            "rebalance_reset" => C::RebalanceReset,
            _ => return Err(ErrCode::UnknownCommand.into()),
        })
    }
}

/// The integer value of `key`, if given and a number (spaces around it
/// allowed).
pub(super) fn int(a: &Args, key: &str) -> Option<i64> {
    a.nonempty(key).and_then(|v| v.trim().parse().ok())
}

/// A flag: given, not empty and not `0`.
pub(super) fn flag(a: &Args, key: &str) -> bool {
    a.nonempty(key).is_some_and(|v| v != "0")
}

/// The value of `key`, not empty, or `code`.
pub(super) fn need(a: &Args, key: &str, code: ErrCode) -> Arg<String> {
    a.nonempty(key).map(str::to_owned).ok_or(code)
}
