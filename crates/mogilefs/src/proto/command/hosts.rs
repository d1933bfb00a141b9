//! Hosts and devices: create_host, update_host, delete_host, create_device,
//! set_state, set_weight.

use super::{int, need, Arg, Refusal};
use crate::proto::{Args, ErrCode};

/// A host's states.
pub const HOST_STATES: &[&str] = &["alive", "dead", "down", "readonly"];

/// A device's states.
pub const DEVICE_STATES: &[&str] = &["alive", "dead", "down", "readonly", "drain"];

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

impl HostSpec {
    pub(super) fn decode(a: &Args) -> Result<HostSpec, Refusal> {
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

/// delete_host: `host=` (`unknown_host` when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostName {
    pub host: String,
}

impl HostName {
    pub(super) fn decode(a: &Args) -> Result<HostName, Refusal> {
        Ok(HostName {
            host: need(a, "host", ErrCode::UnknownHost)?,
        })
    }
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

impl DeviceSpec {
    pub(super) fn decode(a: &Args) -> Result<DeviceSpec, Refusal> {
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

impl SetState {
    pub(super) fn decode(a: &Args) -> Result<SetState, Refusal> {
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

impl SetWeight {
    pub(super) fn decode(a: &Args) -> Result<SetWeight, Refusal> {
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
