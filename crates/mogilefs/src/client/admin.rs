//! Cluster administration (MogileFS::Admin's calls, what `mogadm` uses):
//! hosts, devices, domains, classes, server settings.

use super::{pairs, Error, Trackers};
use crate::proto::Args;

/// An administration client.
#[derive(Debug, Clone)]
pub struct Admin {
    trackers: Trackers,
}

/// A storage host (`get_hosts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Host id.
    pub hostid: u32,
    /// Name.
    pub hostname: String,
    /// `alive`, `down`, `dead` or `readonly`.
    pub status: String,
    /// IP.
    pub hostip: String,
    /// mogstored's HTTP port.
    pub http_port: u16,
    /// A port for reads only, if any.
    pub http_get_port: Option<u16>,
    /// Alternate IP.
    pub altip: Option<String>,
    /// The netmask that selects the alternate IP.
    pub altmask: Option<String>,
}

/// A device (`get_devices`).
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Device id.
    pub devid: u32,
    /// Its host.
    pub hostid: u32,
    /// `alive`, `dead`, `down`, `drain` or `readonly`.
    pub status: String,
    /// Weight for new files.
    pub weight: i64,
    /// Size in MB, once the monitor measured it.
    pub mb_total: Option<u64>,
    /// MB used.
    pub mb_used: Option<u64>,
    /// What the monitor saw (`writeable`, `readable`, `unreachable`).
    pub observed_state: Option<String>,
    /// I/O utilization in percent, if known.
    pub utilization: Option<f64>,
}

/// A class of a domain (`get_domains`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    /// Name (`default` for the implicit class).
    pub name: String,
    /// Copies wanted.
    pub mindevcount: u32,
    /// Replication policy, e.g. `MultipleHosts()`.
    pub replpolicy: String,
    /// Checksum type (`NONE`, `MD5`, ...).
    pub hashtype: String,
}

/// A domain and its classes (`get_domains`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Name.
    pub name: String,
    /// Classes, as the tracker lists them.
    pub classes: Vec<Class>,
}

/// Fields of `create_host` / `update_host`; `None` leaves a field as it is
/// (update) or to the tracker's default (create).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFields {
    /// IP.
    pub ip: Option<String>,
    /// HTTP port.
    pub port: Option<u16>,
    /// Read-only HTTP port.
    pub getport: Option<u16>,
    /// Alternate IP.
    pub altip: Option<String>,
    /// Alternate netmask.
    pub altmask: Option<String>,
    /// Status.
    pub status: Option<String>,
}

/// Fields of `create_class` / `update_class`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassFields {
    /// Copies wanted.
    pub mindevcount: Option<u32>,
    /// Replication policy string.
    pub replpolicy: Option<String>,
    /// Checksum type.
    pub hashtype: Option<String>,
}

fn bad(what: &str, args: &Args) -> Error {
    Error::Protocol {
        tracker: "reply".into(),
        line: format!("{what}: {}", args.encode()),
    }
}

fn count(r: &Args, key: &str) -> usize {
    r.get(key).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
}

fn opt(r: &Args, key: &str) -> Option<String> {
    r.nonempty(key).map(str::to_owned)
}

impl Admin {
    /// An admin client over `trackers`.
    pub fn new(trackers: Trackers) -> Admin {
        Admin { trackers }
    }

    /// The trackers.
    pub fn trackers(&self) -> &Trackers {
        &self.trackers
    }

