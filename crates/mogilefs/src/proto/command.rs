//! Typed tracker requests: each query command's `k=v` arguments decoded
//! into one struct, with the error the tracker answers for a missing or bad
//! argument.
//!
//! Most argument errors are found here, before the command runs. Some the
//! original reports only after a lookup (`get_paths` says `unreg_domain`
//! before `no_key`): those fields are an [`Arg`], decoded here and their
//! error returned by the handler when it reaches them, so the order of the
//! errors stays the original's.

use super::{Args, Checksum, ErrCode, Request, Response};

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

/// The longest number of copies a client may report in one create_close
/// (`devid_1`/`path_1` to `devid_16`/`path_16`).
pub const MAX_DESTS: usize = 16;

/// A host's states.
pub const HOST_STATES: &[&str] = &["alive", "dead", "down", "readonly"];
/// A device's states.
pub const DEVICE_STATES: &[&str] = &["alive", "dead", "down", "readonly", "drain"];

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

/// `sleep`: the seconds asked (10 when absent, 0 or not a number; a
/// negative number is 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sleep {
    pub seconds: u64,
}

/// `domain=`, required (`no_domain`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainName {
    pub domain: String,
}

/// create_class / update_class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSpec {
    /// Required (`no_domain`).
    pub domain: String,
    /// Required (`no_class`).
    pub class: String,
    /// At least 1 (`invalid_mindevcount`); absent: the class's own (or
    /// the default class's default) on update, refused on create.
    pub mindevcount: Option<Arg<i64>>,
    /// `MultipleHosts(N)` or `MultipleDevices(N)` (`invalid_replpolicy`).
    pub replpolicy: Option<Arg<String>>,
    /// `hashtype=` given (empty or `NONE`: none; `invalid_hashtype`).
    pub hashtype: Option<Arg<Option<super::HashType>>>,
    /// Extension: `durable=N`, a number (`invalid_durable`; the handler
    /// checks it is at most the mindevcount).
    pub durable: Option<Arg<i64>>,
}

/// delete_class: `domain=` (`no_domain`), `class=` (`no_class`), not
/// `default` (`nodel_default_class`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassName {
    pub domain: String,
    pub class: String,
}

/// create_host / update_host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    /// Required (`no_host`).
    pub host: String,
    /// One of [`HOST_STATES`] (`unknown_state`).
    pub status: Option<Arg<String>>,
    /// Required on create (`no_ip`).
    pub ip: Option<String>,
    /// A port number; required on create (`no_port`).
    pub port: Option<Arg<i64>>,
    /// A port number (`no_port`).
    pub getport: Option<Arg<i64>>,
    pub altip: Option<String>,
    pub altmask: Option<String>,
}

/// delete_host: `host=` (`unknown_host` when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostName {
    pub host: String,
}

/// Which host a device goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostRef {
    /// `hostname=` (preferred when both are given).
    Name(String),
    /// `hostid=`.
    Id(i64),
}

/// create_device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    /// A positive number (`invalid_devid`).
    pub devid: i64,
    /// One of [`DEVICE_STATES`], default `alive` (`invalid_state`).
    pub state: String,
    /// `None`: neither given (`unknown_hostid`, once hosts are read).
    pub host: Option<HostRef>,
}

/// set_state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetState {
    /// Required (`bad_params`).
    pub host: String,
    /// Required (`bad_params`).
    pub device: i64,
    /// Required (`bad_params`), one of [`DEVICE_STATES`] (`invalid_state`).
    pub state: Arg<String>,
}

/// set_weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetWeight {
    /// Required (`bad_params`).
    pub host: String,
    /// Required (`bad_params`).
    pub device: i64,
    /// Zero or more (`bad_params`).
    pub weight: Arg<i64>,
}

/// create_open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateOpen {
    /// Required (`no_domain`).
    pub domain: String,
    /// May be empty.
    pub key: String,
    /// `None` or `default`: the default class.
    pub class: Option<String>,
    /// `multi_dest=1`: up to three destinations.
    pub multi_dest: bool,
    /// The size the client announces, when a number.
    pub size: Option<u64>,
    /// The fid the client asks for, when positive.
    pub fid: Option<i64>,
}

