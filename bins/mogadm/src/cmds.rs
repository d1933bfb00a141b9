//! The verbs: hosts, devices, domains, classes, settings. Output and
//! messages as the original's `cmd_*` subs print them.

use std::collections::BTreeSet;

use danga_mogilefs::client::{Admin, ClassFields, Device, Host, HostFields, Trackers};

use crate::table::{self, Parsed, Top};
use crate::{Ctx, Exit};

const NO_HOSTS: &str = "Unable to retrieve host information from tracker(s).\n";
const NO_DEVICES: &str = "No devices found on tracker(s).\n";
const NO_DOMAINS: &str = "Unable to retrieve domains from tracker(s).\n";
const HOST_ADD_NO_IP: &str =
    "Hostname does not resolve to an IP, and you didn't specify one on the options
list.  Please either verify the host resolves, or try again:

    mogadm host add <hostname> --ip=<ipaddr> [...]
";
const DRAIN_NOTE: &str = "***NOTE***: As of server version 2.40 'drain' has changed. See docs/wiki";

/// Runs `top` with the words after it.
pub async fn run(top: &'static Top, argv: &[String], ctx: &Ctx) -> Exit {
    let admin = match Trackers::new(ctx.trackers.clone(), ctx.opts.clone()) {
        Ok(t) => Admin::new(t),
        Err(e) => return Exit::Fail(e.to_string()),
    };
    match top.name {
        "check" if !argv.is_empty() => {
            return Exit::Fail("Unknown options/arguments to 'check' command.".into())
        }
        "check" => return crate::check::check(ctx).await,
        "stats" if !argv.is_empty() => {
            return Exit::Fail("Unknown options/arguments to 'stats' command.".into())
        }
        "stats" => {
            return Exit::Fail("mogadm stats is deprecated by new 'mogstats' utility".into())
        }
        _ => {}
    }
    let help =
        |verb: Option<&str>, msg: Option<&str>| Exit::Help(table::topcmd_help(top, verb, msg));
    let Some(verb) = argv
        .first()
        .and_then(|v| top.verbs.iter().find(|t| t.name == v))
    else {
        return help(None, None);
    };
    let a = match table::parse_verb(verb, &argv[1..]) {
        Ok(a) => a,
        Err(bad) => {
            if let Some(w) = &bad.warning {
                eprintln!("{w}");
            }
            return help(Some(verb.name), bad.msg.as_deref());
        }
    };
    let get = |k: &str| a.get(k).map(String::as_str).unwrap_or_default();
    let fail = |what: &str, e: danga_mogilefs::client::Error| Exit::Fail(format!("{what}{e}"));
    match (top.name, verb.name) {
        ("host", "list") => host_list(&admin).await,
        ("host", "add") => host_add(&admin, &a).await,
        ("host", "modify") => match host_fields(&a) {
            Err(e) => e,
            Ok(f) => match admin.create_host(get("hostname"), &f, true).await {
                Ok(()) => Exit::Ok(Some("Host has been modified.")),
                Err(e) => fail("Failure modifying host: ", e),
            },
        },
        ("host", "mark") => {
            let f = HostFields {
                status: Some(get("status").to_owned()),
                ..HostFields::default()
            };
            match admin.create_host(get("hostname"), &f, true).await {
                Ok(()) => Exit::Ok(Some("Host status updated.")),
                Err(e) => fail("Failure updating host status: ", e),
            }
        }
        ("host", "delete") => match admin.delete_host(get("hostname")).await {
            Ok(()) => Exit::Ok(Some("Host has been deleted.")),
            Err(e) => fail("Failure deleting host: ", e),
        },
        ("domain" | "class", "list") => domain_list(&admin).await,
        ("domain", "add") => match admin.create_domain(get("domain")).await {
            Ok(()) => Exit::Ok(Some("Domain created.")),
            Err(e) => fail("Error creating domain: ", e),
        },
        ("domain", "delete") => match admin.delete_domain(get("domain")).await {
            Ok(()) => Exit::Ok(Some("Domain deleted.")),
            Err(e) => fail("Error deleting domain: ", e),
        },
        ("class", "add" | "modify") => {
            let update = verb.name == "modify";
            // The original sends mindevcount 2 when none is given, on
            // modify too.
            let f = ClassFields {
                mindevcount: Some(
                    a.get("mindevcount")
                        .and_then(|m| m.parse().ok())
                        .filter(|&m| m != 0)
                        .unwrap_or(2),
                ),
                replpolicy: a.get("replpolicy").cloned(),
                hashtype: a.get("hashtype").cloned(),
            };
            match admin
                .create_class(get("domain"), get("class"), &f, update)
                .await
            {
                Ok(()) if update => Exit::Ok(Some("Class updated.")),
                Ok(()) => Exit::Ok(Some("Class created.")),
                Err(e) if update => fail("Error updating class: ", e),
                Err(e) => fail("Error creating class: ", e),
            }
        }
        ("class", "delete") => match admin.delete_class(get("domain"), get("class")).await {
            Ok(()) => Exit::Ok(Some("Class deleted.")),
            Err(e) => fail("Error deleting class: ", e),
        },
        ("device", "add") => {
            if admin.hosts().await.is_err() {
                return Exit::Fail(NO_HOSTS.into());
            }
            let Ok(devid) = get("devid").parse::<u32>() else {
                return help(Some(verb.name), Some("devid should be numeric"));
            };
            match admin
                .create_device(
                    get("hostname"),
                    devid,
                    Some(a.get("status").map_or("alive", String::as_str)),
                )
                .await
            {
                Ok(()) => Exit::Ok(Some("Device added.")),
                Err(e) => fail("Error adding device: ", e),
            }
        }
        ("device", "mark" | "modify") => {
            println!("{DRAIN_NOTE}");
            let Ok(devid) = get("devid").parse::<u32>() else {
                return Exit::Fail(format!(
                    "Error updating device: bad_params devid {:?} is not a number",
                    get("devid")
                ));
            };
            if let Some(s) = a.get("status") {
                if let Err(e) = admin.set_state(get("hostname"), devid, s).await {
                    return fail("Error updating device: ", e);
                }
            }
            if let Some(w) = a.get("weight") {
                let Ok(w) = w.parse::<u32>() else {
                    return Exit::Fail(format!(
                        "Error updating device: bad_params weight {w:?} must be a positive number"
                    ));
                };
                if let Err(e) = admin.set_weight(get("hostname"), devid, w).await {
                    return fail("Error updating device: ", e);
                }
            }
            Exit::Ok(Some("Device updated."))
        }
        ("device", "list") => device_list(&admin, a.contains_key("all")).await,
        ("device", "summary") => {
            device_summary(
                &admin,
                a.get("status").map_or("alive,readonly", String::as_str),
            )
            .await
        }
        ("settings", "list") => match admin.server_settings().await {
            Ok(all) => {
                for (k, v) in all.iter().filter(|(k, _)| !k.starts_with("rebal")) {
                    println!("{k:>25} = {v}");
                }
                Exit::Ok(None)
            }
            Err(e) => fail("can't get settings: ", e),
        },
        ("settings", "set") => match admin.set_server_setting(get("key"), get("value")).await {
            Ok(()) => Exit::Ok(None),
            Err(e) => Exit::Fail(e.to_string()),
        },
        ("fsck" | "rebalance", _) => crate::jobs::run(&admin, top.name, verb.name, &a).await,
        ("slave", _) => crate::slave::run(&admin, verb.name, &a).await,
        _ => Exit::Help(table::usage()),
    }
}

