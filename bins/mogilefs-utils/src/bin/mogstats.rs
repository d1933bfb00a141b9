//! mogstats: slow statistics read straight from the tracker's database
//! (MogileFS-Utils 2.30's options and tables): files per device, per domain
//! and class, per replica count, the highest fid, and the replication,
//! delete and general (fsck, rebalance) queues by state. Only reads.
//!
//! `mogstats --db_dsn=DBI:mysql:mogilefs:host=db --db_user=mogile --stats=devices,files`

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use danga_mogilefs::client::UtilsConf;
use danga_mogilefs::meta::{
    Dsn, MetaStore, MysqlSettings, MysqlStore, SqliteStore, StatQueue, DEFAULT_CLASS, FSCK_QUEUE,
    REBAL_QUEUE,
};
use mogilefs_utils::run;

/// The statistics `--stats` may name.
const VALID: [&str; 9] = [
    "all",
    "delete-queue",
    "devices",
    "domains",
    "fids",
    "files",
    "general-queues",
    "replication",
    "replication-queue",
];

/// The `nexttry` of a row left for an operator (the original's ENDOFTIME).
const ENDOFTIME: i64 = 2_147_483_647;

/// Calculate slow stats directly against a MogileFS database
#[derive(Parser, Debug)]
#[command(name = "mogstats", version = mogilefs_utils::VERSION, disable_help_flag = true)]
struct Cli {
    /// A configuration file read before ~/.mogilefs.conf and
    /// /etc/mogilefs/mogilefs.conf
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Accepted for compatibility; unused
    #[arg(long, value_name = "DIR")]
    lib: Option<String>,
    /// Print the usage and the valid statistics
    #[arg(long)]
    help: bool,
    /// Say which statistic is being fetched
    #[arg(long)]
    verbose: bool,
    /// Comma-separated statistics (default: all)
    #[arg(long)]
    stats: Option<String>,
    /// The database: DBI:mysql:DB:host=H, DBI:SQLite:dbname=PATH, mysql://...
    #[arg(long = "db_dsn")]
    db_dsn: Option<String>,
    /// The database user (also db_user = in mogilefs.conf)
    #[arg(long = "db_user")]
    db_user: Option<String>,
    /// Its password
    #[arg(long = "db_pass")]
    db_pass: Option<String>,
}

/// The usage text 2.30 prints (on stdout, exit 1), after `ERROR: msg`.
fn usage(message: Option<&str>) -> ExitCode {
    let mut s = String::new();
    if let Some(m) = message {
        let _ = write!(s, "ERROR: {m}\n\n");
    }
    s.push_str(
        "Usage:\n    mogstats --db_dsn=\"DBI:mysql:mfs:host=mfshost\" --db_user=\"mfs\" \\\n             \
         --db_pass=\"mfs\" --verbose --stats=\"devices,files\"\n    mogstats --stats=\"all\"\n    \
         mogstats [all options in ~/.mogilefs.conf]\n\n",
    );
    let _ = writeln!(s, "valid stats: {}", VALID.join(", "));
    print!("{s}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let conf = match UtilsConf::load(&UtilsConf::default_paths(cli.config.as_deref())) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.help {
        return usage(None);
    }
    let pick = |cli: Option<&String>, key: &str| cli.cloned().or(conf.get(key).map(str::to_owned));
    let stats = pick(cli.stats.as_ref(), "stats")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "all".to_owned());
    let wanted: BTreeSet<String> = stats.split(',').map(str::to_owned).collect();
    if let Some(bad) = wanted.iter().find(|w| !VALID.contains(&w.as_str())) {
        return usage(Some(&format!("Invalid stat {bad}")));
    }
    let verbose = cli.verbose
        || conf
            .get("verbose")
            .is_some_and(|v| !v.is_empty() && v != "0");
    let dsn = pick(cli.db_dsn.as_ref(), "db_dsn");
    let user = pick(cli.db_user.as_ref(), "db_user");
    let pass = pick(cli.db_pass.as_ref(), "db_pass");
    run(async move {
        let dsn = dsn.ok_or("no database given (--db_dsn, or db_dsn = in mogilefs.conf)")?;
        let dsn = Dsn::parse(&dsn).map_err(|e| e.to_string())?;
        let want = Wanted::new(&wanted);
        println!("Fetching statistics... ({stats})");
        let failed = |e| format!("Failed to connect to database: {e}");
        let text = match dsn {
            Dsn::Sqlite(path) => {
                if !path.is_file() {
                    return Err(failed(format!("no SQLite database at {}", path.display())));
                }
                let m = SqliteStore::open(&path)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                report(&m, &want, verbose).await
            }
            Dsn::Mysql {
                database,
                host,
                port,
                user: url_user,
                password,
            } => {
                let s = MysqlSettings {
                    host,
                    port,
                    database,
                    user: url_user.or(user).unwrap_or_default(),
                    password: password.or(pass).unwrap_or_default(),
                };
                let m = MysqlStore::connect(&s)
                    .await
                    .map_err(|e| failed(e.to_string()))?;
                report(&m, &want, verbose).await
            }
        }
        .map_err(|e| format!("Can't fetch stats: {e}"))?;
        print!("{text}");
        Ok(())
    })
}

