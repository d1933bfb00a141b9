//! mogadm's command table, its help texts and its argument rules, laid out
//! as MogileFS-Utils 2.30's `mogadm` prints and parses them.
//!
//! Arguments follow the original: `mogadm [global opts] <cmd> <verb>
//! <positional args...> [--opts]`. Options are Getopt::Long style:
//! `--name=value`, `--name value`, a single dash, unique prefixes.

use std::collections::BTreeMap;

/// Whether an option takes a string, an integer or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Flag,
    Str,
    Int,
}

/// One verb (`host add`): positional args, description, options.
pub struct Verb {
    pub name: &'static str,
    pub args: Option<&'static str>,
    pub des: &'static str,
    /// `("<hostname>" | "--status=s", description)`.
    pub opts: &'static [(&'static str, &'static str)],
}

/// A top command (`host`) and its verbs (none for `check`).
pub struct Top {
    pub name: &'static str,
    pub des: &'static str,
    pub verbs: &'static [Verb],
}

macro_rules! opts {
    ($($k:literal => $v:literal),* $(,)?) => { &[$(($k, $v)),*] };
}

/// Every command, in the order `mogadm` lists them.
pub static TABLE: &[Top] = &[
    Top {
        name: "check",
        des: "Check the state of the MogileFS world.",
        verbs: &[],
    },
    Top {
        name: "stats",
        des: "Show MogileFS system statistics.  (DEPRECATED: use mogstats instead)",
        verbs: &[],
    },
    Top {
        name: "host",
        des: "Add/modify hosts.",
        verbs: &[
            Verb {
                name: "list",
                args: None,
                des: "List all hosts.",
                opts: &[],
            },
            Verb {
                name: "add",
                args: Some("<hostname> [opts]"),
                des: "Add a host to MogileFS.",
                opts: opts! {
                    "<hostname>" => "Hostname of machine",
                    "--status=s" => "One of {alive,down}.  Default 'down'.",
                    "--ip=s" => "IP address of machine.",
                    "--port=i" => "HTTP port of mogstored",
                    "--getport=i" => "Alternate HTTP port serving readonly traffic",
                    "--altip=s" => "Alternate IP that is machine is reachable from",
                    "--altmask=s" => "Netmask which, when matches client, uses alt IP",
                },
            },
            Verb {
                name: "modify",
                args: Some("<hostname> [opts]"),
                des: "Modify a host's properties.",
                opts: opts! {
                    "<hostname>" => "Host name.",
                    "--status=s" => "One of {alive,down}.",
                    "--ip=s" => "IP address of machine.",
                    "--port=i" => "HTTP port of mogstored",
                    "--getport=i" => "Alternate HTTP port serving readonly traffic",
                    "--altip=s" => "Alternate IP that is machine is reachable from",
                    "--altmask=s" => "Netmask which, when matches client, uses alt IP",
                },
            },
            Verb {
                name: "mark",
                args: Some("<hostname> <status>"),
                des: "Change the status of a host.  (equivalent to 'modify --status')",
                opts: opts! {
                    "<hostname>" => "Host name to bring up or down.",
                    "<status>" => "One of {alive,down}.",
                },
            },
            Verb {
                name: "delete",
                args: Some("<hostname>"),
                des: "Delete a host.",
                opts: opts! { "<hostname>" => "Host name to delete." },
            },
        ],
    },
    Top {
        name: "device",
        des: "Add/modify devices.",
        verbs: &[
            Verb {
                name: "list",
                args: Some("[opts]"),
                des: "List all devices, for each host.",
                opts: opts! { "--all" => "Include dead devices in list." },
            },
            Verb {
                name: "summary",
                args: Some("[opts]"),
                des: "List the summary of devices, for each host.",
                opts: opts! { "--status=s" => "Devices of status A. Defaults to 'alive,readonly'" },
            },
            Verb {
                name: "add",
                args: Some("<hostname> <devid> [opts]"),
                des: "Add a device to a host.",
                opts: opts! {
                    "<hostname>" => "Hostname to add a device",
                    "<devid>" => "Numeric devid.  Never reuse these.",
                    "--status=s" => "One of 'alive' or 'down'.  Defaults to 'alive'.",
                },
            },
            Verb {
                name: "mark",
                args: Some("<hostname> <devid> <status>"),
                des: "Mark a device as {alive,dead,down,drain,readonly}",
                opts: opts! {
                    "<hostname>" => "Hostname of device",
                    "<devid>" => "Numeric devid to modify.",
                    "<status>" => "One of {alive,dead,down,drain,readonly}",
                },
            },
            Verb {
                name: "modify",
                args: Some("<hostname> <devid> [opts]"),
                des: "Modify a device's properties.",
                opts: opts! {
                    "<hostname>" => "Hostname of device",
                    "<devid>" => "Numeric devid to modify.",
                    "--status=s" => "One of {alive,dead,down,drain,readonly}",
                    "--weight=i" => "Positive numeric weight for device",
                },
            },
        ],
    },
    Top {
        name: "domain",
        des: "Add/modify domains (namespaces)",
        verbs: &[
            Verb {
                name: "list",
                args: None,
                des: "List all hosts.",
                opts: &[],
            },
            Verb {
                name: "add",
                args: Some("<domain>"),
                des: "Add a domain (namespace)",
                opts: opts! { "<domain>" => "Domain (namespace) to add." },
            },
            Verb {
                name: "delete",
                args: Some("<domain>"),
                des: "Delete a domain.",
                opts: opts! { "<domain>" => "Domain (namespace) to add." },
            },
        ],
    },
    Top {
        name: "class",
        des: "Add/modify file classes.",
        verbs: &[
            Verb {
                name: "list",
                args: None,
                des: "List all classes, for each domain.",
                opts: &[],
            },
            Verb {
                name: "add",
                args: Some("<domain> <class> [opts]"),
                des: "Add a file class to a domain.",
                opts: opts! {
                    "<domain>" => "Domain to add class to.",
                    "<class>" => "Name of class to add.",
                    "--mindevcount=i" => "Minimum number of replicas.",
                    "--replpolicy=s" => "Replication policy string.",
                    "--hashtype=s" => "Hash algorithm string ('MD5', 'NONE').",
                },
            },
            Verb {
                name: "modify",
                args: Some("<domain> <class> [opts]"),
                des: "Modify properties of a file class.",
                opts: opts! {
                    "<domain>" => "Domain to add class to.",
                    "<class>" => "Name of class to add.",
                    "--mindevcount=i" => "Minimum number of replicas.",
                    "--replpolicy=s" => "Replication policy string.",
                    "--hashtype=s" => "Hash algorithm string ('MD5', 'NONE').",
                },
            },
            Verb {
                name: "delete",
                args: Some("<domain> <class>"),
                des: "Delete a file class from a domain.",
                opts: opts! {
                    "<domain>" => "Domain of class to delete.",
                    "<class>" => "Class to delete.",
                },
            },
        ],
    },
    Top {
        name: "slave",
        des: "Manipulate slave database information in a running mogilefsd.",
        verbs: &[
            Verb {
                name: "list",
                args: None,
                des: "List current store slave nodes.",
                opts: &[],
            },
            Verb {
                name: "add",
                args: Some("<slave_key> [opts]"),
                des: "Add a slave node for store usage",
                opts: opts! {
                    "--dsn=s" => "DBI DSN specifying what database to connect to.",
                    "--username=s" => "DBI username for connecting.",
                    "--password=s" => "DBI password for connecting.",
                },
            },
            Verb {
                name: "modify",
                args: Some("<slave_key> [opts]"),
                des: "Modify a slave node for store usage",
                opts: opts! {
                    "--dsn=s" => "DBI DSN specifying what database to connect to.",
                    "--username=s" => "DBI username for connecting.",
                    "--password=s" => "DBI password for connecting.",
                },
            },
            Verb {
                name: "delete",
                args: Some("<slave_key>"),
                des: "Delete a slave node for store usage",
                opts: &[],
            },
        ],
    },
    Top {
        name: "settings",
        des: "Change/list server settings.",
        verbs: &[
            Verb {
                name: "list",
                args: None,
                des: "List all server settings",
                opts: &[],
            },
            Verb {
                name: "set",
                args: Some("<key> <value>"),
                des: "Set server setting 'key' to 'value'.",
                opts: &[],
            },
        ],
    },
    Top {
        name: "rebalance",
        des: "Control file rebalancing operations.",
        verbs: &[
            Verb {
                name: "start",
                args: None,
                des: "Start a rebalance job",
                opts: &[],
            },
            Verb {
                name: "stop",
                args: None,
                des: "Stop a rebalance job",
                opts: &[],
            },
            Verb {
                name: "status",
                args: None,
                des: "Show status of current rebalance job",
                opts: &[],
            },
            Verb {
                name: "settings",
                args: None,
                des: "Display rebalance settings",
                opts: &[],
            },
            Verb {
                name: "test",
                args: None,
                des: "Show what devices the current policy would match",
                opts: &[],
            },
            Verb {
                name: "reset",
                args: None,
                des: "Reset an existing policy",
                opts: &[],
            },
            Verb {
                name: "policy",
                args: Some("[opts]"),
                des: "Add or adjust the current policy",
                opts: opts! { "--options=s" => "Policy string (see docs/wiki for details)" },
            },
        ],
    },
    Top {
        name: "fsck",
        des: "Control a background filesystem check operation.",
        verbs: &[
            Verb {
                name: "start",
                args: None,
                des: "Start (or resume) background fsck",
                opts: &[],
            },
            Verb {
                name: "stop",
                args: None,
                des: "Stop (pause) background fsck",
                opts: &[],
            },
            Verb {
                name: "status",
                args: None,
                des: "Show fsck status",
                opts: &[],
            },
            Verb {
                name: "reset",
                args: Some("[opts]"),
                des: "Reset fsck position back to the beginning",
                opts: opts! {
                    "--policy-only" => "Check repl policy (assumed locations); don't stat storage nodes",
                    "--startpos=i" => "FID to start at.",
                },
            },
            Verb {
                name: "clearlog",
                args: None,
                des: "Clear the fsck log",
                opts: &[],
            },
            Verb {
                name: "printlog",
                args: None,
                des: "Display the fsck log",
                opts: &[],
            },
            Verb {
                name: "taillog",
                args: None,
                des: "Tail the fsck log",
                opts: &[],
            },
        ],
    },
];

