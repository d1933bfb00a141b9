//! The Nagios plugins (check_memcached, check_gearman, check_perlbal,
//! check_mogilefs) run against live daemons, their output parsed as Nagios
//! parses it; plus the service files and example configs under contrib/.
//!
//! The output parser here is written from the plugin guidelines, not from
//! danga-nagios, so the two check each other: the status line is
//! `SERVICE STATUS - text`, then `|` and perfdata items
//! `'label'=value[UOM];[warn];[crit];[min];[max]` separated by spaces.

mod contrib;
mod gearman;
mod memcached;
mod mogilefs;
mod perlbal;
mod plumbing;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

use danga_testkit::bin_path;

/// How long a plugin run may take before the test calls it hung.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// One perfdata item as Nagios reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub label: String,
    /// `None` for `U`.
    pub value: Option<f64>,
    pub uom: String,
    pub warn: String,
    pub crit: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// A plugin run: its exit code and its output, parsed.
#[derive(Debug, Clone)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub service: String,
    pub status: String,
    pub text: String,
    pub perf: Vec<Item>,
}

impl Run {
    /// The perfdata item called `label`.
    pub fn item(&self, label: &str) -> &Item {
        self.perf
            .iter()
            .find(|i| i.label == label)
            .unwrap_or_else(|| panic!("no perfdata {label:?} in {}", self.stdout))
    }

    /// The value of the perfdata item called `label`.
    pub fn value(&self, label: &str) -> f64 {
        self.item(label)
            .value
            .unwrap_or_else(|| panic!("{label} is U in {}", self.stdout))
    }

    /// Asserts the exit code and the status word that goes with it.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Run {
        let word = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][usize::try_from(code).expect("code")];
        assert_eq!(
            (self.code, self.status.as_str()),
            (code, word),
            "output: {}",
            self.stdout
        );
        self
    }
}