/// create_close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateClose {
    /// A positive number (`no_fid`).
    pub fid: i64,
    /// The copies written: `devid=` (`no_devid`) and `path=` (`no_path`)
    /// first, then `devid_N`/`path_N` from 1 to the first missing (at most
    /// [`MAX_DESTS`]), each device once.
    pub written: Vec<(i64, String)>,
    /// Required (`no_domain`).
    pub domain: String,
    /// When given, it must be the tempfile's key.
    pub key: Option<String>,
    /// `MD5:<hex>` / `SHA-1:<hex>` (`invalid_checksum_format`).
    pub checksum: Option<Arg<Checksum>>,
    /// `checksumverify=1`: the digest of each copy is checked.
    pub checksumverify: bool,
    /// A number (`size_mismatch`); `None` when absent or `0` (unknown).
    pub size: Option<Arg<u64>>,
}

/// get_paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetPaths {
    /// Required (`no_domain`).
    pub domain: String,
    /// Required (`no_key`).
    pub key: Arg<String>,
    /// `zone=alt`: the hosts' alternative IPs.
    pub zone_alt: bool,
    /// `noverify=1`: no HEAD check of the first path.
    pub noverify: bool,
    /// Paths wanted, at least 2.
    pub pathcount: usize,
}

/// A command on one key: `domain=` (`no_domain`), `key=` (`no_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKey {
    pub domain: String,
    pub key: Arg<String>,
}

/// updateclass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateFileClass {
    /// Required (`no_domain`).
    pub domain: String,
    /// Required (`no_key`).
    pub key: Arg<String>,
    /// Required (`no_class`).
    pub class: Arg<String>,
}

/// rename.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    /// Required (`no_domain`).
    pub domain: String,
    /// Required (`no_key`).
    pub from_key: Arg<String>,
    /// Required (`no_key`).
    pub to_key: Arg<String>,
}

/// list_keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListKeys {
    /// Required (`no_domain`).
    pub domain: String,
    /// May be empty.
    pub prefix: String,
    /// Must start with the prefix (`after_mismatch`).
    pub after: Arg<Option<String>>,
    /// 1 to 1000, default 1000.
    pub limit: i64,
}

/// file_info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Required (`no_domain`).
    pub domain: String,
    /// Required (`no_key`).
    pub key: Arg<String>,
    /// `devices=1`: the devids too.
    pub devices: bool,
}

/// file_debug: a positive `fid=`, else `domain=` and `key=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileDebug {
    Fid(i64),
    Key(FileKey),
}

/// list_fids: fids after `from`, `count` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFids {
    /// Exclusive; default 0.
    pub from: i64,
    /// `to=`: 100 when absent or 0, at most 500 (a negative one too).
    pub count: i64,
}

/// httpcopy: all three required (`copy_err`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCopy {
    pub sdevid: i64,
    pub ddevid: i64,
    pub fid: i64,
}

/// fsck_reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsckReset {
    /// `policy_only=1`: only the replication policy is checked.
    pub policy_only: bool,
    /// The fid to start after (0 when absent or not positive).
    pub startpos: i64,
}

/// The integer value of `key`, if given and a number (spaces around it
/// allowed).
fn int(a: &Args, key: &str) -> Option<i64> {
    a.nonempty(key).and_then(|v| v.trim().parse().ok())
}

/// A flag: given, not empty and not `0`.
fn flag(a: &Args, key: &str) -> bool {
    a.nonempty(key).is_some_and(|v| v != "0")
}

/// The value of `key`, not empty, or `code`.
fn need(a: &Args, key: &str, code: ErrCode) -> Arg<String> {
    a.nonempty(key).map(str::to_owned).ok_or(code)
}

