//! The two modes: call a function, or serve one through a command.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use danga_gearman::client::{Client, Config, Event, Priority, Task, WorkError, Worker};
use tokio::io::AsyncWriteExt;

use crate::Cli;

pub(crate) async fn call(cli: &Cli, servers: Vec<String>) -> anyhow::Result<()> {
    let data = if cli.rest.is_empty() {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
        buf
    } else {
        cli.rest.join(" ").into_bytes()
    };
    let mut cfg = Config::new(servers);
    cfg.timeout = (cli.timeout > 0).then(|| Duration::from_millis(cli.timeout));
    let client = Client::new(cfg);
    let priority = match (cli.high, cli.low) {
        (true, _) => Priority::High,
        (_, true) => Priority::Low,
        _ => Priority::Normal,
    };
    let mut task = Task::new(&cli.function, data).priority(priority);
    if let Some(u) = &cli.unique {
        task = task.unique(u);
    }
    let mut stdout = std::io::stdout();
    if cli.background {
        let job = client.submit_background(task).await?;
        writeln!(stdout, "{}", String::from_utf8_lossy(&job.handle))?;
        return Ok(());
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let printer = tokio::spawn(async move {
        let mut out = tokio::io::stdout();
        while let Some(ev) = rx.recv().await {
            match ev {
                Event::Data(d) => out.write_all(&d).await?,
                Event::Warning(w) => eprintln!("warning: {}", String::from_utf8_lossy(&w)),
                Event::Created(_) | Event::Status { .. } => {}
            }
        }
        out.flush().await
    });
    let result = client.submit_with_events(task, tx).await;
    printer
        .await
        .context("printer")?
        .context("writing stdout")?;
    let result = result?;
    stdout.write_all(&result)?;
    stdout.flush()?;
    Ok(())
}

pub(crate) async fn work(cli: &Cli, servers: Vec<String>) -> anyhow::Result<()> {
    let Some((cmd, args)) = cli.rest.split_first() else {
        bail!("-w needs a command: gearctl -w -f FUNC -- CMD ARGS...");
    };
    let (cmd, args) = (cmd.clone(), args.to_vec());
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut worker = Worker::new(servers);
    worker.register(&cli.function, move |job| {
        let (cmd, args, done) = (cmd.clone(), args.clone(), done_tx.clone());
        async move {
            let out = pipe(&cmd, &args, job.data()).await;
            let _ = done.send(());
            out.map_err(|e| WorkError::Exception(format!("{cmd}: {e:#}").into_bytes()))
        }
    });
    let running = worker.start();
    let mut jobs = 0;
    loop {
        tokio::select! {
            d = done_rx.recv() => {
                jobs += 1;
                if d.is_none() || (cli.count > 0 && jobs >= cli.count) {
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    running.stop().await;
    Ok(())
}

/// Runs `cmd args` with `data` on stdin; its stdout, or an error when it
/// cannot start or exits non-zero.
async fn pipe(cmd: &str, args: &[String], data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut child = tokio::process::Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let data = data.to_vec();
    let writer = tokio::spawn(async move { stdin.write_all(&data).await });
    let out = child.wait_with_output().await.context("waiting")?;
    // The command may exit without reading all its input: not an error.
    let _ = writer.await;
    if !out.status.success() {
        bail!("exited with {}", out.status);
    }
    Ok(out.stdout)
}
