//! The original design's "sick Gearman demo": `dmap { "$_ = " . `hostname` } (1..10)`
//! over two job servers and two workers, the results back in order.

use std::time::Duration;

use bytes::Bytes;

use super::{Client, Config, Error, Task, Worker};

/// The function the demo's workers register.
pub const FUNCTION: &str = "dmap_hostname";

/// Maps `function` over `items` on the job servers, in parallel; the
/// results come back in the items' order.
pub async fn dmap(
    client: &Client,
    function: &str,
    items: impl IntoIterator<Item = Bytes>,
) -> Vec<Result<Bytes, Error>> {
    let calls: Vec<_> = items
        .into_iter()
        .map(|item| {
            let client = client.clone();
            let task = Task::new(function, item);
            tokio::spawn(async move { client.submit(task).await })
        })
        .collect();
    let mut out = Vec::with_capacity(calls.len());
    for call in calls {
        out.push(
            call.await
                .unwrap_or_else(|e| Err(Error::Protocol(e.to_string()))),
        );
    }
    out
}

/// The whole demo: starts `workers` named workers (each on every server)
/// that answer `ITEM = NAME`, maps over 1..=10, stops the workers, and
/// returns the lines `dmap says:` would print.
pub async fn demo(servers: &[String], workers: &[&str]) -> Result<Vec<String>, Error> {
    let mut running = Vec::new();
    for name in workers {
        let mut w = Worker::new(servers.iter().cloned());
        w.client_id(name);
        let name = name.to_string();
        w.register(FUNCTION, move |job| {
            let line = format!("{} = {name}", String::from_utf8_lossy(job.data()));
            async move {
                // Long enough that the other worker takes the next item.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok::<_, super::WorkError>(line)
            }
        });
        running.push(w.start());
    }
    let client = Client::new(Config::new(servers.iter().cloned()));
    let items = (1..=10).map(|i: u32| Bytes::from(i.to_string()));
    let results = tokio::time::timeout(Duration::from_secs(30), dmap(&client, FUNCTION, items))
        .await
        .map_err(|_| Error::Timeout);
    for w in running {
        w.stop().await;
    }
    results?
        .into_iter()
        .map(|r| r.map(|b| String::from_utf8_lossy(&b).into_owned()))
        .collect()
}
