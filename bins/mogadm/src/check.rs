//! `mogadm check`: every tracker, every alive host's HTTP server, every
//! device's `/devN/usage` file, printed as the original does.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use danga_mogilefs::client::{http_get_small, Admin, Device, Host, Trackers};

use crate::{Ctx, Exit};

/// How long one storage request of the check may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

pub async fn check(ctx: &Ctx) -> Exit {
    out("Checking trackers...\n");
    let mut seen: Option<(Vec<Host>, Vec<Device>)> = None;
    for t in &ctx.trackers {
        out(&format!("  {t} ... "));
        let Ok(one) = Trackers::new([t.clone()], ctx.opts.clone()) else {
            out("INITIAL FAILURE (bad configuration?)\n");
            continue;
        };
        let admin = Admin::new(one);
        match (admin.hosts().await, admin.devices().await) {
            (Ok(h), Ok(d)) => {
                out("OK\n");
                seen = Some((h, d));
            }
            _ => out("REQUEST FAILURE (is the tracker up?)\n"),
        }
    }
    let Some((mut hosts, devices)) = seen else {
        return Exit::Fail("Unable to retrieve host information from tracker(s).\n".into());
    };
    out("\n");

    out("Checking hosts...\n");
    hosts.sort_by_key(|h| h.hostid);
    let mut up = Vec::new();
    for h in &hosts {
        out(&format!("  [{:>2}] {} ... ", h.hostid, h.hostname));
        if h.status != "alive" {
            out(&format!("skipping; status = {}\n", h.status));
            continue;
        }
        let url = format!("http://{}:{}/", h.hostip, h.http_port);
        // As the original: a 2xx for `GET /` (mogstored answers 200
        // "Directory listing disabled").
        match http_get_small(&url, 64 * 1024, HTTP_TIMEOUT).await {
            Ok((status, _)) if (200..300).contains(&status) => {
                out("OK\n");
                up.push((h, url));
            }
            _ => out(&format!("REQUEST FAILURE FETCHING: {url}\n")),
        }
    }
    if up.is_empty() {
        return Exit::Fail("No devices found on tracker(s).\n".into());
    }
    out("\n");

    out("Checking devices...\n");
    out(&format!(
        "  host device      {:>10} {:>10} {:>10} {:>7}  {:>7}   {:>4}\n",
        "size(G)", "used(G)", "free(G)", "use% ", "ob state", "I/O%"
    ));
    out("  ---- ------------ ---------- ---------- ---------- ------ ---------- -----\n");
    let (mut total, mut used, mut avail) = (0.0, 0.0, 0.0);
    for (h, url) in &up {
        let mut devs: Vec<&Device> = devices.iter().filter(|d| d.hostid == h.hostid).collect();
        devs.sort_by_key(|d| d.devid);
        for d in devs.into_iter().filter(|d| d.status != "dead") {
            out(&format!(
                "  [{:>2}] {:<7}",
                h.hostid,
                format!("dev{}", d.devid)
            ));
            let usage_url = format!("{url}dev{}/usage", d.devid);
            let body = match http_get_small(&usage_url, 64 * 1024, HTTP_TIMEOUT).await {
                Ok((200..=299, body)) => body,
                _ => {
                    out(&format!("REQUEST FAILURE FETCHING: {usage_url}\n"));
                    continue;
                }
            };
            if body.is_empty() {
                out(&format!("USAGE FILE BROKEN OR EMPTY: {usage_url}\n"));
                continue;
            }
            let data = parse_usage(&String::from_utf8_lossy(&body));
            if let Some(missing) = ["available", "device", "disk"]
                .into_iter()
                .find(|k| data.get(*k).is_none_or(|v| v.is_empty() || v == "0"))
            {
                out(&format!(
                    "MISSING FIELD ({missing}) FROM USAGE FILE: {usage_url}\n"
                ));
                continue;
            }
            let num = |k: &str| {
                data.get(k)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            let gib = 1024.0 * 1024.0;
            let (t, u, a) = (
                num("total") / gib,
                num("used") / gib,
                num("available") / gib,
            );
            let pct = if t > 0.0 { 100.0 - a / t * 100.0 } else { 0.0 };
            total += t;
            used += u;
            avail += a;
            let util = d
                .utilization
                .map_or_else(|| "N/A".to_owned(), |u| format!("{u:.1}"));
            out(&format!(
                "     {t:>10.3} {u:>10.3} {a:>10.3} {pct:>6.2}%  {:<7} {util:>5}\n",
                d.observed_state.as_deref().unwrap_or("?")
            ));
        }
    }
    let pct = if total > 0.0 {
        100.0 - avail / total * 100.0
    } else {
        0.0
    };
    out("  ---- ------------ ---------- ---------- ---------- ------\n");
    out(&format!(
        "             total:{total:>10.3} {used:>10.3} {avail:>10.3} {pct:>6.2}%\n"
    ));
    Exit::Ok(None)
}

/// `key: value` lines; a value that should be a number and is not counts
/// as 0 (as the original does).
fn parse_usage(text: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    for k in ["time", "used", "total"] {
        if let Some(v) = out.get_mut(k) {
            if v.parse::<f64>().is_err() {
                *v = "0".into();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn usage_files() {
        let u = super::parse_usage("available: 100\ndevice: /dev/sda1\ndisk: /var/mogdata/dev1\ntime: 12\ntotal: 2x\nuse: 5%\nused: 5\n");
        assert_eq!(u["available"], "100");
        assert_eq!(u["total"], "0");
        assert_eq!(u["disk"], "/var/mogdata/dev1");
    }
}
