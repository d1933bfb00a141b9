//! The management command language: one line of `perlbal.conf` or of the
//! management console becomes one [`Command`].
//!
//! The line is normalised as 1.80's `run_manage_command` does: `#` starts a
//! comment, whitespace is trimmed and collapsed, `${ip:iface}` and `$ENV`
//! are expanded, and everything up to the first `=` is lower-cased (values
//! keep their case).

use std::net::Ipv4Addr;

use super::expand::{expand, ExpandError, Lookup};
pub use super::help::HELP;
use super::plugin_cmd::{INCLUDE_USAGE, REDIRECT_USAGE, VHOST_USAGE, VPATH_USAGE};
use super::usage::Usage;

/// `CREATE SERVICE` or `CREATE POOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A service (a listener plus a role).
    Service,
    /// A pool of backend nodes.
    Pool,
}

/// `POOL ... ADD|REMOVE`, `HEADER ... INSERT|REMOVE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Add a node / insert a header.
    Add,
    /// Remove it.
    Remove,
}

/// `MIME ...` (1.80's `^mime(?:\s+(\w+)(?:\s+(\w+))?(?:\s+(\S+))?)?$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MimeCommand {
    /// `MIME` / `MIME list`
    List,
    /// `MIME set ext type`
    Set { ext: String, mime: String },
    /// `MIME remove ext`
    Remove { ext: String },
    /// `MIME set` without both arguments.
    SetUsage,
    /// Any other sub-command.
    Usage,
}

/// One parsed management command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `CREATE SERVICE|POOL name`
    Create { kind: Kind, name: String },
    /// `USE name`
    Use { name: String },
    /// `SET [name[.| ]]key = value`
    Set {
        target: Option<String>,
        key: String,
        value: String,
    },
    /// `DEFAULT key = value`
    Default { key: String, value: String },
    /// `ENABLE name` / `DISABLE name`
    Enable { name: String, on: bool },
    /// `POOL name ADD|REMOVE ip[:port]` (the two words in either order)
    Pool {
        action: Action,
        pool: String,
        ip: Ipv4Addr,
        port: u16,
    },
    /// `HEADER svc INSERT name: value` / `HEADER svc REMOVE name`
    Header {
        service: String,
        action: Action,
        name: String,
        value: Option<String>,
    },
    /// `SERVER key = value`
    Server { key: String, value: String },
    /// `LOAD plugin` (name as written)
    Load { plugin: String },
    /// `UNLOAD plugin`
    Unload { plugin: String },
    /// `SHOW SERVICE`
    ShowServices,
    /// `SHOW SERVICE name`
    ShowService { name: String },
    /// `SHOW POOL [name]`
    ShowPool { name: Option<String> },
    /// `NODES [ip[:port]]`
    Nodes { node: Option<(Ipv4Addr, u16)> },
    /// `QUEUES`
    Queues,
    /// `STATES [svc]`
    States { service: Option<String> },
    /// `SOCKS [summary|all]`
    Socks { summary: bool },
    /// `BACKENDS`
    Backends,
    /// `OBJ`: counts of tracked objects (none: `track_obj` is refused).
    Obj,
    /// `RELOAD plugin`
    Reload { plugin: String },
    /// Throttle's `THROTTLE RELOAD config|whitelist|blacklist` (`Err`: its
    /// usage message).
    ThrottleReload(Result<String, Usage>),
    /// `SSL RELOAD [service]` (beyond 1.80): certificates, keys and CA
    /// files of the running TLS services read again.
    SslReload { service: Option<String> },
    /// `FD`: the open-file limit and the descriptors open now.
    Fd,
    /// `TRACK`, `AIO`, `STATE CHANGES`: 1.80's debugging lists, empty
    /// here as in 1.80 with its tracking off and no IO::AIO.
    EmptyList,
    /// `PENDING`
    Pending,
    /// `NOVERIFY`
    Noverify,
    /// `UPTIME` / `VERSION`
    Uptime,
    /// `PROC`
    Proc,
    /// `DUMPCONFIG`
    Dumpconfig,
    /// `PLUGINS`
    Plugins,
    /// `HELP`
    Help,
    /// `VERBOSE on|off`
    Verbose { on: bool },
    /// `MIME ...`
    Mime(MimeCommand),
    /// `REPROXY_STATE`
    ReproxyState,
    /// `SHUTDOWN [GRACEFUL [secs]]`
    Shutdown { graceful: bool, secs: Option<u64> },
    /// AccessControl's `ACCESS ...` (only once the plugin is loaded).
    Access(Result<super::access::AccessArgs, Usage>),
    /// Highpri's `PATTERNS` (only once the plugin is loaded).
    Patterns,
    /// Vhosts' `VHOST [sel] host = svc` (only once the plugin is loaded).
    Vhost(Result<super::plugin_cmd::Route, Usage>),
    /// Vpaths' `VPATH [sel] regex = svc`.
    Vpath(Result<super::plugin_cmd::Route, Usage>),
    /// Redirect's `REDIRECT HOST from to`.
    Redirect(Result<(String, String), Usage>),
    /// Include's `INCLUDE = glob...`.
    Include(Result<String, Usage>),
    /// Stats' `STATS`.
    Stats,
    /// Stats' `RECENT`.
    Recent,
    /// A command 1.80 knows that this build does not (the base word).
    Unsupported { command: String },
    /// Cgilike's `PERLREQUIRE = Module` / `PERLHANDLER = Pkg::sub` (the
    /// base word): Perl run inside perlbal, which this build cannot do.
    Perl { command: String },
}