/// `MultipleHosts(N)` or `MultipleDevices(N)`, N digits or nothing.
pub fn valid_replpolicy(p: &str) -> bool {
    ["MultipleHosts(", "MultipleDevices("].iter().any(|pre| {
        p.strip_prefix(pre)
            .and_then(|r| r.strip_suffix(')'))
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
    })
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
            "delete_host" => C::DeleteHost(HostName {
                host: need(a, "host", ErrCode::UnknownHost)?,
            }),
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
            "updateclass" => C::UpdateFileClass(UpdateFileClass {
                domain: need(a, "domain", ErrCode::NoDomain)?,
                key: need(a, "key", ErrCode::NoKey),
                class: need(a, "class", ErrCode::NoClass),
            }),
            "rename" => C::Rename(Rename {
                domain: need(a, "domain", ErrCode::NoDomain)?,
                from_key: need(a, "from_key", ErrCode::NoKey),
                to_key: need(a, "to_key", ErrCode::NoKey),
            }),
            "list_keys" => C::ListKeys(ListKeys::decode(a)?),
            "file_info" => C::FileInfo(FileInfo {
                domain: need(a, "domain", ErrCode::NoDomain)?,
                key: need(a, "key", ErrCode::NoKey),
                devices: flag(a, "devices"),
            }),
            "file_debug" => C::FileDebug(match int(a, "fid").filter(|&f| f > 0) {
                Some(fid) => FileDebug::Fid(fid),
                None => FileDebug::Key(FileKey::decode(a)?),
            }),
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
            "fsck_reset" => C::FsckReset(FsckReset {
                policy_only: flag(a, "policy_only"),
                startpos: int(a, "startpos").filter(|&n| n > 0).unwrap_or(0),
            }),
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

impl Sleep {
    fn decode(a: &Args) -> Sleep {
        let seconds = match a.nonempty("duration").map(|d| d.trim().parse::<i64>()) {
            Some(Ok(n)) if n != 0 => u64::try_from(n).unwrap_or(0),
            _ => 10,
        };
        Sleep { seconds }
    }
}

impl DomainName {
    fn decode(a: &Args) -> Result<DomainName, Refusal> {
        Ok(DomainName {
            domain: need(a, "domain", ErrCode::NoDomain)?,
        })
    }
}

impl ClassSpec {
    fn decode(a: &Args) -> Result<ClassSpec, Refusal> {
        Ok(ClassSpec {
            domain: need(a, "domain", ErrCode::NoDomain)?,
            class: need(a, "class", ErrCode::NoClass)?,
            mindevcount: a.nonempty("mindevcount").map(|v| {
                v.parse()
                    .ok()
                    .filter(|&n: &i64| n >= 1)
                    .ok_or(ErrCode::InvalidMindevcount)
            }),
            replpolicy: a.nonempty("replpolicy").map(|p| {
                valid_replpolicy(p)
                    .then(|| p.to_owned())
                    .ok_or(ErrCode::InvalidReplpolicy)
            }),
            hashtype: a.get("hashtype").map(super::HashType::parse_arg),
            durable: a
                .get("durable")
                .map(|v| v.trim().parse().map_err(|_| ErrCode::InvalidDurable)),
        })
    }
}

impl ClassName {
    fn decode(a: &Args) -> Result<ClassName, Refusal> {
        let domain = need(a, "domain", ErrCode::NoDomain)?;
        let class = need(a, "class", ErrCode::NoClass)?;
        if class == "default" {
            return Err(ErrCode::NodelDefaultClass.into());
        }
        Ok(ClassName { domain, class })
    }
}

impl HostSpec {
    fn decode(a: &Args) -> Result<HostSpec, Refusal> {
        let port = |key: &str| {
            a.nonempty(key)
                .map(|p| p.parse::<u16>().map(i64::from).map_err(|_| ErrCode::NoPort))
        };
        let text = |key: &str| a.nonempty(key).map(str::to_owned);
        Ok(HostSpec {
            host: need(a, "host", ErrCode::NoHost)?,
            status: a.nonempty("status").map(|s| {
                HOST_STATES
                    .contains(&s)
                    .then(|| s.to_owned())
                    .ok_or(ErrCode::UnknownState)
            }),
            ip: text("ip"),
            port: port("port"),
            getport: port("getport"),
            altip: text("altip"),
            altmask: text("altmask"),
        })
    }
}

impl DeviceSpec {
    fn decode(a: &Args) -> Result<DeviceSpec, Refusal> {
        let devid = int(a, "devid")
            .filter(|&d| d > 0)
            .ok_or(ErrCode::InvalidDevid)?;
        let state = a.nonempty("state").unwrap_or("alive");
        if !DEVICE_STATES.contains(&state) {
            return Err(ErrCode::InvalidState.into());
        }
        let host = match a.nonempty("hostname") {
            Some(name) => Some(HostRef::Name(name.to_owned())),
            None => int(a, "hostid").map(HostRef::Id),
        };
        Ok(DeviceSpec {
            devid,
            state: state.to_owned(),
            host,
        })
    }
}

/// set_state's and set_weight's `host=` and `device=`.
fn host_device(a: &Args) -> Result<(String, i64), Refusal> {
    let host = need(a, "host", ErrCode::BadParams)?;
    let device = int(a, "device").ok_or(ErrCode::BadParams)?;
    Ok((host, device))
}

impl SetState {
    fn decode(a: &Args) -> Result<SetState, Refusal> {
        let (host, device) = host_device(a)?;
        let state = need(a, "state", ErrCode::BadParams).and_then(|s| {
            if DEVICE_STATES.contains(&s.as_str()) {
                Ok(s)
            } else {
                Err(ErrCode::InvalidState)
            }
        });
        Ok(SetState {
            host,
            device,
            state,
        })
    }
}

impl SetWeight {
    fn decode(a: &Args) -> Result<SetWeight, Refusal> {
        let (host, device) = host_device(a)?;
        let weight = int(a, "weight")
            .filter(|&w| w >= 0)
            .ok_or(ErrCode::BadParams);
        Ok(SetWeight {
            host,
            device,
            weight,
        })
    }
}

impl CreateOpen {
    fn decode(a: &Args) -> Result<CreateOpen, Refusal> {
        Ok(CreateOpen {
            domain: need(a, "domain", ErrCode::NoDomain)?,
            key: a.get("key").unwrap_or("").to_owned(),
            class: a.nonempty("class").map(str::to_owned),
            multi_dest: flag(a, "multi_dest"),
            size: a
                .nonempty("size")
                .and_then(|s| s.trim().parse::<u64>().ok()),
            fid: int(a, "fid").filter(|&f| f > 0),
        })
    }
}

impl CreateClose {
    fn decode(a: &Args) -> Result<CreateClose, Refusal> {
        let fid = int(a, "fid").filter(|&f| f > 0).ok_or(ErrCode::NoFid)?;
        let devid = int(a, "devid").ok_or(ErrCode::NoDevid)?;
        let path = need(a, "path", ErrCode::NoPath)?;
        let domain = need(a, "domain", ErrCode::NoDomain)?;
        let mut written = vec![(devid, path)];
        for n in 1..=MAX_DESTS {
            let (Some(id), Some(p)) = (
                int(a, &format!("devid_{n}")),
                a.nonempty(&format!("path_{n}")),
            ) else {
                break;
            };
            if !written.iter().any(|(d, _)| *d == id) {
                written.push((id, p.to_owned()));
            }
        }
        Ok(CreateClose {
            fid,
            written,
            domain,
            key: a.get("key").map(str::to_owned),
            checksum: a
                .nonempty("checksum")
                .map(|c| Checksum::parse(c).ok_or(ErrCode::InvalidChecksumFormat)),
            checksumverify: flag(a, "checksumverify"),
            // As the original, `size=0` means "not given" (zero-byte files).
            size: a
                .nonempty("size")
                .filter(|s| *s != "0")
                .map(|s| s.parse::<u64>().map_err(|_| ErrCode::SizeMismatch)),
        })
    }
}

impl GetPaths {
    fn decode(a: &Args) -> Result<GetPaths, Refusal> {
        Ok(GetPaths {
            domain: need(a, "domain", ErrCode::NoDomain)?,
            key: need(a, "key", ErrCode::NoKey),
            zone_alt: a.get("zone") == Some("alt"),
            noverify: flag(a, "noverify"),
            pathcount: usize::try_from(int(a, "pathcount").unwrap_or(2).max(2)).unwrap_or(2),
        })
    }
}

impl FileKey {
    fn decode(a: &Args) -> Result<FileKey, Refusal> {
        Ok(FileKey {
            domain: need(a, "domain", ErrCode::NoDomain)?,
            key: need(a, "key", ErrCode::NoKey),
        })
    }
}

impl ListKeys {
    fn decode(a: &Args) -> Result<ListKeys, Refusal> {
        let domain = need(a, "domain", ErrCode::NoDomain)?;
        let prefix = a.get("prefix").unwrap_or("").to_owned();
        let after = match a.nonempty("after") {
            Some(x) if !x.starts_with(&prefix) => Err(ErrCode::AfterMismatch),
            x => Ok(x.map(str::to_owned)),
        };
        Ok(ListKeys {
            domain,
            prefix,
            after,
            limit: int(a, "limit").unwrap_or(1000).clamp(1, 1000),
        })
    }
}

impl ListFids {
    fn decode(a: &Args) -> ListFids {
        let count = match int(a, "to").unwrap_or(0) {
            0 => 100,
            n if !(0..=500).contains(&n) => 500,
            n => n,
        };
        ListFids {
            from: int(a, "from").unwrap_or(0),
            count,
        }
    }
}

impl HttpCopy {
    fn decode(a: &Args) -> Result<HttpCopy, Refusal> {
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
