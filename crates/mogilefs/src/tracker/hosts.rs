//! Storage hosts and devices: create_host, update_host, delete_host,
//! get_hosts, create_device, get_devices, set_state, set_weight.

use super::Done;
use crate::meta::{is_unique_violation, Device, Host, MetaStore};
use crate::proto::command::{DeviceSpec, HostName, HostRef, HostSpec, SetState, SetWeight};
use crate::proto::reply::{DeviceEntry, DeviceList, HostDone, HostEntry, HostList};
use crate::proto::ErrCode;

impl<M: MetaStore> super::Tracker<M> {
    /// create_host, or update_host when `update`.
    pub(super) async fn create_host(&self, c: HostSpec, update: bool) -> Done<HostDone> {
        let hosts = self.meta.hosts().await?;
        let old = hosts.iter().find(|h| h.hostname == c.host);
        let status = c.status.transpose()?;
        let host = match (old, update) {
            (Some(_), false) => return Err(ErrCode::HostExists.into()),
            (None, true) => return Err(ErrCode::HostNotFound.into()),
            (None, false) => Host {
                hostid: 0,
                status: status.unwrap_or_else(|| "down".to_owned()),
                hostname: c.host.clone(),
                hostip: c.ip.ok_or(ErrCode::NoIp)?,
                http_port: c.port.ok_or(ErrCode::NoPort)??,
                http_get_port: c.getport.transpose()?,
                altip: c.altip,
                altmask: c.altmask,
            },
            (Some(o), true) => Host {
                status: status.unwrap_or_else(|| o.status.clone()),
                hostip: c.ip.unwrap_or_else(|| o.hostip.clone()),
                http_port: match c.port {
                    Some(p) => p?,
                    None => o.http_port,
                },
                http_get_port: match c.getport {
                    Some(p) => Some(p?),
                    None => o.http_get_port,
                },
                altip: c.altip.or(o.altip.clone()),
                altmask: c.altmask.or(o.altmask.clone()),
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
        Ok(HostDone {
            hostid,
            hostname: c.host,
        })
    }

    pub(super) async fn delete_host(&self, c: HostName) -> Done {
        let (hosts, devices) = self.fresh_topology().await?;
        let h = hosts
            .iter()
            .find(|h| h.hostname == c.host)
            .ok_or(ErrCode::UnknownHost)?;
        if devices.iter().any(|d| d.hostid == h.hostid) {
            return Err(ErrCode::HostNotEmpty.into());
        }
        self.meta.delete_host(h.hostid).await?;
        self.changed();
        self.refresh_monitor().await;
        Ok(())
    }

    pub(super) async fn get_hosts(&self, only: Option<i64>) -> Done<HostList> {
        let hosts = self
            .meta
            .hosts()
            .await?
            .into_iter()
            .filter(|h| only.is_none_or(|id| id == h.hostid))
            .map(|h| HostEntry {
                hostid: h.hostid,
                status: h.status,
                hostname: h.hostname,
                hostip: h.hostip,
                http_port: h.http_port,
                http_get_port: h.http_get_port,
                altip: h.altip,
                altmask: h.altmask,
            })
            .collect();
        Ok(HostList { hosts })
    }

    pub(super) async fn create_device(&self, c: DeviceSpec) -> Done {
        let hosts = self.meta.hosts().await?;
        let host = match &c.host {
            Some(HostRef::Name(name)) => hosts
                .iter()
                .find(|h| h.hostname == *name)
                .ok_or(ErrCode::UnknownHost)?,
            Some(HostRef::Id(id)) => hosts
                .iter()
                .find(|h| h.hostid == *id)
                .ok_or(ErrCode::UnknownHostid)?,
            None => return Err(ErrCode::UnknownHostid.into()),
        };
        let dev = Device {
            devid: c.devid,
            hostid: host.hostid,
            status: c.state,
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
        Ok(())
    }

    pub(super) async fn get_devices(&self, only: Option<i64>) -> Done<DeviceList> {
        let rows: Vec<Device> = self
            .meta
            .devices()
            .await?
            .into_iter()
            .filter(|d| only.is_none_or(|id| id == d.devid))
            .collect();
        let obs = self.monitor.devices();
        let devices = rows
            .into_iter()
            .map(|d| {
                let o = obs.get(&d.devid).cloned().unwrap_or_default();
                DeviceEntry {
                    devid: d.devid,
                    hostid: d.hostid,
                    status: d.status,
                    weight: d.weight,
                    mb_total: d.mb_total,
                    mb_used: d.mb_used,
                    mb_asof: d.mb_asof,
                    observed_state: o.state.map(|s| s.name().to_owned()),
                    utilization: o.utilization,
                    reject_bad_md5: o.reject_bad_md5,
                }
            })
            .collect();
        Ok(DeviceList { devices })
    }

    /// The device `devid`, if it is on host `host` (`no_device`,
    /// `host_mismatch`), read now.
    async fn device_on(&self, host: &str, devid: i64) -> Done<Device> {
        let (hosts, devices) = self.fresh_topology().await?;
        let dev = devices
            .into_iter()
            .find(|d| d.devid == devid)
            .ok_or(ErrCode::NoDevice)?;
        let owner = hosts.iter().find(|h| h.hostid == dev.hostid);
        if owner.is_none_or(|h| h.hostname != host) {
            return Err(ErrCode::HostMismatch.into());
        }
        Ok(dev)
    }

    pub(super) async fn set_state(&self, c: SetState) -> Done {
        let dev = self.device_on(&c.host, c.device).await?;
        let new = c.state?;
        if dev.status == "dead" && new != "dead" {
            return Err(ErrCode::StateTooHigh.into());
        }
        self.meta.set_device(c.device, Some(&new), None).await?;
        self.device_changed().await
    }

    pub(super) async fn set_weight(&self, c: SetWeight) -> Done {
        self.device_on(&c.host, c.device).await?;
        let weight = c.weight?;
        self.meta.set_device(c.device, None, Some(weight)).await?;
        self.device_changed().await
    }

    async fn device_changed(&self) -> Done {
        self.changed();
        self.refresh_monitor().await;
        Ok(())
    }
}
