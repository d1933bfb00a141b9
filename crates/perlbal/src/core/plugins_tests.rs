use super::*;
use crate::proto::command::parse;
use crate::proto::expand::NoLookup;

/// Runs lines as the console does; each gives `OK`, nothing or `ERROR: ..`.
fn run(cfg: &mut Config, ctx: &mut Context, lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            match parse(l, &NoLookup)
                .map_err(ConfigError::from)
                .and_then(|c| match c {
                    Some(c) => cfg.apply(&c, ctx),
                    None => Ok(Effect::None),
                }) {
                Ok(Effect::Quiet) => String::new(),
                Ok(_) => "OK".into(),
                Err(e) => format!("ERROR: {e}"),
            }
        })
        .collect()
}

const BASE: &str =
    "CREATE POOL pool\nCREATE SERVICE web\nSET role = reverse_proxy\nSET pool = pool\n";

#[test]
fn load_set_plugins_and_access_as_1_80() {
    let mut cfg = Config::load(BASE, &NoLookup).expect("loads");
    let mut ctx = Context::default();
    let got = run(
        &mut cfg,
        &mut ctx,
        &[
            "access deny ip 1.2.3.4",
            "LOAD AtomStream",
            "LOAD accesscontrol",
            "LOAD AccessControl",
            "LOAD HIGHPRI",
            "SET web.plugins = Highpri, frob",
            "access deny ip 1.2.3.4",
            "use web",
            "access deny ip 1.2.3.4",
            "ACCESS QUEUE_LOW NETMASK 10.9.8.7/8",
            "access policy deny",
            "use pool",
            "access reset",
            "set web.plugins = accesscontrol highpri",
            "set web.highpri.uri_pattern = ^/vip",
            "set web.highpri.host_pattern = (",
            "set web.highpri.frob = 1",
            "set web.uri_pattern = x",
            "set web.accesscontrol.use_observed_ip = 1",
        ],
    );
    assert_eq!(
        got,
        [
            "ERROR: unknown command: access",
            "ERROR: plugin 'AtomStream' is not available in this build of perlbal",
            "ERROR: plugin 'accesscontrol' is not available in this build of perlbal",
            "OK",
            "OK",
            "ERROR: Plugin frob not loaded; not registered for web.",
            "ERROR: No service name in context from CREATE SERVICE <name> or USE <service_name>",
            "OK",
            "OK",
            "OK",
            "OK",
            "OK",
            "ERROR: Non-existent service 'pool'",
            "OK",
            "",
            "ERROR: Invalid regular expression",
            "ERROR: Unknown service parameter 'highpri.frob'",
            "ERROR: Unknown service parameter 'uri_pattern'",
            "OK",
        ]
    );
    let web = &cfg.services["web"];
    assert_eq!(web.plugins, [Plugin::AccessControl, Plugin::Highpri]);
    assert!(web.access.use_observed_ip);
    assert_eq!(cfg.plugin_lines(), ["web AccessControl Highpri"]);
    assert_eq!(
        cfg.patterns().expect("loaded"),
        [
            "High priority pattern buffer:",
            "SET web.highpri.uri_pattern = ^/vip",
            "SET web.highpri.host_pattern = undef",
            ".",
        ]
    );
    let dump = cfg.dump().join("\n");
    assert!(
        dump.contains(
            "  SET pool = pool\n  ACCESS DENY IP 1.2.3.4\n  ACCESS QUEUE_LOW NETMASK 10.0.0.0/8\n  ACCESS POLICY DENY\n  # Plugin 'Highpri' isn't capable of dumping config.\nDISABLE web"
        ),
        "{dump}"
    );
    // SET plugins again: Highpri's patterns return to their defaults.
    run(&mut cfg, &mut ctx, &["set web.plugins = Highpri"]);
    assert_eq!(
        cfg.patterns().expect("loaded")[1],
        format!("SET web.highpri.uri_pattern = {DEFAULT_URI_PATTERN}")
    );
    run(&mut cfg, &mut ctx, &["unload highpri"]);
    assert_eq!(
        cfg.patterns().map_err(String::from),
        Err("unknown command: patterns".into())
    );
}

#[test]
fn patterns_compile_or_turn_off() {
    assert!(pattern("undef").is_none() && pattern("none").is_none() && pattern("null").is_none());
    let re = pattern(DEFAULT_URI_PATTERN).expect("compiles");
    assert!(re.is_match("/interface/flat") && re.is_match("/login.bml"));
    assert!(!re.is_match("/interface/flatx") && !re.is_match("/loginxbml"));
}
