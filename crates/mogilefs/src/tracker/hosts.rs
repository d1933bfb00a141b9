//! Storage hosts and devices: create_host, update_host, delete_host,
//! get_hosts, create_device, get_devices, set_state, set_weight.

use super::{int_arg, pair, Outcome};
use crate::meta::{is_unique_violation, Device, Host, MetaStore};
use crate::proto::{Args, ErrCode};

const HOST_STATES: &[&str] = &["alive", "dead", "down", "readonly"];
const DEVICE_STATES: &[&str] = &["alive", "dead", "down", "readonly", "drain"];

impl<M: MetaStore> super::Tracker<M> {
    /// create_host, or update_host when `update`.
    pub(super) async fn create_host(&self, a: &Args, update: bool) -> Outcome {
        let name = a.nonempty("host").ok_or(ErrCode::NoHost)?;
        let hosts = self.meta.hosts().await?;
        let old = hosts.iter().find(|h| h.hostname == name);
        if let Some(s) = a.nonempty("status") {
            if !HOST_STATES.contains(&s) {
                return Err(ErrCode::UnknownState.into());
            }
        }
        let port = |key: &str| a.nonempty(key).map(|p| p.parse::<u16>().map(i64::from));
        let host = match (old, update) {
            (Some(_), false) => return Err(ErrCode::HostExists.into()),
            (None, true) => return Err(ErrCode::HostNotFound.into()),
            (None, false) => Host {
                hostid: 0,
                status: a.nonempty("status").unwrap_or("down").to_owned(),
                hostname: name.to_owned(),
                hostip: a.nonempty("ip").ok_or(ErrCode::NoIp)?.to_owned(),
                http_port: port("port")
                    .ok_or(ErrCode::NoPort)?
                    .map_err(|_| ErrCode::NoPort)?,
                http_get_port: port("getport").transpose().map_err(|_| ErrCode::NoPort)?,
                altip: a.nonempty("altip").map(str::to_owned),
                altmask: a.nonempty("altmask").map(str::to_owned),
            },
            (Some(o), true) => Host {
                status: a.nonempty("status").unwrap_or(&o.status).to_owned(),
                hostip: a.nonempty("ip").unwrap_or(&o.hostip).to_owned(),
                http_port: match port("port") {
                    Some(p) => p.map_err(|_| ErrCode::NoPort)?,
                    None => o.http_port,
                },
                http_get_port: match port("getport") {
                    Some(p) => Some(p.map_err(|_| ErrCode::NoPort)?),
                    None => o.http_get_port,
                },
                altip: a.nonempty("altip").map(str::to_owned).or(o.altip.clone()),
                altmask: a
                    .nonempty("altmask")
                    .map(str::to_owned)
                    .or(o.altmask.clone()),
                ..o.clone()
            },
        };
        let hostid = if update {
            self.meta.update_host(&host).await?;
            host.hostid
        } else {
            match self.meta.create_host(&host).await {
                Ok(id) => id,
                Err(e) if is_unique_violation(&e) => return Err(ErrCode::HostExists.into()),
                Err(e) => return Err(e.into()),
            }
        };
        self.changed();
        self.refresh_monitor().await;
        Ok(vec![pair("hostid", hostid), pair("hostname", name)])
    }

    pub(super) async fn delete_host(&self, a: &Args) -> Outcome {
        let name = a.nonempty("host").ok_or(ErrCode::UnknownHost)?;
        let (hosts, devices) = self.fresh_topology().await?;
        let h = hosts
            .iter()
            .find(|h| h.hostname == name)
            .ok_or(ErrCode::UnknownHost)?;
        if devices.iter().any(|d| d.hostid == h.hostid) {
            return Err(ErrCode::HostNotEmpty.into());
        }
        self.meta.delete_host(h.hostid).await?;
        self.changed();
        self.refresh_monitor().await;
        Ok(Vec::new())
    }

    pub(super) async fn get_hosts(&self, a: &Args) -> Outcome {
        let only = int_arg(a, "hostid");
        let hosts: Vec<Host> = self
            .meta
            .hosts()
            .await?
            .into_iter()
            .filter(|h| only.is_none_or(|id| id == h.hostid))
            .collect();
        let mut out = vec![pair("hosts", hosts.len())];
        for (i, h) in hosts.iter().enumerate() {
            let p = format!("host{}_", i + 1);
            out.push(pair(format!("{p}hostid"), h.hostid));
            out.push(pair(format!("{p}status"), &h.status));
            out.push(pair(format!("{p}hostname"), &h.hostname));
            out.push(pair(format!("{p}hostip"), &h.hostip));
            out.push(pair(format!("{p}http_port"), h.http_port));
            let opt = |v: Option<String>| v.unwrap_or_default();
            out.push(pair(
                format!("{p}http_get_port"),
                opt(h.http_get_port.map(|p| p.to_string())),
            ));
            out.push(pair(format!("{p}altip"), opt(h.altip.clone())));
            out.push(pair(format!("{p}altmask"), opt(h.altmask.clone())));
        }
        Ok(out)
    }

