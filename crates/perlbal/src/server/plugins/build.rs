//! A service's plugins made from its config: the [`PluginSet`] its
//! settings carry until the next config change.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use regex::Regex;

use crate::core::route::{leading_dir, Hook, Routes, Selector};
use crate::core::{Config, Plugin, Role, ServiceConf};
use crate::server::cgi_conf::CgiConf;
use crate::server::counters::StatsStores;
use crate::server::lock;
use crate::server::settings::PluginSet;
use crate::server::throttle::{ThrottleConf, ThrottleState};

/// What the plugins keep across config changes.
#[derive(Default)]
pub(crate) struct Runtime {
    /// Stats' counters, per service.
    pub(crate) stats: StatsStores,
    /// Throttle's memory of client addresses, per service.
    throttle: Mutex<BTreeMap<String, Arc<Mutex<ThrottleState>>>>,
}

/// The plugins of `svc`, or `None` when none of them needs a hook.
pub(crate) fn build(svc: &ServiceConf, cfg: &Config, rt: &Runtime) -> Option<Arc<PluginSet>> {
    let selector_role = svc.role == Some(Role::Selector);
    let interesting = svc
        .plugins
        .iter()
        .any(|p| !matches!(p, Plugin::AccessControl | Plugin::Highpri));
    if !selector_role && !interesting {
        return None;
    }
    let mut hooks = Vec::new();
    let mut routes = None;
    for p in &svc.plugins {
        match p {
            Plugin::AccessControl => hooks.push(Hook::Access),
            Plugin::Redirect => hooks.push(Hook::Redirect(svc.more.redirect.clone())),
            Plugin::MaxContentLength => {
                let max = svc
                    .values
                    .get("max_content_length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                hooks.push(Hook::MaxContentLength(max));
            }
            Plugin::NotModified => {
                if let Some(re) = svc
                    .more
                    .notmodified
                    .as_deref()
                    .and_then(|p| Regex::new(p).ok())
                {
                    hooks.push(Hook::NotModified(re));
                }
            }
            // The last selector plugin registered is the one used.
            Plugin::Vhosts => routes = Some(Routes::Vhosts(svc.more.vhosts.clone())),
            Plugin::Vpaths => {
                let v = svc
                    .more
                    .vpaths
                    .iter()
                    .filter_map(|(re, to)| Some((Regex::new(re).ok()?, to.clone())))
                    .collect();
                routes = Some(Routes::Vpaths(v));
            }
            _ => {}
        }
    }
    let has = |p: Plugin| svc.plugins.contains(&p);
    let stats = has(Plugin::Stats).then(|| rt.stats.of(&svc.name));
    let leading_dir = has(Plugin::AutoRemoveLeadingDir)
        .then(|| leading_dir(svc.get("docroot")?))
        .flatten();
    let selector = selector_role.then(|| {
        let mut roles = HashMap::new();
        for s in cfg.services.values() {
            if let Some(r) = &s.role {
                roles.insert(s.name.clone(), r.to_string());
            }
        }
        Selector {
            routes: routes.unwrap_or(Routes::None),
            default: svc.get("default_service").map(str::to_owned),
            latency: Duration::from_millis(svc.num("latency")),
            roles,
        }
    });
    let flag = |k: &str| svc.values.get(k).is_some_and(|v| v == "1");
    Some(Arc::new(PluginSet {
        hooks,
        selector,
        xff: (
            has(Plugin::XFFExtras) && flag("send_backend_port"),
            has(Plugin::XFFExtras) && flag("send_backend_proto"),
        ),
        stats,
        leading_dir,
        palimg: has(Plugin::Palimg),
        queues: has(Plugin::Queues),
        flv: has(Plugin::FlvStreaming),
        throttle: has(Plugin::Throttle).then(|| {
            let state = lock(&rt.throttle)
                .entry(svc.name.clone())
                .or_default()
                .clone();
            ThrottleConf::new(svc, state)
        }),
        lazycdn: svc
            .get("fallback_service")
            .filter(|_| has(Plugin::LazyCDN))
            .map(|f| {
                let ping = svc
                    .get("fallback_udp_ping_addr")
                    .and_then(|a| a.parse().ok());
                (f.to_owned(), ping)
            }),
        listen_port: svc.listen().map_or(0, |a| a.port()),
        cgi: has(Plugin::Cgilike).then(|| Arc::new(CgiConf::from_service(svc))),
    }))
}
