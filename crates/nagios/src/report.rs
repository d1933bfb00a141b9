//! A check's verdict: the status, the text and the perfdata, rendered as
//! the one line (plus optional long-output lines) Nagios reads.

use std::fmt;
use std::str::FromStr;

use crate::perfdata::Perf;
use crate::range::Range;

/// A plugin's state, which is also its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 0: working properly.
    Ok,
    /// 1: above a warning threshold, or not quite working.
    Warning,
    /// 2: not running, or above a critical threshold.
    Critical,
    /// 3: bad arguments or the plugin's own failure.
    Unknown,
}

impl Status {
    /// The exit code.
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    /// How bad it is, for combining: CRITICAL > WARNING > UNKNOWN > OK.
    fn severity(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Unknown => 1,
            Status::Warning => 2,
            Status::Critical => 3,
        }
    }

    /// The worse of two states.
    pub fn worst(self, other: Status) -> Status {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// The word Nagios shows.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl FromStr for Status {
    type Err = String;

    /// A state by name (any case) or by exit code.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "OK" | "0" => Ok(Status::Ok),
            "WARNING" | "1" => Ok(Status::Warning),
            "CRITICAL" | "2" => Ok(Status::Critical),
            "UNKNOWN" | "3" => Ok(Status::Unknown),
            _ => Err(format!(
                "{s:?} is not a state (OK, WARNING, CRITICAL, UNKNOWN or 0-3)"
            )),
        }
    }
}

/// The state of `value` under a warning and a critical range (critical
/// first).
pub fn classify(value: f64, warn: Option<&Range>, crit: Option<&Range>) -> Status {
    if crit.is_some_and(|r| r.alerts(value)) {
        Status::Critical
    } else if warn.is_some_and(|r| r.alerts(value)) {
        Status::Warning
    } else {
        Status::Ok
    }
}

/// What a check found.
#[derive(Debug, Clone)]
pub struct Report {
    service: &'static str,
    status: Status,
    problems: Vec<(Status, String)>,
    info: Vec<String>,
    perf: Vec<Perf>,
    long: Vec<String>,
}

/// Text Nagios would misread: `|` starts perfdata, newlines start long
/// output.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c == '|' || c.is_control() { '/' } else { c })
        .collect()
}

impl Report {
    /// An OK report for `service` (the upper-case name on the status line).
    pub fn new(service: &'static str) -> Report {
        Report {
            service,
            status: Status::Ok,
            problems: Vec::new(),
            info: Vec::new(),
            perf: Vec::new(),
            long: Vec::new(),
        }
    }

    /// A report that is only a problem: a failed connection, a time-out.
    pub fn failed(service: &'static str, status: Status, text: impl Into<String>) -> Report {
        let mut r = Report::new(service);
        r.raise(status, text);
        r
    }

    /// Adds summary text.
    pub fn info(&mut self, text: impl Into<String>) {
        self.info.push(clean(&text.into()));
    }

    /// Records a problem: the status becomes at least `status`, and the text
    /// goes before the summary, worst problems first. `Status::Ok` is
    /// ignored.
    pub fn raise(&mut self, status: Status, text: impl Into<String>) {
        if status == Status::Ok {
            return;
        }
        self.status = self.status.worst(status);
        let at = self
            .problems
            .iter()
            .position(|(s, _)| s.severity() < status.severity())
            .unwrap_or(self.problems.len());
        self.problems.insert(at, (status, clean(&text.into())));
    }

    /// Judges `value` against the thresholds and raises `text` (formatted
    /// with the state) when it alerts. Returns the state.
    pub fn judge(
        &mut self,
        value: f64,
        warn: Option<&Range>,
        crit: Option<&Range>,
        text: impl FnOnce() -> String,
    ) -> Status {
        let s = classify(value, warn, crit);
        if s != Status::Ok {
            self.raise(s, text());
        }
        s
    }

    /// Adds a perfdata item.
    pub fn perf(&mut self, p: Perf) {
        self.perf.push(p);
    }

    /// Adds a long-output line (shown below the status line).
    pub fn long(&mut self, line: impl Into<String>) {
        self.long.push(clean(&line.into()));
    }

    /// The overall state.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The perfdata items so far.
    pub fn perfdata(&self) -> &[Perf] {
        &self.perf
    }

    /// The output: `SERVICE STATUS - text | perfdata`, then long lines.
    pub fn render(&self) -> String {
        let problems: Vec<&str> = self.problems.iter().map(|(_, t)| t.as_str()).collect();
        let mut text = problems.join(", ");
        if !self.info.is_empty() {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str(&self.info.join(", "));
        }
        let mut out = format!("{} {} - {text}", self.service, self.status);
        if !self.perf.is_empty() {
            out.push_str(" | ");
            let items: Vec<String> = self.perf.iter().map(Perf::to_string).collect();
            out.push_str(&items.join(" "));
        }
        out.push('\n');
        for l in &self.long {
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_combine_and_parse() {
        assert_eq!(Status::Ok.worst(Status::Unknown), Status::Unknown);
        assert_eq!(Status::Unknown.worst(Status::Warning), Status::Warning);
        assert_eq!(Status::Critical.worst(Status::Warning), Status::Critical);
        assert_eq!("critical".parse::<Status>(), Ok(Status::Critical));
        assert_eq!("3".parse::<Status>(), Ok(Status::Unknown));
        assert!("4".parse::<Status>().is_err());
        let codes: Vec<u8> = [
            Status::Ok,
            Status::Warning,
            Status::Critical,
            Status::Unknown,
        ]
        .iter()
        .map(|s| s.code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 3]);
    }

    #[test]
    fn thresholds_critical_first() {
        let w: Range = "10".parse().expect("w");
        let c: Range = "20".parse().expect("c");
        assert_eq!(classify(5.0, Some(&w), Some(&c)), Status::Ok);
        assert_eq!(classify(15.0, Some(&w), Some(&c)), Status::Warning);
        assert_eq!(classify(25.0, Some(&w), Some(&c)), Status::Critical);
        assert_eq!(classify(25.0, None, None), Status::Ok);
    }

    #[test]
    fn the_line_puts_problems_first() {
        let mut r = Report::new("GEARMAN");
        r.info("2 functions");
        r.raise(Status::Warning, "a: 12 queued");
        r.raise(Status::Critical, "b: 3 queued, no workers");
        r.raise(Status::Ok, "ignored");
        r.perf(Perf::new("a queued", 12u64).min(0.0));
        r.long("a | b\nc");
        assert_eq!(r.status(), Status::Critical);
        assert_eq!(
            r.render(),
            "GEARMAN CRITICAL - b: 3 queued, no workers, a: 12 queued; 2 functions | 'a queued'=12;;;0\na / b/c\n"
        );
        let bare = Report::failed("MEMCACHED", Status::Critical, "refused");
        assert_eq!(bare.render(), "MEMCACHED CRITICAL - refused\n");
    }
}