/// Which sections to fetch and print.
struct Wanted {
    devices: bool,
    fids: bool,
    files: bool,
    /// Only when `files` is not shown (it says more).
    domains: bool,
    replication: bool,
    replication_queue: bool,
    delete_queue: bool,
    general_queues: bool,
}

impl Wanted {
    fn new(w: &BTreeSet<String>) -> Wanted {
        let all = w.contains("all");
        let has = |s: &str| all || w.contains(s);
        Wanted {
            devices: has("devices"),
            fids: has("fids"),
            files: has("files"),
            domains: w.contains("domains") && !has("files"),
            replication: has("replication"),
            replication_queue: has("replication-queue"),
            delete_queue: has("delete-queue"),
            general_queues: has("general-queues"),
        }
    }
}

/// The state a queue row is in: `first` (nexttry 0) or `redo` (1), other
/// small values unknown, ENDOFTIME `manual`, else overdue or deferred.
fn queue_state(nexttry: i64, now: i64, first: &'static str) -> &'static str {
    match nexttry {
        0 => first,
        1 => "redo",
        n if n < 1000 => "unknown",
        ENDOFTIME => "manual",
        n if n < now => "overdue",
        _ => "deferred",
    }
}

/// Prints a line when `--verbose`.
fn say(verbose: bool, what: &str) {
    if verbose {
        println!("{what}");
    }
}

/// Name lookups for domains and classes (classid 0 is `default`).
struct Names {
    domains: HashMap<i64, String>,
    classes: HashMap<(i64, i64), String>,
}

impl Names {
    fn domain(&self, dmid: i64) -> String {
        self.domains
            .get(&dmid)
            .cloned()
            .unwrap_or_else(|| dmid.to_string())
    }

    fn class(&self, dmid: i64, classid: i64) -> String {
        match self.classes.get(&(dmid, classid)) {
            Some(c) => c.clone(),
            None if classid == 0 => DEFAULT_CLASS.to_owned(),
            None => classid.to_string(),
        }
    }
}

/// Domain → class → value, sorted as 2.30 prints them.
type ByClass<T> = BTreeMap<String, BTreeMap<String, T>>;

/// Fetches what is wanted (in 2.30's order) and renders the tables.
async fn report<M: MetaStore>(
    m: &M,
    want: &Wanted,
    verbose: bool,
) -> danga_mogilefs::meta::Result<String> {
    let names = Names {
        domains: m
            .domains()
            .await?
            .into_iter()
            .map(|d| (d.dmid, d.namespace))
            .collect(),
        classes: m
            .classes(None)
            .await?
            .into_iter()
            .map(|c| ((c.dmid, c.classid), c.classname))
            .collect(),
    };
    let hosts: HashMap<i64, String> = m
        .hosts()
        .await?
        .into_iter()
        .map(|h| (h.hostid, h.hostname))
        .collect();
    let devices: HashMap<i64, (String, String)> = m
        .devices()
        .await?
        .into_iter()
        .map(|d| {
            let host = hosts.get(&d.hostid).cloned().unwrap_or_default();
            (d.devid, (host, d.status))
        })
        .collect();

    let mut replication: ByClass<BTreeMap<i64, i64>> = BTreeMap::new();
    if want.replication {
        say(verbose, "... replication stats...");
        for r in m.files_per_devcount().await? {
            *replication
                .entry(names.domain(r.dmid))
                .or_default()
                .entry(names.class(r.dmid, r.classid))
                .or_default()
                .entry(r.devcount)
                .or_default() += r.files;
        }
        say(verbose, "... done");
    }
    let mut to_replicate: BTreeMap<&str, i64> = BTreeMap::new();
    if want.replication_queue {
        say(verbose, "... replication queue stats...");
        let now = m.db_time().await?;
        for q in m.queue_counts(StatQueue::Replicate).await? {
            *to_replicate
                .entry(queue_state(q.nexttry, now, "newfile"))
                .or_default() += q.rows;
        }
        say(verbose, "... done");
    }
    let mut to_delete: BTreeMap<&str, i64> = BTreeMap::new();
    if want.delete_queue {
        say(verbose, "... delete queue stats...");
        let now = m.db_time().await?;
        for q in m.queue_counts(StatQueue::Delete).await? {
            *to_delete
                .entry(queue_state(q.nexttry, now, "new"))
                .or_default() += q.rows;
        }
        say(verbose, "... done");
    }
    let mut files: ByClass<(i64, i64, i64)> = BTreeMap::new();
    if want.files {
        say(verbose, "... files stats...");
        for t in m.class_totals().await? {
            let e = files
                .entry(names.domain(t.dmid))
                .or_default()
                .entry(names.class(t.dmid, t.classid))
                .or_default();
            *e = (e.0 + t.files, e.1 + t.bytes, e.2 + t.fullbytes);
        }
        say(verbose, "... done");
    }
    let mut domains: ByClass<i64> = BTreeMap::new();
    if want.domains {
        say(verbose, "... domains stats...");
        for t in m.class_totals().await? {
            *domains
                .entry(names.domain(t.dmid))
                .or_default()
                .entry(names.class(t.dmid, t.classid))
                .or_default() += t.files;
        }
        say(verbose, "... done");
    }
    let mut per_device = Vec::new();
    if want.devices {
        say(verbose, "... per-device stats...");
        per_device = m.files_per_device().await?;
        say(verbose, "... done");
    }
    let mut max_fid = 0;
    if want.fids {
        say(verbose, "... fid stats...");
        max_fid = m.max_fid().await?;
        say(verbose, "... done");
    }
    let mut queues: BTreeMap<&str, BTreeMap<&str, i64>> = BTreeMap::new();
    if want.general_queues {
        say(verbose, "... queue stats...");
        let now = m.db_time().await?;
        for q in m.queue_counts(StatQueue::General).await? {
            let name = match q.qtype {
                FSCK_QUEUE => "FSCK_QUEUE",
                REBAL_QUEUE => "REBAL_QUEUE",
                _ => "UNKNOWN_QUEUE",
            };
            *queues
                .entry(name)
                .or_default()
                .entry(queue_state(q.nexttry, now, "new"))
                .or_default() += q.rows;
        }
        say(verbose, "... done");
    }

    let mut o = String::new();
    if want.devices {
        let rule = "  ---------- ---------------- ------------ ----------\n";
        o.push_str("\nStatistics for devices...\n");
        let _ = writeln!(
            o,
            "  {:<10} {:<15} {:>12} {:>10}",
            "device", "host", "files", "status"
        );
        o.push_str(rule);
        for (devid, n) in &per_device {
            let (host, status) = devices.get(devid).cloned().unwrap_or_default();
            let dev = format!("dev{devid}");
            let _ = writeln!(o, "  {dev:<10} {host:<10} {n:>10} {status:>10}");
        }
        o.push_str(rule);
    }
    if want.fids {
        o.push_str("\nStatistics for file ids...\n");
        let max = if max_fid > 0 {
            max_fid.to_string()
        } else {
            "none".to_owned()
        };
        let _ = writeln!(o, "  Max file id: {max}");
    }
    if want.files {
        let rule = "  -------------------- ----------- ---------- ----------- -------------\n";
        o.push_str("\nStatistics for files...\n");
        let _ = writeln!(
            o,
            "  {:<20} {:<10} {:>10} {:>11} {:>13}",
            "domain", "class", "files", "size (m)", "fullsize (m)"
        );
        o.push_str(rule);
        for (domain, classes) in &files {
            for (class, (n, bytes, full)) in classes {
                let (size, total) = (bytes >> 20, full >> 20);
                let _ = writeln!(
                    o,
                    "  {domain:<20} {class:<10} {n:>10} {size:>11} {total:>13}"
                );
            }
        }
        o.push_str(rule);
    }
    if want.domains {
        let rule = "  -------------------- ----------- ----------\n";
        o.push_str("\nStatistics for domains...\n");
        let _ = writeln!(o, "  {:<20} {:<10} {:>10}", "domain", "class", "files");
        o.push_str(rule);
        for (domain, classes) in &domains {
            for (class, n) in classes {
                let _ = writeln!(o, "  {domain:<20} {class:<10} {n:>10}");
            }
        }
        o.push_str(rule);
    }
    if want.replication {
        let rule = "  -------------------- ----------- ---------- ----------\n";
        o.push_str("\nStatistics for replication...\n");
        let _ = writeln!(
            o,
            "  {:<20} {:<10} {:>10} {:>10}",
            "domain", "class", "devcount", "files"
        );
        o.push_str(rule);
        for (domain, classes) in &replication {
            for (class, counts) in classes {
                for (devcount, n) in counts {
                    let _ = writeln!(o, "  {domain:<20} {class:<10} {devcount:>10} {n:>10}");
                }
            }
        }
        o.push_str(rule);
    }
    for (show, title, rows) in [
        (want.replication_queue, "replication queue", &to_replicate),
        (want.delete_queue, "delete queue", &to_delete),
    ] {
        if show {
            let rule = "  -------------------- ------------\n";
            let _ = writeln!(o, "\nStatistics for {title}...");
            let _ = writeln!(o, "  {:<20} {:>12}", "status", "count");
            o.push_str(rule);
            for (status, n) in rows {
                let _ = writeln!(o, "  {status:<20} {n:>12}");
            }
            o.push_str(rule);
        }
    }
    if want.general_queues {
        let rule = "  --------------- -------------------- ------------\n";
        o.push_str("\nStatistics for general queues...\n");
        let _ = writeln!(o, "  {:<15} {:<20} {:>12}", "queue", "status", "count");
        o.push_str(rule);
        for (queue, states) in &queues {
            for (status, n) in states {
                let _ = writeln!(o, "  {queue:<15} {status:<20} {n:>12}");
            }
        }
        o.push_str(rule);
    }
    o.push_str("\ndone\n");
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_states_as_2_30_names_them() {
        let now = 1_700_000_000;
        assert_eq!(queue_state(0, now, "newfile"), "newfile");
        assert_eq!(queue_state(1, now, "new"), "redo");
        assert_eq!(queue_state(7, now, "new"), "unknown");
        assert_eq!(queue_state(ENDOFTIME, now, "new"), "manual");
        assert_eq!(queue_state(now - 1, now, "new"), "overdue");
        assert_eq!(queue_state(now, now, "new"), "deferred");
    }

    #[test]
    fn domains_only_without_files() {
        let set = |s: &str| s.split(',').map(str::to_owned).collect::<BTreeSet<_>>();
        assert!(Wanted::new(&set("domains")).domains);
        assert!(!Wanted::new(&set("domains,files")).domains);
        assert!(!Wanted::new(&set("all")).domains);
        assert!(!Wanted::new(&set("devices")).files);
    }
}
