//! The client and worker API on one job server (ours and Debian's
//! gearmand 1.1.20): events, exceptions, timeouts, GET_STATUS,
//! priorities, graceful stop; and the `gearctl` tool.

use std::process::{Command, Stdio};
use std::time::Duration;

use danga_gearman::client::{Client, Config, Error, Event, Priority, Task, WorkError, Worker};
use danga_testkit::{bin_path, wait_for};

use super::client::{addrs, block_on, check, rev, wait_workers, Bg};
use super::{both, ours, Wire};

#[test]
fn events_exceptions_failures_and_timeouts_reach_the_caller() {
    for (name, gd) in both() {
        let servers = vec![gd.addr.to_string()];
        block_on(async {
            let mut w = Worker::new(servers.clone());
            w.register("chatty", |job| async move {
                job.send_data("a").await;
                job.send_warning("w").await;
                job.send_status(1, 2).await;
                job.send_data("b").await;
                Ok::<_, WorkError>("done")
            });
            w.register("boom", |_| async {
                Err::<Vec<u8>, _>(WorkError::Exception(b"bad".to_vec()))
            });
            w.register("nope", |_| async { Err::<Vec<u8>, _>(WorkError::Fail) });
            w.register_with_timeout("timed", Duration::from_secs(5), |job| async move {
                Ok::<_, WorkError>(job.unique().to_vec())
            });
            let running = w.start();
            let client = Client::new(Config::new(servers.clone()));
            let (tx, mut rx) = tokio::sync::mpsc::channel(16);
            let got = client
                .submit_with_events(Task::new("chatty", "x"), tx)
                .await;
            assert_eq!(got.expect(name), "done", "{name}");
            let mut events = Vec::new();
            while let Some(ev) = rx.recv().await {
                events.push(ev);
            }
            assert!(
                matches!(events.first(), Some(Event::Created(_))),
                "{name}: {events:?}"
            );
            let rest = [
                Event::Data("a".into()),
                Event::Warning("w".into()),
                Event::Status {
                    numerator: 1,
                    denominator: 2,
                },
                Event::Data("b".into()),
            ];
            assert_eq!(&events[1..], rest, "{name}");
            match client.submit(Task::new("boom", "")).await {
                Err(Error::Exception(e)) => assert_eq!(e, "bad", "{name}"),
                other => panic!("{name}: {other:?}"),
            }
            let failed = client.submit(Task::new("nope", "")).await;
            assert!(matches!(failed, Err(Error::Failed)), "{name}: {failed:?}");
            let got = client
                .submit(Task::new("timed", "d").unique("the-uniq"))
                .await;
            assert_eq!(got.expect(name), "the-uniq", "{name}: GRAB_JOB_UNIQ");
            let task = Task::new("nobody", "").timeout(Duration::from_millis(200));
            let late = client.submit(task).await;
            assert!(matches!(late, Err(Error::Timeout)), "{name}: {late:?}");
            running.stop().await;
        });
    }
}