/// Finds a top command.
pub fn top(name: &str) -> Option<&'static Top> {
    TABLE.iter().find(|t| t.name == name)
}

fn sorted_verbs(top: &Top) -> Vec<&Verb> {
    let mut v: Vec<&Verb> = top.verbs.iter().collect();
    v.sort_by_key(|v| v.name);
    v
}

/// The usage text `mogadm` prints when it has no (known) command.
pub fn usage() -> String {
    let mut out = String::from(
        "Usage:  (enter any command prefix, leaving off options, for further help)\n\n",
    );
    for t in TABLE {
        if t.verbs.is_empty() {
            out.push_str(&format!("  mogadm {:<25} {}\n", t.name, t.des));
            continue;
        }
        out.push_str(&format!("  mogadm {} ...\n", t.name));
        for v in sorted_verbs(t) {
            let dots = if v.args.is_some() { "..." } else { "" };
            out.push_str("       ");
            out.push_str(&format!(
                "  {:<25} {}\n",
                format!("{} {} {dots}", t.name, v.name),
                v.des
            ));
        }
    }
    out.push('\n');
    out
}

/// The help of a top command (all its verbs, or one with its options),
/// after an optional error message.
pub fn topcmd_help(top: &Top, verb: Option<&str>, msg: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(m) = msg {
        out.push_str(&format!("\nERROR: {m}\n\n"));
    }
    let sfx = verb.map(|v| format!("-{v}")).unwrap_or_default();
    out.push_str(&format!("Help for '{}{sfx}' command:\n", top.name));
    if verb.is_none() {
        out.push_str(" (enter any command prefix, leaving off options, for further help)\n");
    }
    out.push('\n');
    for v in sorted_verbs(top) {
        if verb.is_some_and(|w| w != v.name) {
            continue;
        }
        let call = format!("mogadm {} {} {}", top.name, v.name, v.args.unwrap_or(""));
        out.push_str(&format!("  {call:<50} {}\n", v.des));
    }
    out.push('\n');
    if let Some(v) = verb.and_then(|w| top.verbs.iter().find(|v| v.name == w)) {
        let mut opts: Vec<&(&str, &str)> = v.opts.iter().collect();
        // `<args>` before `--options`, each group by name.
        opts.sort_by(|a, b| b.0[..1].cmp(&a.0[..1]).then(a.0.cmp(b.0)));
        for (k, d) in opts {
            out.push_str(&format!("      {k:<20} {d}\n"));
        }
        out.push('\n');
    }
    out
}