/// `--ip --port --getport --altip --altmask --status` as given.
fn host_fields(a: &Parsed) -> Result<HostFields, Exit> {
    let port = |k: &str| -> Result<Option<u16>, Exit> {
        a.get(k)
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| Exit::Fail(format!("Invalid --{k}: {p} is not a port number")))
            })
            .transpose()
    };
    Ok(HostFields {
        ip: a.get("ip").cloned(),
        port: port("port")?,
        getport: port("getport")?,
        altip: a.get("altip").cloned(),
        altmask: a.get("altmask").cloned(),
        status: a.get("status").cloned(),
    })
}

async fn host_add(admin: &Admin, a: &Parsed) -> Exit {
    let Ok(hosts) = admin.hosts().await else {
        return Exit::Fail(NO_HOSTS.into());
    };
    let name = a.get("hostname").map(String::as_str).unwrap_or_default();
    if hosts.iter().any(|h| h.hostname == name) {
        return Exit::Fail("Host already exists.".into());
    }
    let mut f = match host_fields(a) {
        Ok(f) => f,
        Err(e) => return e,
    };
    if f.ip.is_none() {
        let resolved = tokio::net::lookup_host((name, 0))
            .await
            .ok()
            .and_then(|mut it| it.find(|s| s.is_ipv4()));
        match resolved {
            Some(addr) => f.ip = Some(addr.ip().to_string()),
            None => return Exit::Fail(HOST_ADD_NO_IP.into()),
        }
    }
    f.port = f.port.or(Some(7500));
    f.status = f.status.or(Some("down".into()));
    match admin.create_host(name, &f, false).await {
        Ok(()) => Exit::Ok(Some("Host has been created.")),
        Err(e) => Exit::Fail(format!("Failure creating host: {e}")),
    }
}