    /// Every host.
    pub async fn hosts(&self) -> Result<Vec<Host>, Error> {
        let r = self.trackers.call("get_hosts", &[]).await?;
        (1..=count(&r, "hosts"))
            .map(|i| {
                let f = |k: &str| format!("host{i}_{k}");
                let port = |k: &str| r.nonempty(&f(k)).and_then(|p| p.parse().ok());
                Ok(Host {
                    hostid: r
                        .get(&f("hostid"))
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| bad("hostid", &r))?,
                    hostname: r.get(&f("hostname")).unwrap_or_default().to_owned(),
                    status: r.get(&f("status")).unwrap_or_default().to_owned(),
                    hostip: r.get(&f("hostip")).unwrap_or_default().to_owned(),
                    http_port: port("http_port").unwrap_or(7500),
                    http_get_port: port("http_get_port").filter(|&p| p != 0),
                    altip: opt(&r, &f("altip")),
                    altmask: opt(&r, &f("altmask")),
                })
            })
            .collect()
    }

    /// Every device.
    pub async fn devices(&self) -> Result<Vec<Device>, Error> {
        let r = self.trackers.call("get_devices", &[]).await?;
        (1..=count(&r, "devices"))
            .map(|i| {
                let f = |k: &str| format!("dev{i}_{k}");
                let id = |k: &str| {
                    r.get(&f(k))
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| bad(k, &r))
                };
                let num = |k: &str| r.nonempty(&f(k)).and_then(|v| v.trim().parse().ok());
                Ok(Device {
                    devid: id("devid")?,
                    hostid: id("hostid")?,
                    status: r.get(&f("status")).unwrap_or_default().to_owned(),
                    weight: r
                        .nonempty(&f("weight"))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(100),
                    mb_total: num("mb_total"),
                    mb_used: num("mb_used"),
                    observed_state: opt(&r, &f("observed_state")),
                    utilization: r
                        .nonempty(&f("utilization"))
                        .and_then(|v| v.trim().parse().ok()),
                })
            })
            .collect()
    }

    /// Every domain with its classes.
    pub async fn domains(&self) -> Result<Vec<Domain>, Error> {
        let r = self.trackers.call("get_domains", &[]).await?;
        Ok((1..=count(&r, "domains"))
            .map(|i| Domain {
                name: r.get(&format!("domain{i}")).unwrap_or_default().to_owned(),
                classes: (1..=count(&r, &format!("domain{i}classes")))
                    .map(|j| {
                        let f = |k: &str| format!("domain{i}class{j}{k}");
                        Class {
                            name: r.get(&f("name")).unwrap_or_default().to_owned(),
                            mindevcount: r
                                .get(&f("mindevcount"))
                                .and_then(|v| v.parse().ok())
                                .unwrap_or(0),
                            replpolicy: r.get(&f("replpolicy")).unwrap_or_default().to_owned(),
                            hashtype: r.get(&f("hashtype")).unwrap_or_default().to_owned(),
                        }
                    })
                    .collect(),
            })
            .collect())
    }

    /// Creates a domain.
    pub async fn create_domain(&self, domain: &str) -> Result<(), Error> {
        self.trackers
            .call("create_domain", &[("domain", domain)])
            .await
            .map(drop)
    }

    /// Deletes an empty domain.
    pub async fn delete_domain(&self, domain: &str) -> Result<(), Error> {
        self.trackers
            .call("delete_domain", &[("domain", domain)])
            .await
            .map(drop)
    }

    /// Creates a class (`update`: changes one).
    pub async fn create_class(
        &self,
        domain: &str,
        class: &str,
        fields: &ClassFields,
        update: bool,
    ) -> Result<(), Error> {
        let mdc = fields.mindevcount.map(|n| n.to_string());
        let mut args = vec![("domain", domain), ("class", class)];
        if let Some(m) = &mdc {
            args.push(("mindevcount", m));
        }
        if let Some(p) = fields.replpolicy.as_deref().filter(|p| !p.is_empty()) {
            args.push(("replpolicy", p));
        }
        if let Some(h) = fields.hashtype.as_deref().filter(|h| !h.is_empty()) {
            args.push(("hashtype", h));
        }
        let cmd = if update {
            "update_class"
        } else {
            "create_class"
        };
        self.trackers.call(cmd, &args).await.map(drop)
    }

    /// Deletes a class without files.
    pub async fn delete_class(&self, domain: &str, class: &str) -> Result<(), Error> {
        self.trackers
            .call("delete_class", &[("domain", domain), ("class", class)])
            .await
            .map(drop)
    }

    /// Creates a host (`update`: changes one).
    pub async fn create_host(&self, name: &str, f: &HostFields, update: bool) -> Result<(), Error> {
        let port = f.port.map(|p| p.to_string());
        let getport = f.getport.map(|p| p.to_string());
        let mut args = vec![("host", name)];
        let fields = [
            ("ip", f.ip.as_deref()),
            ("port", port.as_deref()),
            ("getport", getport.as_deref()),
            ("altip", f.altip.as_deref()),
            ("altmask", f.altmask.as_deref()),
            ("status", f.status.as_deref()),
        ];
        args.extend(fields.iter().filter_map(|(k, v)| Some((*k, (*v)?))));
        let cmd = if update { "update_host" } else { "create_host" };
        self.trackers.call(cmd, &args).await.map(drop)
    }

    /// Deletes a host without devices.
    pub async fn delete_host(&self, name: &str) -> Result<(), Error> {
        self.trackers
            .call("delete_host", &[("host", name)])
            .await
            .map(drop)
    }

    /// Adds device `devid` to host `hostname`, in `state` (default alive).
    pub async fn create_device(
        &self,
        hostname: &str,
        devid: u32,
        state: Option<&str>,
    ) -> Result<(), Error> {
        let id = devid.to_string();
        let mut args = vec![("hostname", hostname), ("devid", id.as_str())];
        if let Some(s) = state {
            args.push(("state", s));
        }
        self.trackers.call("create_device", &args).await.map(drop)
    }

    /// Sets a device's state.
    pub async fn set_state(&self, host: &str, devid: u32, state: &str) -> Result<(), Error> {
        let id = devid.to_string();
        self.trackers
            .call(
                "set_state",
                &[("host", host), ("device", &id), ("state", state)],
            )
            .await
            .map(drop)
    }

    /// Sets a device's weight.
    pub async fn set_weight(&self, host: &str, devid: u32, weight: u32) -> Result<(), Error> {
        let (id, w) = (devid.to_string(), weight.to_string());
        self.trackers
            .call(
                "set_weight",
                &[("host", host), ("device", &id), ("weight", &w)],
            )
            .await
            .map(drop)
    }

    /// Every server setting, sorted by key.
    pub async fn server_settings(&self) -> Result<Vec<(String, String)>, Error> {
        let r = self.trackers.call("server_settings", &[]).await?;
        let mut out: Vec<(String, String)> = (1..=count(&r, "key_count"))
            .filter_map(|i| {
                let k = r.get(&format!("key_{i}"))?;
                let v = r.get(&format!("value_{i}")).unwrap_or_default();
                Some((k.to_owned(), v.to_owned()))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Sets a server setting.
    pub async fn set_server_setting(&self, key: &str, value: &str) -> Result<(), Error> {
        self.trackers
            .call("set_server_setting", &[("key", key), ("value", value)])
            .await
            .map(drop)
    }

    /// A raw command's reply pairs, for what this type does not wrap.
    pub async fn raw(
        &self,
        cmd: &str,
        args: &[(&str, &str)],
    ) -> Result<Vec<(String, String)>, Error> {
        self.trackers.call(cmd, args).await.map(|r| pairs(&r))
    }
}
