//! check_gearman: gearmand's text admin commands `version` and `status`.
//!
//! `status` lists `FUNCTION\tTOTAL\tRUNNING\tAVAILABLE_WORKERS` per
//! function; TOTAL counts the running jobs too, so the queue waiting for a
//! worker is TOTAL - RUNNING. The check is CRITICAL when a function has
//! jobs waiting and no worker at all (they can never run), and judges each
//! function's waiting jobs with `-w`/`-c` and its worker count with
//! `--workers-warning`/`--workers-critical` (e.g. `1:` alerts below one
//! worker). `-f FUNCTION` checks one function only; a function the server
//! does not know counts as 0 jobs and 0 workers.

use clap::Parser;

use crate::cli::{Common, THRESHOLD_HELP};
use crate::net::{CheckError, LineConn, Target};
use crate::perfdata::Perf;
use crate::range::Range;
use crate::report::{Report, Status};
use crate::run::Plugin;

/// check_gearman's arguments.
#[derive(Parser, Debug)]
#[command(
    name = "check_gearman",
    version,
    about = "Nagios plugin: gearmand up, jobs waiting and workers per function (status)",
    after_help = THRESHOLD_HELP
)]
pub struct Gearman {
    #[command(flatten)]
    pub common: Common,
    /// Warning range for jobs waiting (queued, not running) per function
    #[arg(short = 'w', long = "warning", allow_hyphen_values = true)]
    pub warning: Option<Range>,
    /// Critical range for jobs waiting per function
    #[arg(short = 'c', long = "critical", allow_hyphen_values = true)]
    pub critical: Option<Range>,
    /// Warning range for available workers per function (e.g. 2:)
    #[arg(long = "workers-warning", allow_hyphen_values = true)]
    pub workers_warning: Option<Range>,
    /// Critical range for available workers per function (e.g. 1:)
    #[arg(long = "workers-critical", allow_hyphen_values = true)]
    pub workers_critical: Option<Range>,
    /// Check only this function
    #[arg(short = 'f', long = "function")]
    pub function: Option<String>,
}

/// One `status` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// The function name.
    pub name: String,
    /// Jobs known (waiting + running).
    pub total: u64,
    /// Jobs a worker is running.
    pub running: u64,
    /// Workers that registered the function.
    pub workers: u64,
}

impl Function {
    /// Jobs waiting for a worker.
    pub fn queued(&self) -> u64 {
        self.total.saturating_sub(self.running)
    }
}

/// Parses a `status` reply (lines, then `.`).
pub fn parse_status(lines: &[String]) -> Result<Vec<Function>, String> {
    let mut out = Vec::new();
    for l in lines {
        if l == "." {
            return Ok(out);
        }
        // Split from the right: the name may hold anything but NUL.
        let mut f = l.rsplitn(4, '\t');
        let (workers, running, total, name) = (f.next(), f.next(), f.next(), f.next());
        let n = |s: Option<&str>| s.and_then(|s| s.trim().parse::<u64>().ok());
        match (name, n(total), n(running), n(workers)) {
            (Some(name), Some(total), Some(running), Some(workers)) => out.push(Function {
                name: name.to_owned(),
                total,
                running,
                workers,
            }),
            _ => return Err(format!("{l:?} in a status reply")),
        }
    }
    Err("status reply without its final '.'".into())
}

/// Judges the `status` functions; `version` is the server's version line.
pub fn judge(cli: &Gearman, version: Option<&str>, all: &[Function]) -> Report {
    let mut r = Report::new("GEARMAN");
    if let Some(v) = version {
        r.info(format!("gearmand {v}"));
    }
    let picked: Vec<Function> = match &cli.function {
        Some(name) => match all.iter().find(|f| &f.name == name) {
            Some(f) => vec![f.clone()],
            None => {
                r.info(format!("{name} is not known to the server"));
                vec![Function {
                    name: name.clone(),
                    total: 0,
                    running: 0,
                    workers: 0,
                }]
            }
        },
        None => all.to_vec(),
    };
    let (w, c) = (cli.warning.as_ref(), cli.critical.as_ref());
    let (ww, wc) = (cli.workers_warning.as_ref(), cli.workers_critical.as_ref());
    for f in &picked {
        let q = f.queued();
        if q > 0 && f.workers == 0 {
            r.raise(
                Status::Critical,
                format!("{}: {q} jobs waiting and no workers", f.name),
            );
        } else {
            r.judge(q as f64, w, c, || format!("{}: {q} jobs waiting", f.name));
        }
        r.judge(f.workers as f64, ww, wc, || {
            format!("{}: {} workers", f.name, f.workers)
        });
        r.perf(
            Perf::new(&format!("{} queued", f.name), q)
                .thresholds(w, c)
                .min(0.0),
        );
        r.perf(Perf::new(&format!("{} running", f.name), f.running).min(0.0));
        r.perf(
            Perf::new(&format!("{} workers", f.name), f.workers)
                .thresholds(ww, wc)
                .min(0.0),
        );
        if cli.common.verbose > 0 {
            r.long(format!(
                "{}: {q} waiting, {} running, {} workers",
                f.name, f.running, f.workers
            ));
        }
    }
    let queued: u64 = picked.iter().map(Function::queued).sum();
    let running: u64 = picked.iter().map(|f| f.running).sum();
    if cli.function.is_none() {
        r.info(format!("{} functions", picked.len()));
        r.perf(Perf::new("functions", picked.len() as u64).min(0.0));
    }
    r.info(format!("{queued} jobs waiting, {running} running"));
    r.perf(Perf::new("queued", queued).min(0.0));
    r.perf(Perf::new("running", running).min(0.0));
    r
}