/// Hosts in the original's order: its ids sorted as strings.
fn by_id_text(mut hosts: Vec<Host>) -> Vec<Host> {
    hosts.sort_by_key(|h| h.hostid.to_string());
    hosts
}

async fn host_list(admin: &Admin) -> Exit {
    let Ok(hosts) = admin.hosts().await else {
        return Exit::Fail(NO_HOSTS.into());
    };
    for h in by_id_text(hosts) {
        println!("{} [{}]: {}", h.hostname, h.hostid, h.status);
        let rows = [
            ("IP", Some(format!("{}:{}", h.hostip, h.http_port))),
            ("Alt IP", h.altip.clone()),
            ("Alt Mask", h.altmask.clone()),
            ("GET Port", h.http_get_port.map(|p| p.to_string())),
        ];
        for (k, v) in rows {
            if let Some(v) = v.filter(|v| !v.is_empty() && v != "0") {
                println!("  {:<10}{v}", format!("{k}:"));
            }
        }
        println!();
    }
    Exit::Ok(None)
}

async fn domain_list(admin: &Admin) -> Exit {
    let Ok(mut domains) = admin.domains().await else {
        return Exit::Fail(NO_DOMAINS.into());
    };
    println!(
        " {:<20} {:<20} {:<12}  {:<12} {:<7}",
        "domain", "class", "mindevcount", "replpolicy", "hashtype"
    );
    println!(
        "{} {} {} {} {}",
        "-".repeat(20),
        "-".repeat(20),
        "-".repeat(13),
        "-".repeat(12),
        "-".repeat(7)
    );
    domains.sort_by(|a, b| a.name.cmp(&b.name));
    for d in &mut domains {
        d.classes.sort_by(|a, b| a.name.cmp(&b.name));
        for c in &d.classes {
            println!(
                " {:<20} {:<20}      {:<8} {:<13} {:<7}",
                d.name, c.name, c.mindevcount, c.replpolicy, c.hashtype
            );
        }
        println!();
    }
    Exit::Ok(None)
}

/// Hosts and devices, or the original's message when either is missing.
async fn topology(admin: &Admin) -> Result<(Vec<Host>, Vec<Device>), Exit> {
    let hosts = admin
        .hosts()
        .await
        .map_err(|_| Exit::Fail(NO_HOSTS.into()))?;
    let devs = admin
        .devices()
        .await
        .map_err(|_| Exit::Fail(NO_DEVICES.into()))?;
    let mut devs = devs;
    devs.sort_by_key(|d| d.devid.to_string());
    Ok((by_id_text(hosts), devs))
}

/// Gigabytes from the tracker's MB figures (unknown counts as 0).
fn gb(mb: Option<u64>) -> f64 {
    mb.unwrap_or(0) as f64 / 1024.0
}

async fn device_list(admin: &Admin, all: bool) -> Exit {
    let (hosts, devs) = match topology(admin).await {
        Ok(t) => t,
        Err(e) => return e,
    };
    for h in &hosts {
        println!("{} [{}]: {}", h.hostname, h.hostid, h.status);
        println!(
            "{:>6}  {:<10} {:>7} {:>7} {:>7}",
            "", "", "used(G)", "free(G)", "total(G)"
        );
        for d in devs.iter().filter(|d| d.hostid == h.hostid) {
            if d.status == "dead" && !all {
                continue;
            }
            let (total, used) = (gb(d.mb_total), gb(d.mb_used));
            println!(
                "{:>6}: {:<10} {:<7.3} {:<7.3} {:<7.3}",
                format!("dev{}", d.devid),
                d.status,
                used,
                total - used,
                total
            );
        }
        println!();
    }
    Exit::Ok(None)
}

async fn device_summary(admin: &Admin, states: &str) -> Exit {
    let (hosts, devs) = match topology(admin).await {
        Ok(t) => t,
        Err(e) => return e,
    };
    let show: BTreeSet<&str> = states.split(',').collect();
    println!(
        "{:<15} {:>6} {:>7}  {:>8} {:>8} {:>8} {:>8}",
        "Hostname", "HostID", "Status", "used(G)", "free(G)", "total(G)", "%Used"
    );
    for h in &hosts {
        let (mut total, mut used) = (0.0, 0.0);
        for d in devs
            .iter()
            .filter(|d| d.hostid == h.hostid && show.contains(d.status.as_str()))
        {
            total += gb(d.mb_total);
            used += gb(d.mb_used);
        }
        print!("{:<15} [{:>4}]: {:>6}", h.hostname, h.hostid, h.status);
        print!("  {:>8.3} {:>8.3} {:>8.3} ", used, total - used, total);
        if total > 0.0 {
            print!("{:>8.2}", 100.0 * used / total);
        }
        println!();
    }
    Exit::Ok(None)
}
