//! `mogadm fsck ...` and `mogadm rebalance ...`: the tracker's `fsck_*` and
//! `rebalance_*` commands, printed as the original's `cmd_fsck_*` and
//! `cmd_rebalance_*` subs print them.

use std::collections::BTreeMap;
use std::time::Duration;

use danga_mogilefs::client::Admin;

use crate::table::Parsed;
use crate::Exit;

/// Runs `fsck <verb>` or `rebalance <verb>`.
pub async fn run(admin: &Admin, top: &str, verb: &str, a: &Parsed) -> Exit {
    let call = |cmd: &'static str, args: Vec<(&'static str, String)>| async move {
        let refs: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        admin
            .raw(cmd, &refs)
            .await
            .map(|p| p.into_iter().collect::<BTreeMap<String, String>>())
    };
    let done = |r: Result<BTreeMap<String, String>, _>, msg: &'static str| match r {
        Ok(_) => Exit::Ok(Some(msg)),
        Err(e) => Exit::Fail(format!("{e}")),
    };
    match (top, verb) {
        ("fsck", "start") => done(call("fsck_start", vec![]).await, "fsck started"),
        ("fsck", "stop") => done(call("fsck_stop", vec![]).await, "fsck stopped"),
        ("fsck", "clearlog") => done(call("fsck_clearlog", vec![]).await, "fsck log cleared"),
        ("fsck", "reset") => {
            let mut args = Vec::new();
            if a.contains_key("policy-only") {
                args.push(("policy_only", "1".to_owned()));
            }
            if let Some(p) = a.get("startpos") {
                args.push(("startpos", p.clone()));
            }
            // The original says "fsck stopped" here too.
            done(call("fsck_reset", args).await, "fsck stopped")
        }
        ("fsck", "status") => match call("fsck_status", vec![]).await {
            Ok(st) => {
                print!("{}", fsck_status_text(&st));
                Exit::Ok(None)
            }
            Err(_) => Exit::Fail("can't get fsck status".into()),
        },
        ("fsck", "printlog" | "taillog") => {
            let tail = verb == "taillog";
            let mut after = 0;
            if tail {
                match call("fsck_status", vec![]).await {
                    Ok(st) => after = num(&st, "max_logid") - 20,
                    Err(_) => return Exit::Fail("can't get fsck status".into()),
                }
            }
            println!(
                "{:<20} {:>5} {:>13} {:>10}",
                "unixtime", "event", "fid", "devid"
            );
            loop {
                let rows = match call("fsck_getlog", vec![("after_logid", after.to_string())]).await
                {
                    Ok(r) => r,
                    Err(e) => return Exit::Fail(format!("{e}")),
                };
                let n = num(&rows, "row_count");
                if n == 0 {
                    if !tail {
                        return Exit::Ok(None);
                    }
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
                for i in 1..=n {
                    let get = |k: &str| rows.get(&format!("row_{i}_{k}")).cloned();
                    let dev = get("devid").filter(|d| !d.is_empty() && d != "0");
                    println!(
                        "{:<20} {:>5} {:>13} {:>10}",
                        get("utime").unwrap_or_default(),
                        get("evcode").unwrap_or_default(),
                        get("fid").unwrap_or_default(),
                        dev.unwrap_or_else(|| "-".into())
                    );
                    after = get("logid").and_then(|l| l.parse().ok()).unwrap_or(after);
                }
            }
        }
        ("rebalance", "start") => done(call("rebalance_start", vec![]).await, "rebalance started"),
        ("rebalance", "stop") => done(call("rebalance_stop", vec![]).await, "rebalance stopped"),
        ("rebalance", "reset") => done(call("rebalance_reset", vec![]).await, "rebalance reset"),
        ("rebalance", "policy") => {
            let policy = a.get("options").cloned().unwrap_or_default();
            done(
                call("rebalance_set_policy", vec![("policy", policy)]).await,
                "changed policy setting",
            )
        }
        ("rebalance", "test") => {
            let res = match call("rebalance_test", vec![]).await {
                Ok(r) => r,
                Err(e) => return Exit::Fail(format!("{e}")),
            };
            let settings = admin.server_settings().await.unwrap_or_default();
            let policy = settings
                .iter()
                .find(|(k, _)| k == "rebal_policy")
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            println!("Tested rebalance policy...");
            println!("Policy: {policy}\n");
            for (title, key) in [
                ("Source devices:", "sdevs"),
                ("Destination devices:", "ddevs"),
            ] {
                println!("{title}");
                let mut devs: Vec<&str> = res
                    .get(key)
                    .map_or("", String::as_str)
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .collect();
                devs.sort_unstable();
                for d in devs {
                    println!(" - {d}");
                }
            }
            Exit::Ok(None)
        }
        ("rebalance", "status") => {
            let settings = match admin.server_settings().await {
                Ok(s) => s,
                Err(e) => return Exit::Fail(format!("{e}")),
            };
            let res = match call("rebalance_status", vec![]).await {
                Ok(r) => r,
                Err(e) => return Exit::Fail(format!("{e}")),
            };
            let running = settings
                .iter()
                .any(|(k, v)| k == "rebal_host" && !v.is_empty());
            println!(
                "Rebalance is {}",
                if running { "running" } else { "stopped" }
            );
            println!("Rebalance status:");
            let mut words: Vec<&str> = res
                .get("state")
                .map_or("", String::as_str)
                .split_whitespace()
                .collect();
            words.sort_unstable();
            for w in words {
                let (k, v) = w.split_once('=').unwrap_or((w, ""));
                println!("{k:>25} = {v}");
            }
            Exit::Ok(None)
        }
        ("rebalance", "settings") => match admin.server_settings().await {
            Ok(all) => {
                for (k, v) in all
                    .iter()
                    .filter(|(k, _)| k.starts_with("rebal_") && k != "rebal_state")
                {
                    println!("{k:>25} = {v}");
                }
                Exit::Ok(None)
            }
            Err(_) => Exit::Fail("can't get settings".into()),
        },
        _ => Exit::Help(crate::table::usage()),
    }
}