/// A verb's arguments: positionals by name, then options by name.
pub type Parsed = BTreeMap<String, String>;

/// Why arguments were refused: the help to print (exit 1), and what
/// Getopt would have warned on stderr first.
#[derive(Debug)]
pub struct BadArgs {
    pub warning: Option<String>,
    pub msg: Option<String>,
}

/// Parses a verb's positional arguments and options from `argv`.
pub fn parse_verb(verb: &Verb, argv: &[String]) -> Result<Parsed, BadArgs> {
    let bad = |m: &str| BadArgs {
        warning: None,
        msg: Some(m.to_owned()),
    };
    let mut out = Parsed::new();
    let mut rest = argv;
    match verb.args {
        Some(spec) => {
            for word in spec.split(' ') {
                let Some(name) = word.strip_prefix('<').and_then(|w| w.strip_suffix('>')) else {
                    continue;
                };
                let Some((first, more)) = rest.split_first() else {
                    return Err(bad(&format!("Missing argument '{name}'")));
                };
                if first.starts_with('-') {
                    return Err(bad(&format!(
                        "Unexpected option.  Expected argument '{name}'"
                    )));
                }
                let mut val = first.clone();
                // "dev5" means devid 5.
                if name == "devid" {
                    if let Some(n) = val
                        .strip_prefix("dev")
                        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    {
                        val = n.to_owned();
                    }
                }
                out.insert(name.to_owned(), val);
                rest = more;
            }
            if rest.first().is_some_and(|a| !a.starts_with('-')) {
                return Err(bad("Unexpected extra argument."));
            }
        }
        None if !rest.is_empty() => return Err(bad("Unexpected arguments when expecting none.")),
        None => {}
    }
    let spec: Vec<(&str, Kind)> = verb
        .opts
        .iter()
        .filter_map(|(k, _)| k.strip_prefix("--"))
        .map(|k| match k.split_once('=') {
            Some((n, "i")) => (n, Kind::Int),
            Some((n, _)) => (n, Kind::Str),
            None => (k, Kind::Flag),
        })
        .collect();
    let (opts, _left) = getopt(&spec, rest, true).map_err(|w| BadArgs {
        warning: Some(w),
        msg: None,
    })?;
    out.extend(opts);
    Ok(out)
}