impl Plugin for Gearman {
    const SERVICE: &'static str = "GEARMAN";
    const DEFAULT_PORT: u16 = 4730;

    fn common(&self) -> &Common {
        &self.common
    }

    fn check(&self, target: &Target) -> Result<Report, CheckError> {
        let mut conn = LineConn::open(target)?;
        conn.send("version\n")?;
        let v = conn.line("version")?;
        // gearmand: `OK 1.1.20`; Perl Gearman::Server: `v1.130.1`.
        let version = match v.strip_prefix("OK ") {
            Some(v) => Some(v.trim().to_owned()),
            None if v.starts_with("ERR") => None,
            None => Some(v.trim().to_owned()),
        };
        conn.send("status\n")?;
        let lines = conn.lines_until("status", |l| l == "." || l.starts_with("ERR"))?;
        let functions = parse_status(&lines).map_err(|e| conn.protocol(e))?;
        Ok(judge(self, version.as_deref(), &functions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Gearman {
        Gearman::parse_from(std::iter::once("check_gearman").chain(args.iter().copied()))
    }

    fn f(name: &str, total: u64, running: u64, workers: u64) -> Function {
        Function {
            name: name.into(),
            total,
            running,
            workers,
        }
    }

    #[test]
    fn status_lines_parse() {
        let lines: Vec<String> = ["resize\t5\t1\t2", "odd\tname\t0\t0\t1", "."]
            .map(String::from)
            .to_vec();
        let fs = parse_status(&lines).expect("parse");
        assert_eq!(fs, [f("resize", 5, 1, 2), f("odd\tname", 0, 0, 1)]);
        assert_eq!(fs[0].queued(), 4);
        assert!(parse_status(&["ERR x".to_owned()]).is_err());
        assert!(parse_status(&["a\t1\t2".to_owned(), ".".to_owned()]).is_err());
        assert!(parse_status(&[]).is_err());
    }

    #[test]
    fn waiting_jobs_without_workers_are_critical() {
        let fs = [f("resize", 3, 0, 0), f("thumb", 0, 0, 1)];
        let r = judge(&cli(&[]), Some("1.1.20"), &fs);
        assert_eq!(r.status(), Status::Critical);
        let line = r.render();
        assert!(
            line.starts_with("GEARMAN CRITICAL - resize: 3 jobs waiting and no workers; gearmand 1.1.20, 2 functions, 3 jobs waiting, 0 running | "),
            "{line}"
        );
        assert!(
            line.contains("'resize queued'=3;;;0 'resize running'=0;;;0 'resize workers'=0;;;0"),
            "{line}"
        );
        let r = judge(&cli(&["-f", "thumb"]), None, &fs);
        assert_eq!(r.status(), Status::Ok, "{}", r.render());
        assert!(!r.render().contains("resize"));
    }

    #[test]
    fn thresholds_on_depth_and_workers() {
        let fs = [f("a", 12, 2, 3)];
        assert_eq!(
            judge(&cli(&["-w", "5", "-c", "20"]), None, &fs).status(),
            Status::Warning
        );
        assert_eq!(
            judge(&cli(&["-w", "5", "-c", "9"]), None, &fs).status(),
            Status::Critical
        );
        assert_eq!(
            judge(&cli(&["--workers-warning", "5:"]), None, &fs).status(),
            Status::Warning
        );
        let r = judge(&cli(&["-f", "nope", "--workers-critical", "1:"]), None, &fs);
        assert_eq!(r.status(), Status::Critical);
        assert!(
            r.render().contains("nope is not known to the server"),
            "{}",
            r.render()
        );
    }
}