    pub(super) async fn create_device(&self, a: &Args) -> Outcome {
        let devid = int_arg(a, "devid")
            .filter(|&d| d > 0)
            .ok_or(ErrCode::InvalidDevid)?;
        let state = a.nonempty("state").unwrap_or("alive");
        if !DEVICE_STATES.contains(&state) {
            return Err(ErrCode::InvalidState.into());
        }
        let hosts = self.meta.hosts().await?;
        let host = if let Some(name) = a.nonempty("hostname") {
            hosts
                .iter()
                .find(|h| h.hostname == name)
                .ok_or(ErrCode::UnknownHost)?
        } else {
            let id = int_arg(a, "hostid").ok_or(ErrCode::UnknownHostid)?;
            hosts
                .iter()
                .find(|h| h.hostid == id)
                .ok_or(ErrCode::UnknownHostid)?
        };
        let dev = Device {
            devid,
            hostid: host.hostid,
            status: state.to_owned(),
            weight: 100,
            mb_total: None,
            mb_used: None,
            mb_asof: None,
        };
        if !self.meta.create_device(&dev).await? {
            return Err(ErrCode::ExistingDevid.into());
        }
        self.changed();
        self.refresh_monitor().await;
        Ok(Vec::new())
    }

    pub(super) async fn get_devices(&self, a: &Args) -> Outcome {
        let only = int_arg(a, "devid");
        let devs: Vec<Device> = self
            .meta
            .devices()
            .await?
            .into_iter()
            .filter(|d| only.is_none_or(|id| id == d.devid))
            .collect();
        let obs = self.monitor.devices();
        let mut out = vec![pair("devices", devs.len())];
        for (i, d) in devs.iter().enumerate() {
            let p = format!("dev{}_", i + 1);
            let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
            let free = d.mb_total.zip(d.mb_used).map(|(t, u)| t - u);
            let o = obs.get(&d.devid).cloned().unwrap_or_default();
            out.push(pair(format!("{p}devid"), d.devid));
            out.push(pair(format!("{p}hostid"), d.hostid));
            out.push(pair(format!("{p}status"), &d.status));
            out.push(pair(format!("{p}weight"), d.weight));
            out.push(pair(format!("{p}mb_total"), opt(d.mb_total)));
            out.push(pair(format!("{p}mb_used"), opt(d.mb_used)));
            out.push(pair(format!("{p}mb_free"), opt(free)));
            out.push(pair(format!("{p}mb_asof"), opt(d.mb_asof)));
            let state = o.state.map_or("", |s| s.name());
            out.push(pair(format!("{p}observed_state"), state));
            out.push(pair(
                format!("{p}utilization"),
                o.utilization.unwrap_or_default(),
            ));
            let md5 = o.reject_bad_md5.map(i64::from);
            out.push(pair(format!("{p}reject_bad_md5"), opt(md5)));
        }
        Ok(out)
    }

    /// set_state (`state`), or set_weight.
    pub(super) async fn set_device(&self, a: &Args, state: bool) -> Outcome {
        let host = a.nonempty("host").ok_or(ErrCode::BadParams)?;
        let devid = int_arg(a, "device").ok_or(ErrCode::BadParams)?;
        let (hosts, devices) = self.fresh_topology().await?;
        let dev = devices
            .iter()
            .find(|d| d.devid == devid)
            .ok_or(ErrCode::NoDevice)?;
        let owner = hosts.iter().find(|h| h.hostid == dev.hostid);
        if owner.is_none_or(|h| h.hostname != host) {
            return Err(ErrCode::HostMismatch.into());
        }
        if state {
            let new = a.nonempty("state").ok_or(ErrCode::BadParams)?;
            if !DEVICE_STATES.contains(&new) {
                return Err(ErrCode::InvalidState.into());
            }
            if dev.status == "dead" && new != "dead" {
                return Err(ErrCode::StateTooHigh.into());
            }
            self.meta.set_device(devid, Some(new), None).await?;
        } else {
            let weight = int_arg(a, "weight")
                .filter(|&w| w >= 0)
                .ok_or(ErrCode::BadParams)?;
            self.meta.set_device(devid, None, Some(weight)).await?;
        }
        self.changed();
        self.refresh_monitor().await;
        Ok(Vec::new())
    }
}