#[test]
fn background_status_priorities_and_graceful_stop() {
    for (name, gd) in both() {
        let servers = vec![gd.addr.to_string()];
        let client = Client::new(Config::new(servers.clone()));
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        // Three foreground jobs queued before any worker: high runs first.
        let calls: Vec<_> = [Priority::Low, Priority::Normal, Priority::High]
            .into_iter()
            .map(|p| {
                let client = client.clone();
                let task = Task::new("prio", format!("{p:?}")).priority(p);
                rt.spawn(async move { client.submit(task).await })
            })
            .collect();
        let mut admin = Wire::connect(gd.addr);
        let queued = wait_for(Duration::from_secs(10), || {
            admin.admin("status\n", true).contains("prio\t3\t0\t0")
        });
        assert!(queued, "{name}: three jobs queued");
        let (order_tx, mut order) = tokio::sync::mpsc::unbounded_channel();
        let running = rt.block_on(async {
            let mut w = Worker::new(servers.clone());
            w.register("prio", move |job| {
                let _ = order_tx.send(job.data().clone());
                async { Ok::<_, WorkError>("") }
            });
            w.register("slow", |job| async move {
                job.send_status(1, 2).await;
                tokio::time::sleep(Duration::from_millis(400)).await;
                Ok::<_, WorkError>(job.data().to_vec())
            });
            w.start()
        });
        rt.block_on(async {
            for c in calls {
                c.await.expect("join").expect(name);
            }
            let mut got = Vec::new();
            while let Ok(d) = order.try_recv() {
                got.push(String::from_utf8_lossy(&d).into_owned());
            }
            assert_eq!(got, ["High", "Normal", "Low"], "{name}");
            let job = client
                .submit_background(Task::new("slow", "bg"))
                .await
                .expect(name);
            assert!(job.handle.starts_with(b"H:"), "{name}: {job:?}");
            let mut seen_running = false;
            for _ in 0..100 {
                let st = client.status(&job).await.expect(name);
                if st.running && (st.numerator, st.denominator) == (1, 2) {
                    seen_running = true;
                }
                if seen_running && !st.known {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(seen_running, "{name}: never saw the job running at 1/2");
            assert!(
                !client.status(&job).await.expect(name).known,
                "{name}: done"
            );
            // A stop while a job runs: the job finishes and its result arrives.
            let c = client.clone();
            let call = tokio::spawn(async move { c.submit(Task::new("slow", "last")).await });
            tokio::time::sleep(Duration::from_millis(150)).await;
            running.stop().await;
            assert_eq!(call.await.expect("join").expect(name), "last", "{name}");
        });
    }
}

#[test]
fn no_live_server_is_an_error_naming_the_last_one() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = dead.local_addr().expect("addr").to_string();
    drop(dead);
    let got = block_on(Client::new(Config::new([addr.clone()])).submit(Task::new("f", "")));
    match got {
        Err(Error::NoServer(msg)) => assert!(msg.contains(&addr), "{msg}"),
        other => panic!("{other:?}"),
    }
}

fn gearctl(args: &[&str], stdin: &str) -> String {
    let mut child = Command::new("timeout")
        .arg("20")
        .arg(bin_path("gearctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gearctl");
    if let Some(mut i) = child.stdin.take() {
        std::io::Write::write_all(&mut i, stdin.as_bytes()).expect("stdin");
    }
    check(
        child.wait_with_output().expect("wait"),
        &format!("gearctl {args:?}"),
    )
}

#[test]
fn gearctl_calls_and_serves_through_a_command() {
    for (name, gd) in both() {
        let (h, p) = (gd.addr.ip().to_string(), gd.addr.port().to_string());
        let hp = ["-h", h.as_str(), "-p", p.as_str()];
        let mut worker = Bg(Command::new(bin_path("gearctl"))
            .args(hp)
            .args(["-w", "-f", "ctlrev", "-c", "2", "--", "rev"])
            .spawn()
            .expect("gearctl -w"));
        wait_workers(&gd, "ctlrev", 1);
        let out = gearctl(&[&hp[..], &["-f", "ctlrev", "--", "hello"]].concat(), "");
        assert_eq!(out.trim(), "olleh", "{name}");
        let out = gearctl(&[&hp[..], &["-f", "ctlrev"]].concat(), "abc\n");
        assert_eq!(out, "cba\n", "{name}: data from stdin");
        let exited = wait_for(Duration::from_secs(10), || {
            worker.0.try_wait().ok().flatten().is_some()
        });
        assert!(exited, "{name}: the worker exits after -c 2 jobs");
        let bg = gearctl(&[&hp[..], &["-b", "-f", "nobody", "--", "x"]].concat(), "");
        assert!(bg.starts_with("H:"), "{name}: {bg}");
    }
    let pool = [ours(&[]), ours(&[])];
    let servers = addrs(&pool).join(",");
    let _worker = Bg(Command::new(bin_path("gearctl"))
        .args(["--servers", &servers, "-w", "-f", "multi", "--", "rev"])
        .spawn()
        .expect("gearctl -w --servers"));
    for gd in &pool {
        wait_workers(gd, "multi", 1);
    }
    for i in 0..6 {
        let (data, uniq) = (format!("m{i}"), format!("u{i}"));
        let out = gearctl(
            &["--servers", &servers, "-u", &uniq, "-f", "multi", &data],
            "",
        );
        assert_eq!(out.trim(), rev(&data));
    }
}