/// Getopt::Long with `require_order`: options until the first word that is
/// not one (or `--`); returns them and what is left. `strict`: an unknown
/// option is an error (else it ends the options, as `pass_through`).
pub fn getopt<'a>(
    spec: &[(&str, Kind)],
    argv: &'a [String],
    strict: bool,
) -> Result<(Parsed, &'a [String]), String> {
    let mut out = Parsed::new();
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        if a == "--" {
            return Ok((out, &argv[i + 1..]));
        }
        let Some(body) = a
            .strip_prefix("--")
            .or_else(|| a.strip_prefix('-'))
            .filter(|b| !b.is_empty())
        else {
            break;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let exact = spec.iter().find(|(n, _)| *n == name);
        let found = exact.copied().or_else(|| {
            let pre: Vec<_> = spec.iter().filter(|(n, _)| n.starts_with(name)).collect();
            (pre.len() == 1).then(|| *pre[0])
        });
        let Some((full, kind)) = found else {
            if strict {
                return Err(format!("Unknown option: {name}"));
            }
            break;
        };
        let value = match (kind, inline) {
            (Kind::Flag, Some(_)) => {
                return Err(format!("Option {full} does not take an argument"))
            }
            (Kind::Flag, None) => "1".to_owned(),
            (_, Some(v)) => v.to_owned(),
            (_, None) => {
                i += 1;
                match argv.get(i) {
                    Some(v) => v.clone(),
                    None => return Err(format!("Option {full} requires an argument")),
                }
            }
        };
        if kind == Kind::Int && value.trim_start_matches(['+', '-']).parse::<u64>().is_err() {
            return Err(format!(
                "Value \"{value}\" invalid for option {full} (number expected)"
            ));
        }
        out.insert(full.to_owned(), value);
        i += 1;
    }
    Ok((out, &argv[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn positionals_then_options() {
        let add = &top("device").unwrap().verbs[2];
        let p = parse_verb(add, &v(&["s1", "dev7", "--status", "down"])).unwrap();
        assert_eq!(p["hostname"], "s1");
        assert_eq!(p["devid"], "7");
        assert_eq!(p["status"], "down");
        let e = parse_verb(add, &v(&["s1"])).unwrap_err();
        assert_eq!(e.msg.as_deref(), Some("Missing argument 'devid'"));
        let e = parse_verb(add, &v(&["s1", "--status=x"])).unwrap_err();
        assert_eq!(
            e.msg.as_deref(),
            Some("Unexpected option.  Expected argument 'devid'")
        );
        let e = parse_verb(add, &v(&["s1", "2", "3"])).unwrap_err();
        assert_eq!(e.msg.as_deref(), Some("Unexpected extra argument."));
        let e = parse_verb(add, &v(&["s1", "2", "--bogus"])).unwrap_err();
        assert_eq!(e.warning.as_deref(), Some("Unknown option: bogus"));
    }

    #[test]
    fn getopt_forms() {
        let spec = [("port", Kind::Int), ("ip", Kind::Str), ("all", Kind::Flag)];
        let argv = v(&["-po", "7500", "--ip=1.2.3.4", "--all", "x"]);
        let (o, left) = getopt(&spec, &argv, true).unwrap();
        assert_eq!(
            (o["port"].as_str(), o["ip"].as_str(), o["all"].as_str()),
            ("7500", "1.2.3.4", "1")
        );
        assert_eq!(left, ["x"]);
        assert!(getopt(&spec, &v(&["--port=abc"]), true)
            .unwrap_err()
            .contains("number expected"));
        let argv = v(&["--nope", "y"]);
        let (_, left) = getopt(&spec, &argv, false).unwrap();
        assert_eq!(left, ["--nope", "y"]);
    }

    #[test]
    fn help_lists_positionals_first() {
        let h = topcmd_help(
            top("device").unwrap(),
            Some("add"),
            Some("Missing argument 'devid'"),
        );
        let expect = "\nERROR: Missing argument 'devid'\n\nHelp for 'device-add' command:\n\n  mogadm device add <hostname> <devid> [opts]        Add a device to a host.\n\n      <devid>              Numeric devid.  Never reuse these.\n      <hostname>           Hostname to add a device\n      --status=s           One of 'alive' or 'down'.  Defaults to 'alive'.\n\n";
        assert_eq!(h, expect);
        assert!(usage().contains(
            "  mogadm check                     Check the state of the MogileFS world.\n"
        ));
        assert!(usage().contains("         host add ...              Add a host to MogileFS.\n"));
    }
}
