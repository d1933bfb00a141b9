//! danga-gearman's client and worker library across real job servers: two
//! of ours and Debian's gearmand 1.1.20, with Perl Gearman::Client/Worker
//! and gearman-tools on the other side.

use std::future::Future;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use danga_gearman::client::{Client, Config, Error, Event, Task, Worker};
use danga_testkit::{have_command, require, wait_for};
use nix::sys::signal::Signal;

use super::{original, ours, Gd, Wire};

/// A background process, killed when dropped.
pub struct Bg(pub Child);

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// The pools the library is checked against: two of ours, and Debian's
/// gearmand next to one of ours (`None` parts are skipped outside CI).
fn pools() -> Vec<(&'static str, Vec<Gd>)> {
    let mut v = vec![("danga pair", vec![ours(&[]), ours(&[])])];
    if let Some(o) = original(&[]) {
        v.push(("gearmand 1.1.20 + danga", vec![o, ours(&[])]));
    }
    v
}

pub fn addrs(pool: &[Gd]) -> Vec<String> {
    pool.iter().map(|g| g.addr.to_string()).collect()
}

fn perl_ok() -> bool {
    let ok = Command::new("perl")
        .args(["-MGearman::Client", "-MGearman::Worker", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    require("Perl Gearman::Client (libgearman-client-perl)", ok)
}

fn tools_ok() -> bool {
    require("gearman (gearman-tools)", have_command("gearman"))
}

pub fn check(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until `function` has `n` workers on the server's `status`.
pub fn wait_workers(gd: &Gd, function: &str, n: usize) {
    let mut admin = Wire::connect(gd.addr);
    let registered = wait_for(Duration::from_secs(10), || {
        admin.admin("status\n", true).lines().any(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            f.first() == Some(&function) && f.get(3).and_then(|w| w.parse().ok()) >= Some(n)
        })
    });
    assert!(registered, "{function}: {n} workers on {}", gd.addr);
}

pub fn rev(s: &str) -> String {
    s.chars().rev().collect()
}

const PERL_WORKER: &str = r#"
use Gearman::Worker;
my $w = Gearman::Worker->new(job_servers => [@ARGV]);
$w->register_function(plrev => sub { my $j = shift; $j->set_status(1, 2); scalar reverse $j->arg });
$w->work while 1;
"#;

#[test]
fn rust_client_jobs_run_by_perl_worker_and_gearman_cli_worker() {
    if !perl_ok() || !tools_ok() {
        return;
    }
    for (name, pool) in pools() {
        let servers = addrs(&pool);
        let _perl = Bg(Command::new("perl")
            .arg("-e")
            .arg(PERL_WORKER)
            .args(&servers)
            .stdout(Stdio::null())
            .spawn()
            .expect("perl worker"));
        let mut cli_workers = Vec::new();
        for gd in &pool {
            let (h, p) = (gd.addr.ip().to_string(), gd.addr.port().to_string());
            cli_workers.push(Bg(Command::new("gearman")
                .args(["-h", &h, "-p", &p, "-w", "-f", "clirev", "--", "rev"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("gearman -w")));
        }
        for gd in &pool {
            wait_workers(gd, "plrev", 1);
            wait_workers(gd, "clirev", 1);
        }
        let client = Client::new(Config::new(servers.clone()));
        block_on(async {
            let mut seen = std::collections::HashSet::new();
            for i in 0..12 {
                let (tx, mut rx) = tokio::sync::mpsc::channel(8);
                let task = Task::new("plrev", format!("item{i}")).unique(format!("u{i}"));
                let got = client.submit_with_events(task, tx).await;
                assert_eq!(got.expect(name), rev(&format!("item{i}")), "{name}");
                let mut events = Vec::new();
                while let Some(ev) = rx.recv().await {
                    events.push(ev);
                }
                let Some(Event::Created(job)) = events.first() else {
                    panic!("{name}: {events:?}")
                };
                seen.insert(job.server.clone());
                let status = Event::Status {
                    numerator: 1,
                    denominator: 2,
                };
                assert!(events.contains(&status), "{name}: {events:?}");
            }
            assert_eq!(seen.len(), 2, "{name}: unique ids spread over both servers");
            for i in 0..6 {
                let got = client
                    .submit(Task::new("clirev", format!("cli{i}")).timeout(Duration::from_secs(10)))
                    .await;
                let got = got.unwrap_or_else(|e| panic!("{name}: clirev: {e}"));
                assert_eq!(
                    String::from_utf8_lossy(&got).trim(),
                    rev(&format!("cli{i}")),
                    "{name}"
                );
            }
        });
    }
}

#[test]
fn rust_worker_runs_jobs_from_perl_client_and_gearman_cli() {
    if !perl_ok() || !tools_ok() {
        return;
    }
    for (name, pool) in pools() {
        let servers = addrs(&pool);
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let running = rt.block_on(async {
            let mut w = Worker::new(servers.clone());
            w.register("rsrev", |job| async move {
                Ok(job.data().iter().rev().copied().collect::<Vec<u8>>())
            });
            w.start()
        });
        for gd in &pool {
            wait_workers(gd, "rsrev", 1);
        }
        let out = Command::new("timeout")
            .args(["30", "perl", "-MGearman::Client", "-e"])
            .arg(
                r#"my $c = Gearman::Client->new(job_servers => [@ARGV]);
                for my $i (1 .. 6) { my $r = $c->do_task(rsrev => "perl$i", { timeout => 10 });
                  die "perl$i: no result" unless $r; print $$r, "\n" }"#,
            )
            .args(&servers)
            .output()
            .expect("perl client");
        let want: Vec<String> = (1..=6).map(|i| format!("{i}lrep")).collect();
        assert_eq!(check(out, name).lines().collect::<Vec<_>>(), want, "{name}");
        for gd in &pool {
            let out = Command::new("timeout")
                .args(["20", "gearman", "-h", &gd.addr.ip().to_string()])
                .args([
                    "-p",
                    &gd.addr.port().to_string(),
                    "-f",
                    "rsrev",
                    "--",
                    "abc",
                ])
                .output()
                .expect("gearman -f");
            assert_eq!(check(out, name), "cba", "{name} {}", gd.addr);
        }
        rt.block_on(running.stop());
    }
}

#[test]
fn killing_one_job_server_loses_no_result_a_live_server_can_deliver() {
    let pool = [ours(&[]), ours(&[])];
    let servers = addrs(&pool);
    let (dying, live) = (servers[0].clone(), servers[1].clone());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = Client::new(Config::new(servers.clone()));
    let (workers, calls) = rt.block_on(async {
        let mut workers = Vec::new();
        for _ in 0..3 {
            let mut w = Worker::new(servers.clone());
            w.retry_interval(Duration::from_millis(100));
            w.register("slowrev", |job| async move {
                tokio::time::sleep(Duration::from_millis(150)).await;
                Ok(job.data().iter().rev().copied().collect::<Vec<u8>>())
            });
            workers.push(w.start());
        }
        let (created_tx, mut created) = tokio::sync::mpsc::channel(64);
        let mut calls = Vec::new();
        for i in 0..20 {
            let (client, created_tx) = (client.clone(), created_tx.clone());
            calls.push(tokio::spawn(async move {
                let (tx, mut rx) = tokio::sync::mpsc::channel(8);
                let task = Task::new("slowrev", format!("job{i}")).unique(format!("k{i}"));
                let call = tokio::spawn(async move { client.submit_with_events(task, tx).await });
                let mut server = None;
                while let Some(ev) = rx.recv().await {
                    if let Event::Created(job) = ev {
                        server = Some(job.server.clone());
                        let _ = created_tx.send(()).await;
                    }
                }
                (i, server, call.await.expect("join"))
            }));
        }
        for _ in 0..20 {
            created.recv().await.expect("every job created");
        }
        (workers, calls)
    });
    pool[0].daemon.signal(Signal::SIGKILL);
    rt.block_on(async {
        let (mut on_dying, mut on_live) = (0, 0);
        for call in calls {
            let (i, server, result) = call.await.expect("join");
            let want = rev(&format!("job{i}"));
            let server = server.expect("created somewhere");
            if server == live {
                on_live += 1;
                assert_eq!(result.expect("a live server's job"), want);
            } else {
                on_dying += 1;
                match result {
                    Ok(r) => assert_eq!(r, want),
                    Err(Error::Disconnected) => {}
                    Err(e) => panic!("job {i} on the killed server: {e}"),
                }
            }
        }
        assert!(on_dying > 0 && on_live > 0, "{on_dying} / {on_live}");
        // Submitted afterwards: the ones hashed to the dead server fail over.
        for i in 0..10 {
            let (tx, mut rx) = tokio::sync::mpsc::channel(8);
            let task = Task::new("slowrev", format!("late{i}")).unique(format!("k{i}"));
            let got = client.submit_with_events(task, tx).await;
            assert_eq!(got.expect("failed over"), rev(&format!("late{i}")));
            let Some(Event::Created(job)) = rx.recv().await else {
                panic!("no Created event")
            };
            assert_eq!(
                job.server, live,
                "late{i} ran on {} ({dying} is dead)",
                job.server
            );
        }
        for w in workers {
            w.stop().await;
        }
    });
}

#[test]
fn dmap_demo_maps_one_to_ten_over_two_servers_and_two_workers() {
    let pool = [ours(&[]), ours(&[])];
    let servers = addrs(&pool);
    let lines = block_on(danga_gearman::client::dmap::demo(
        &servers,
        &["worker1", "worker2"],
    ))
    .expect("dmap");
    assert_eq!(lines.len(), 10, "{lines:?}");
    let mut workers = std::collections::BTreeSet::new();
    for (i, line) in (1..=10).zip(&lines) {
        let (item, worker) = line.split_once(" = ").unwrap_or_else(|| panic!("{line}"));
        assert_eq!(item, i.to_string(), "{lines:?}");
        assert!(worker == "worker1" || worker == "worker2", "{line}");
        workers.insert(worker);
    }
    assert_eq!(workers.len(), 2, "both workers ran items: {lines:?}");
}