/// Why a line is no command, in 1.80's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A `${...}` that does not expand.
    #[error(transparent)]
    Expand(#[from] ExpandError),
    /// No command word.
    #[error("invalid command")]
    Invalid,
    /// A known command with arguments that fit none of its forms.
    #[error("Invalid syntax to '{0}' command")]
    Syntax(String),
    /// A command without arguments given some.
    #[error("The '{0}' command takes no arguments")]
    NoArguments(String),
    /// A word 1.80 does not know.
    #[error("unknown command: {0}")]
    Unknown(String),
    /// The command's usage line.
    #[error("{0}")]
    Usage(&'static str),
    /// `POOL` with neither `add` nor `remove`.
    #[error("Invalid command:  must be 'add' or 'remove'")]
    PoolAction,
    /// `HEADER svc INSERT` without a header name.
    #[error("no header provided")]
    NoHeader,
    /// `HEADER svc INSERT name` without a value.
    #[error("no value provided")]
    NoValue,
}

super::usage::error_text!(CommandError);

/// Normalises a line as 1.80 does; `None` for a blank or comment line.
pub fn normalise(
    line: &str,
    lookup: &dyn Lookup,
) -> Result<Option<(String, String)>, CommandError> {
    let no_comment = line.split('#').next().unwrap_or("");
    let collapsed = no_comment.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return Ok(None);
    }
    let expanded = expand(&collapsed, lookup)?;
    let cmd = match expanded.split_once('=') {
        Some((head, tail)) => format!("{}={tail}", head.to_ascii_lowercase()),
        None => expanded.to_ascii_lowercase(),
    };
    if cmd.trim().is_empty() {
        return Ok(None);
    }
    Ok(Some((cmd, expanded)))
}