fn num(m: &BTreeMap<String, String>, k: &str) -> i64 {
    m.get(k).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The original's `fsck status` block.
pub fn fsck_status_text(st: &BTreeMap<String, String>) -> String {
    let line = |k: &str, v: &str| format!("{k:>11}: {v}\n");
    let n = |k: &str| num(st, k);
    let mut out = String::from("\n");
    let host = st.get("host").cloned().unwrap_or_default();
    let running = if n("running") != 0 {
        format!("Yes (on {host})")
    } else {
        "No".into()
    };
    out.push_str(&line("Running", &running));
    let (checked, end) = (n("max_fid_checked"), n("end_fid"));
    let ratio = if end != 0 {
        checked as f64 / end as f64
    } else {
        0.0
    };
    out.push_str(&line(
        "Status",
        &format!("{checked} / {end} ({:.2}%)", 100.0 * ratio),
    ));
    let elapsed = if n("start_time") != 0 {
        let until = if n("stop_time") != 0 {
            n("stop_time")
        } else {
            n("current_time")
        };
        until - n("start_time")
    } else {
        0
    };
    let as_time = |s: f64| {
        if s < 60.0 {
            format!("{}s", s as i64)
        } else {
            format!("{}m", (s / 60.0) as i64)
        }
    };
    let per_sec = if elapsed != 0 {
        checked as f64 / elapsed as f64
    } else {
        0.0
    };
    let remain = if per_sec != 0.0 {
        (end - checked) as f64 / per_sec
    } else {
        0.0
    };
    out.push_str(&line(
        "Time",
        &format!(
            "{} ({:.1} fids/s; {} remain)",
            as_time(elapsed as f64),
            per_sec,
            as_time(remain)
        ),
    ));
    let kind = if n("policy_only") != 0 {
        "Repl policy only (skip file checks)"
    } else {
        "Normal (check policy + files)"
    };
    out.push_str(&line("Check Type", kind));
    let known = [
        "current_time",
        "max_logid",
        "host",
        "running",
        "max_fid_checked",
        "end_fid",
        "start_time",
        "stop_time",
        "policy_only",
    ];
    let unknown: Vec<(&String, &String)> = st
        .iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .collect();
    if !unknown.is_empty() {
        out.push('\n');
        for (k, v) in unknown {
            out.push_str(&line(&format!("[{k}]"), v));
        }
    }
    out.push('\n');
    out
}