/// Runs plugin `bin` with `args`, bounded in time, and parses its output.
pub fn check(bin: &str, args: &[&str]) -> Run {
    let mut child = Command::new(bin_path(bin))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {bin}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("{bin} {args:?} still running after {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    assert!(stderr.is_empty(), "{bin} wrote to stderr: {stderr}");
    let code = status.code().expect("exited, not killed");
    let (service, status, text, perf) = parse_output(&stdout);
    Run {
        code,
        stdout,
        service,
        status,
        text,
        perf,
    }
}

/// Splits the first output line into service, status word, text and
/// perfdata, failing the test on anything the guidelines do not allow.
pub fn parse_output(out: &str) -> (String, String, String, Vec<Item>) {
    let first = out.lines().next().unwrap_or_else(|| panic!("no output"));
    let (head, perf) = match first.split_once('|') {
        Some((h, p)) => (h.trim_end(), Some(p.trim())),
        None => (first, None),
    };
    let (svc_status, text) = head
        .split_once(" - ")
        .unwrap_or_else(|| panic!("no ' - ' in {first:?}"));
    let (service, status) = svc_status
        .rsplit_once(' ')
        .unwrap_or_else(|| panic!("no status word in {first:?}"));
    assert!(
        ["OK", "WARNING", "CRITICAL", "UNKNOWN"].contains(&status),
        "status word {status:?} in {first:?}"
    );
    assert!(
        !service.is_empty() && service.chars().all(|c| c.is_ascii_uppercase()),
        "service {service:?}"
    );
    for long in out.lines().skip(1) {
        assert!(!long.contains('|'), "long output line with '|': {long:?}");
    }
    let items = perf.map(parse_perfdata).unwrap_or_default();
    (
        service.to_owned(),
        status.to_owned(),
        text.to_owned(),
        items,
    )
}

/// Parses perfdata per the guidelines.
pub fn parse_perfdata(mut s: &str) -> Vec<Item> {
    let mut items = Vec::new();
    while !s.is_empty() {
        // The label: quoted ('' is a quote) or bare up to '='.
        let label;
        if let Some(rest) = s.strip_prefix('\'') {
            let mut l = String::new();
            let mut chars = rest.char_indices().peekable();
            let end = loop {
                match chars.next() {
                    Some((i, '\'')) => {
                        if let Some((_, '\'')) = chars.peek() {
                            chars.next();
                            l.push('\'');
                        } else {
                            break i + 1;
                        }
                    }
                    Some((_, c)) => l.push(c),
                    None => panic!("unterminated label in {s:?}"),
                }
            };
            label = l;
            s = &rest[end..];
        } else {
            let at = s.find('=').unwrap_or_else(|| panic!("no '=' in {s:?}"));
            label = s[..at].to_owned();
            s = &s[at..];
        }
        assert!(!label.is_empty() && !label.contains('='), "label {label:?}");
        s = s
            .strip_prefix('=')
            .unwrap_or_else(|| panic!("no '=' after {label:?}"));
        let (item, rest) = s.split_once(' ').unwrap_or((s, ""));
        s = rest.trim_start();
        let mut fields = item.split(';');
        let vu = fields.next().unwrap_or("");
        let (value, uom) = if let Some(u) = vu.strip_prefix('U') {
            assert!(u.is_empty(), "U with a unit: {vu:?}");
            (None, String::new())
        } else {
            let n = vu
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .unwrap_or(vu.len());
            let v: f64 = vu[..n]
                .parse()
                .unwrap_or_else(|_| panic!("value {vu:?} of {label:?}"));
            (Some(v), vu[n..].to_owned())
        };
        assert!(
            ["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"].contains(&uom.as_str()),
            "UOM {uom:?} of {label:?}"
        );
        let rest: Vec<&str> = fields.collect();
        assert!(rest.len() <= 4, "too many fields in {item:?}");
        let field = |i: usize| rest.get(i).copied().unwrap_or("").to_owned();
        let range_ok = |r: &str| {
            r.is_empty()
                || r.trim_start_matches('@')
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.' || c == '-' || c == ':' || c == '~')
        };
        let (warn, crit) = (field(0), field(1));
        assert!(range_ok(&warn) && range_ok(&crit), "thresholds in {item:?}");
        let bound = |i: usize| {
            let f = field(i);
            (!f.is_empty()).then(|| {
                f.parse::<f64>()
                    .unwrap_or_else(|_| panic!("min/max {f:?} in {item:?}"))
            })
        };
        items.push(Item {
            label,
            value,
            uom,
            warn,
            crit,
            min: bound(2),
            max: bound(3),
        });
    }
    items
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `-H 127.0.0.1 -p PORT` for `addr`, then `extra`.
pub fn at(addr: SocketAddr, extra: &[&str]) -> Vec<String> {
    let mut v = vec![
        "-H".to_owned(),
        addr.ip().to_string(),
        "-p".to_owned(),
        addr.port().to_string(),
    ];
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

/// [`check`] with owned arguments.
pub fn check_at(bin: &str, addr: SocketAddr, extra: &[&str]) -> Run {
    let args = at(addr, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    check(bin, &args)
}

#[test]
fn nagios_output_parser_reads_the_guidelines_examples() {
    let (svc, st, text, perf) = parse_output(
        "DISK OK - free space: / 3326 MB (56%); | '/'=2643MB;5948;5958;0;5968 'it''s'=U x=1c;~:10;@5:6\n",
    );
    assert_eq!((svc.as_str(), st.as_str()), ("DISK", "OK"));
    assert_eq!(text, "free space: / 3326 MB (56%);");
    assert_eq!(perf.len(), 3);
    assert_eq!(perf[0].label, "/");
    assert_eq!(perf[0].value, Some(2643.0));
    assert_eq!(perf[0].uom, "MB");
    assert_eq!(perf[0].max, Some(5968.0));
    assert_eq!(perf[1].label, "it's");
    assert_eq!(perf[1].value, None);
    assert_eq!(
        (perf[2].warn.as_str(), perf[2].crit.as_str()),
        ("~:10", "@5:6")
    );
    let bad = std::panic::catch_unwind(|| parse_perfdata("'a'=1furlongs"));
    assert!(bad.is_err(), "unknown UOM refused");
    let bad = std::panic::catch_unwind(|| parse_output("SOMETHING BAD - x"));
    assert!(bad.is_err(), "unknown status refused");
}