/// Parses one line. `Ok(None)`: nothing to do (blank or comment).
pub fn parse(line: &str, lookup: &dyn Lookup) -> Result<Option<Command>, CommandError> {
    let Some((cmd, orig)) = normalise(line, lookup)? else {
        return Ok(None);
    };
    let base: String = cmd
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if base.is_empty() {
        return Err(CommandError::Invalid);
    }
    let rest = cmd[base.len()..].trim_start();
    parse_base(&base, rest, &cmd, &orig).map(Some)
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn syntax(base: &str) -> CommandError {
    CommandError::Syntax(base.to_owned())
}

fn no_opts(base: &str, rest: &str, cmd: Command) -> Result<Command, CommandError> {
    if rest.is_empty() {
        Ok(cmd)
    } else {
        Err(CommandError::NoArguments(base.to_owned()))
    }
}

/// `key = value` with 1.80's ` ?= ?(.+)`.
fn key_value(rest: &str) -> Option<(&str, String)> {
    let (k, v) = rest.split_once('=')?;
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    Some((k.trim(), v.to_owned()))
}

fn parse_base(base: &str, rest: &str, cmd: &str, orig: &str) -> Result<Command, CommandError> {
    let words: Vec<&str> = rest.split(' ').filter(|w| !w.is_empty()).collect();
    match base {
        "create" => match words.as_slice() {
            [kind @ ("service" | "pool"), name] if is_word(name) => Ok(Command::Create {
                kind: if *kind == "service" {
                    Kind::Service
                } else {
                    Kind::Pool
                },
                name: (*name).to_owned(),
            }),
            _ => Err(CommandError::Usage("usage: CREATE {service|pool} <name>")),
        },
        "use" => match words.as_slice() {
            [name] if is_word(name) => Ok(Command::Use {
                name: (*name).to_owned(),
            }),
            _ => Err(CommandError::Usage("usage: USE <service_or_pool_name>")),
        },
        "set" => parse_set(rest),
        "default" => match key_value(rest) {
            Some((k, value)) if is_word(k) => Ok(Command::Default {
                key: k.to_owned(),
                value,
            }),
            _ => Err(CommandError::Usage("usage: DEFAULT <param> = <value>")),
        },
        "enable" | "disable" => match words.as_slice() {
            [name] if is_word(name) => Ok(Command::Enable {
                name: (*name).to_owned(),
                on: base == "enable",
            }),
            _ => Err(CommandError::Usage("Usage: {ENABLE|DISABLE} <service>")),
        },
        "pool" => parse_pool(&words).ok_or_else(|| syntax(base))?,
        "header" => parse_header(rest),
        "server" => match key_value(rest) {
            Some((k, value)) if !k.is_empty() && !k.contains(' ') => Ok(Command::Server {
                key: k.to_owned(),
                value,
            }),
            _ => Err(syntax(base)),
        },
        "load" | "unload" => {
            // The plugin name keeps the case it was written in.
            let name = orig.split(' ').nth(1).unwrap_or("");
            if words.len() != 1 || !is_word(name) {
                return Err(syntax(base));
            }
            let plugin = name.to_owned();
            Ok(if base == "load" {
                Command::Load { plugin }
            } else {
                Command::Unload { plugin }
            })
        }
        "show" => match words.as_slice() {
            ["service"] => Ok(Command::ShowServices),
            ["service", name] if is_word(name) => Ok(Command::ShowService {
                name: (*name).to_owned(),
            }),
            ["pool"] => Ok(Command::ShowPool { name: None }),
            ["pool", name] if is_word(name) => Ok(Command::ShowPool {
                name: Some((*name).to_owned()),
            }),
            _ => Err(syntax(base)),
        },
        "nodes" | "node" => match words.as_slice() {
            [] => Ok(Command::Nodes { node: None }),
            [spec] => {
                let (ip, port) = match spec.split_once(':') {
                    Some((ip, port)) => (ip, port.parse().map_err(|_| syntax(base))?),
                    None => (*spec, 80),
                };
                let ip = ip.parse().map_err(|_| syntax(base))?;
                Ok(Command::Nodes {
                    node: Some((ip, port)),
                })
            }
            _ => Err(syntax(base)),
        },
        "states" => Ok(Command::States {
            service: words.first().map(|s| (*s).to_owned()),
        }),
        "socks" => match words.as_slice() {
            [] | ["all"] => Ok(Command::Socks { summary: false }),
            ["summary"] => Ok(Command::Socks { summary: true }),
            [w] if is_word(w) => Ok(Command::Socks { summary: false }),
            _ => Err(syntax(base)),
        },
        "verbose" => match words.as_slice() {
            ["on"] => Ok(Command::Verbose { on: true }),
            ["off"] => Ok(Command::Verbose { on: false }),
            _ => Err(CommandError::Usage("usage: VERBOSE {on|off}")),
        },
        "shutdown" => match words.as_slice() {
            [] => Ok(Command::Shutdown {
                graceful: false,
                secs: None,
            }),
            ["graceful"] => Ok(Command::Shutdown {
                graceful: true,
                secs: None,
            }),
            ["graceful", n] => Ok(Command::Shutdown {
                graceful: true,
                secs: Some(n.parse().map_err(|_| syntax(base))?),
            }),
            _ => Err(syntax(base)),
        },
        "queues" => no_opts(base, rest, Command::Queues),
        "backends" => no_opts(base, rest, Command::Backends),
        "obj" => no_opts(base, rest, Command::Obj),
        "fd" => no_opts(base, rest, Command::Fd),
        "track" | "aio" => no_opts(base, rest, Command::EmptyList),
        "state" => match words.as_slice() {
            ["changes"] => Ok(Command::EmptyList),
            _ => Err(syntax(base)),
        },
        "reload" => match words.as_slice() {
            [_] => {
                // The plugin name keeps the case it was written in.
                let name = orig.split(' ').nth(1).unwrap_or("");
                if !is_word(name) {
                    return Err(syntax(base));
                }
                Ok(Command::Reload {
                    plugin: name.to_owned(),
                })
            }
            _ => Err(syntax(base)),
        },
        "pending" => no_opts(base, rest, Command::Pending),
        "noverify" => no_opts(base, rest, Command::Noverify),
        "uptime" | "version" => no_opts(base, rest, Command::Uptime),
        "proc" => no_opts(base, rest, Command::Proc),
        "dumpconfig" => Ok(Command::Dumpconfig),
        "plugins" => no_opts(base, rest, Command::Plugins),
        "help" => no_opts(base, rest, Command::Help),
        "access" => Ok(Command::Access(super::access::parse(&words))),
        "mime" => parse_mime(&words).ok_or_else(|| syntax(base)),
        "reproxy_state" => Ok(Command::ReproxyState),
        "patterns" => Ok(Command::Patterns),
        "vhost" => Ok(Command::Vhost(
            super::plugin_cmd::parse_route(rest).ok_or(Usage(VHOST_USAGE)),
        )),
        "vpath" => Ok(Command::Vpath(
            super::plugin_cmd::parse_route(rest).ok_or(Usage(VPATH_USAGE)),
        )),
        "redirect" => Ok(Command::Redirect(
            super::plugin_cmd::parse_redirect(&words).ok_or(Usage(REDIRECT_USAGE)),
        )),
        "include" => Ok(Command::Include(
            super::plugin_cmd::parse_include(rest).ok_or(Usage(INCLUDE_USAGE)),
        )),
        "stats" => Ok(Command::Stats),
        "throttle" => Ok(Command::ThrottleReload(match words.as_slice() {
            [verb, what]
                if verb.eq_ignore_ascii_case("reload")
                    && ["config", "whitelist", "blacklist"]
                        .iter()
                        .any(|w| what.eq_ignore_ascii_case(w)) =>
            {
                Ok(what.to_ascii_lowercase())
            }
            _ => Err(Usage("usage: throttle reload <config|whitelist|blacklist>")),
        })),
        "recent" => Ok(Command::Recent),
        "perlrequire" | "perlhandler" => Ok(Command::Perl {
            command: base.to_owned(),
        }),
        "ssl" => match words.as_slice() {
            ["reload"] => Ok(Command::SslReload { service: None }),
            ["reload", name] if is_word(name) => Ok(Command::SslReload {
                service: Some((*name).to_owned()),
            }),
            _ => Err(CommandError::Usage("usage: SSL RELOAD [<service>]")),
        },
        _ if HELP.contains(&base) => Ok(Command::Unsupported {
            command: base.to_owned(),
        }),
        _ => {
            let _ = cmd;
            Err(CommandError::Unknown(base.to_owned()))
        }
    }
}

fn parse_mime(words: &[&str]) -> Option<Command> {
    if words.len() > 3 || words.iter().take(2).any(|w| !is_word(w)) {
        return None;
    }
    Some(Command::Mime(match words {
        [] | ["list", ..] => MimeCommand::List,
        ["set", ext, mime] => MimeCommand::Set {
            ext: (*ext).to_owned(),
            mime: (*mime).to_owned(),
        },
        ["set", ..] => MimeCommand::SetUsage,
        ["remove", ext, ..] => MimeCommand::Remove {
            ext: (*ext).to_owned(),
        },
        ["remove"] => MimeCommand::Remove { ext: String::new() },
        _ => MimeCommand::Usage,
    }))
}

/// `set (?:(\w+)[\. ])?([\w\.]+) ?= ?(.+)`
fn parse_set(rest: &str) -> Result<Command, CommandError> {
    let usage = || CommandError::Usage("usage: SET [<service>] <param> = <value>");
    let (lhs, value) = key_value(rest).ok_or_else(usage)?;
    let keyish = |s: &str| !s.is_empty() && s.split('.').all(|p| p.is_empty() || is_word(p));
    let (target, key) = match lhs.split_once(' ') {
        Some((t, k)) if is_word(t) && keyish(k) => (Some(t.to_owned()), k.to_owned()),
        Some(_) => return Err(usage()),
        None => match lhs.split_once('.') {
            Some((t, k)) if is_word(t) && keyish(k) => (Some(t.to_owned()), k.to_owned()),
            Some(_) => return Err(usage()),
            None if is_word(lhs) => (None, lhs.to_owned()),
            None => return Err(usage()),
        },
    };
    Ok(Command::Set { target, key, value })
}

/// `pool (\w+) (\w+) (\d+.\d+.\d+.\d+)(?::(\d+))?`, add/remove either side.
fn parse_pool(words: &[&str]) -> Option<Result<Command, CommandError>> {
    let [a, b, spec] = words else { return None };
    if !is_word(a) || !is_word(b) {
        return None;
    }
    let (ip, port) = match spec.split_once(':') {
        Some((ip, p)) => (ip, p.parse::<u16>().ok()?),
        None => (*spec, 80),
    };
    let ip: Ipv4Addr = ip.parse().ok()?;
    let action = |w: &str| match w {
        "add" => Some(Action::Add),
        "remove" => Some(Action::Remove),
        _ => None,
    };
    let (action, pool) = match (action(a), action(b)) {
        (_, Some(act)) => (act, *a),
        (Some(act), None) => (act, *b),
        (None, None) => return Some(Err(CommandError::PoolAction)),
    };
    Some(Ok(Command::Pool {
        action,
        pool: pool.to_owned(),
        ip,
        port,
    }))
}

/// `header\s+(\w+)\s+(insert|remove)\s+(.+?)(?:\s*:\s*(.+))?`
fn parse_header(rest: &str) -> Result<Command, CommandError> {
    let usage =
        || CommandError::Usage("Usage: HEADER <service> {INSERT|REMOVE} <header>[: <value>]");
    let mut it = rest.splitn(3, ' ');
    let (Some(service), Some(act), Some(spec)) = (it.next(), it.next(), it.next()) else {
        return Err(usage());
    };
    let action = match act {
        "insert" => Action::Add,
        "remove" => Action::Remove,
        _ => return Err(usage()),
    };
    if !is_word(service) {
        return Err(usage());
    }
    let (name, value) = match spec.split_once(':') {
        Some((n, v)) if !v.trim().is_empty() => (n.trim(), Some(v.trim().to_owned())),
        _ => (spec.trim(), None),
    };
    if name.is_empty() {
        return Err(CommandError::NoHeader);
    }
    if action == Action::Add && value.is_none() {
        return Err(CommandError::NoValue);
    }
    Ok(Command::Header {
        service: service.to_owned(),
        action,
        name: name.to_owned(),
        value,
    })
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
