//! Hosts and devices: create_host, update_host, get_hosts, get_devices.

use super::{opt, Out, Pairs, Reply};

/// create_host, update_host: `hostid`, `hostname`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDone {
    pub hostid: i64,
    pub hostname: String,
}

impl Reply for HostDone {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("hostid", self.hostid)
            .put("hostname", self.hostname);
        out.0
    }
}

/// get_hosts: `hosts`, then `hostN_*` for each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostList {
    pub hosts: Vec<HostEntry>,
}

impl Reply for HostList {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("hosts", self.hosts.len());
        for (i, h) in self.hosts.into_iter().enumerate() {
            let p = format!("host{}_", i + 1);
            out.put(format!("{p}hostid"), h.hostid)
                .put(format!("{p}status"), h.status)
                .put(format!("{p}hostname"), h.hostname)
                .put(format!("{p}hostip"), h.hostip)
                .put(format!("{p}http_port"), h.http_port)
                .put(format!("{p}http_get_port"), opt(h.http_get_port))
                .put(format!("{p}altip"), h.altip.unwrap_or_default())
                .put(format!("{p}altmask"), h.altmask.unwrap_or_default());
        }
        out.0
    }
}

/// One host of [`HostList`]; absent optional fields are sent empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEntry {
    pub hostid: i64,
    pub status: String,
    pub hostname: String,
    pub hostip: String,
    pub http_port: i64,
    pub http_get_port: Option<i64>,
    pub altip: Option<String>,
    pub altmask: Option<String>,
}

/// get_devices: `devices`, then `devN_*` for each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceList {
    pub devices: Vec<DeviceEntry>,
}

impl Reply for DeviceList {
    fn pairs(self) -> Pairs {
        let mut out = Out::default();
        out.put("devices", self.devices.len());
        for (i, d) in self.devices.into_iter().enumerate() {
            let p = format!("dev{}_", i + 1);
            let free = d.mb_total.zip(d.mb_used).map(|(t, u)| t - u);
            out.put(format!("{p}devid"), d.devid)
                .put(format!("{p}hostid"), d.hostid)
                .put(format!("{p}status"), d.status)
                .put(format!("{p}weight"), d.weight)
                .put(format!("{p}mb_total"), opt(d.mb_total))
                .put(format!("{p}mb_used"), opt(d.mb_used))
                .put(format!("{p}mb_free"), opt(free))
                .put(format!("{p}mb_asof"), opt(d.mb_asof))
                .put(format!("{p}observed_state"), opt(d.observed_state))
                .put(format!("{p}utilization"), opt(d.utilization))
                .put(
                    format!("{p}reject_bad_md5"),
                    opt(d.reject_bad_md5.map(i64::from)),
                );
        }
        out.0
    }
}

/// One device of [`DeviceList`]: the stored row and what the monitor saw
/// (absent values are sent empty; `mb_free` is total less used).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceEntry {
    pub devid: i64,
    pub hostid: i64,
    pub status: String,
    pub weight: i64,
    pub mb_total: Option<i64>,
    pub mb_used: Option<i64>,
    pub mb_asof: Option<i64>,
    pub observed_state: Option<String>,
    pub utilization: Option<String>,
    pub reject_bad_md5: Option<bool>,
}
