//! `--metrics-listen`: the admin `status` table under the metric names of
//! the community gearman-exporter (`gearman_function_jobs{function}` and its
//! siblings), read from the same reply `gearadmin --status` gets.

use danga_common::metrics::{Exposition, Kind};
use danga_gearman::server::Server;

/// One `status` row: function, total, running, workers.
type Row = (String, f64, f64, f64);

/// A metric family: name, help, the figure of a row.
type Family = (&'static str, &'static str, fn(&Row) -> f64);

/// The exposition of `server`'s per-function status.
pub fn render(server: &Server) -> String {
    let text = server.status_text();
    let mut rows = Vec::new();
    for line in text.lines() {
        if line == "." {
            break;
        }
        // The name may itself hold a tab: the numbers are the last three.
        let mut it = line.rsplitn(4, '\t');
        let (Some(workers), Some(running), Some(total), Some(name)) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            continue;
        };
        let n = |v: &str| v.parse::<f64>().unwrap_or(0.0);
        rows.push((name.to_owned(), n(total), n(running), n(workers)));
    }
    let mut e = Exposition::new();
    e.one(
        "gearman_up",
        Kind::Gauge,
        "Was the last scrape of gearman successful.",
        1.0,
    );
    let families: [Family; 4] = [
        (
            "gearman_function_jobs",
            "number of jobs queued or running",
            |r| r.1,
        ),
        (
            "gearman_function_jobs_running",
            "number of running jobs",
            |r| r.2,
        ),
        (
            "gearman_function_jobs_waiting",
            "number of jobs waiting for an available worker",
            |r| (r.1 - r.2).max(0.0),
        ),
        (
            "gearman_function_workers",
            "number of capable workers",
            |r| r.3,
        ),
    ];
    for (name, help, value) in families {
        for r in &rows {
            e.sample(name, Kind::Gauge, help, &[("function", &r.0)], value(r));
        }
    }
    e.finish()
}
