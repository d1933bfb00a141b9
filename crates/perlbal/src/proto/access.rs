//! The arguments of the AccessControl plugin's `ACCESS` command, split as
//! 1.80's `^access\s+(policy|allow|deny|reset|queue_low)(?:\s+(\S+))?(?:\s+(\S+))?$`
//! does. What they mean is checked when the command runs, in 1.80's order
//! (the service context first), by `core::access`.

use super::usage::Usage;

/// `ACCESS <cmd> [<arg1> [<arg2>]]`, lower-cased like every command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessArgs {
    /// `policy`, `allow`, `deny`, `reset` or `queue_low`.
    pub cmd: String,
    /// `allow`/`deny` for a policy; `ip`/`netmask` for a rule.
    pub arg1: Option<String>,
    /// The address or netmask of a rule.
    pub arg2: Option<String>,
}

/// The usage error 1.80 prints.
pub const USAGE: &str = "usage: ACCESS <cmd> <arg1> [<arg2>]";

/// Splits the words after `access`.
pub fn parse(words: &[&str]) -> Result<AccessArgs, Usage> {
    let own = |w: Option<&&str>| w.map(|s| (*s).to_owned());
    match words {
        [cmd, rest @ ..]
            if rest.len() <= 2
                && matches!(*cmd, "policy" | "allow" | "deny" | "reset" | "queue_low") =>
        {
            Ok(AccessArgs {
                cmd: (*cmd).to_owned(),
                arg1: own(rest.first()),
                arg2: own(rest.get(1)),
            })
        }
        _ => Err(Usage(USAGE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_1_80_pattern() {
        let a = parse(&["deny", "ip", "1.2.3.4"]).expect("valid");
        assert_eq!(a.cmd, "deny");
        assert_eq!(a.arg1.as_deref(), Some("ip"));
        assert_eq!(a.arg2.as_deref(), Some("1.2.3.4"));
        assert_eq!(parse(&["reset"]).map(|a| a.arg1), Ok(None));
        assert_eq!(parse(&[]).map_err(String::from), Err(USAGE.to_owned()));
        assert_eq!(
            parse(&["frob"]).map_err(String::from),
            Err(USAGE.to_owned())
        );
        assert_eq!(
            parse(&["allow", "ip", "1", "2"]).map_err(String::from),
            Err(USAGE.to_owned())
        );
    }
}
