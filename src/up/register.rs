//! The MogileFS set-up `mogadm` would do, over the tracker protocol:
//! both storage hosts and their devices, the domain and its class. Every
//! step first looks at what the tracker already knows, so a second
//! `danga up` on the same data folder (even with other ports) just brings
//! the hosts up to date.

use std::time::Duration;

use anyhow::Context;
use danga_mogilefs::client::{Admin, ClassFields, HostFields, Options, Trackers};
use tokio::time::{sleep, Instant};

use super::ports::Ports;
use super::{CLASS, DOMAIN, MINDEVCOUNT};

/// An admin client for the stack's tracker.
pub fn admin(ports: &Ports) -> anyhow::Result<Admin> {
    let opts = Options {
        shuffle: false,
        ..Options::default()
    };
    Ok(Admin::new(Trackers::new(
        [ports.tracker.to_string()],
        opts,
    )?))
}

/// Registers hosts, devices, the domain and the class (idempotent).
pub async fn register(admin: &Admin, ports: &Ports) -> anyhow::Result<()> {
    let known = admin.hosts().await.context("get_hosts")?;
    for s in &ports.stores {
        let fields = HostFields {
            ip: Some(s.http.ip().to_string()),
            port: Some(s.http.port()),
            status: Some("alive".into()),
            ..HostFields::default()
        };
        let exists = known.iter().any(|h| h.hostname == s.name);
        admin
            .create_host(s.name, &fields, exists)
            .await
            .with_context(|| format!("registering host {}", s.name))?;
    }
    let hosts = admin.hosts().await.context("get_hosts")?;
    let devices = admin.devices().await.context("get_devices")?;
    for s in &ports.stores {
        let host = hosts
            .iter()
            .find(|h| h.hostname == s.name)
            .with_context(|| format!("host {} missing right after its creation", s.name))?;
        // Both nodes share one IP: tell the tracker each one's side channel.
        admin
            .set_server_setting(
                &format!("mogstored_stream_port_{}", host.hostid),
                &s.side.port().to_string(),
            )
            .await
            .with_context(|| format!("setting {}'s side-channel port", s.name))?;
        match devices.iter().find(|d| d.devid == s.devid) {
            None => admin
                .create_device(s.name, s.devid, None)
                .await
                .with_context(|| format!("creating device dev{}", s.devid))?,
            Some(d) if d.hostid != host.hostid => anyhow::bail!(
                "device dev{} belongs to host id {}, not {} ({}): this data folder was set up \
                 by something else",
                s.devid,
                d.hostid,
                host.hostid,
                s.name
            ),
            Some(_) => {}
        }
    }
    let domains = admin.domains().await.context("get_domains")?;
    let domain = domains.iter().find(|d| d.name == DOMAIN);
    if domain.is_none() {
        admin
            .create_domain(DOMAIN)
            .await
            .with_context(|| format!("creating domain {DOMAIN}"))?;
    }
    let class = domain.and_then(|d| d.classes.iter().find(|c| c.name == CLASS));
    if class.is_none_or(|c| c.mindevcount != MINDEVCOUNT) {
        let fields = ClassFields {
            mindevcount: Some(MINDEVCOUNT),
            ..ClassFields::default()
        };
        admin
            .create_class(DOMAIN, CLASS, &fields, class.is_some())
            .await
            .with_context(|| format!("creating class {CLASS}"))?;
    }
    Ok(())
}

/// Waits until the tracker's monitor has seen every device writeable (new
/// files go only there); `false` if `limit` passed first.
pub async fn wait_writeable(admin: &Admin, ports: &Ports, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(devices) = admin.devices().await {
            let writeable = |devid: u32| {
                devices
                    .iter()
                    .any(|d| d.devid == devid && d.observed_state.as_deref() == Some("writeable"))
            };
            if ports.stores.iter().all(|s| writeable(s.devid)) {
                return true;
            }
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(200)).await;
    }
}
