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

#[test]
fn commands_and_checks_as_1_80() {
    let mut cfg = Config::default();
    let mut ctx = Context::default();
    let got = run(
        &mut cfg,
        &mut ctx,
        &[
            "vhost x = y",
            "LOAD vhosts",
            "LOAD vpaths",
            "LOAD redirect",
            "LOAD MaxContentLength",
            "LOAD NotModified",
            "LOAD XFFExtras",
            "LOAD include",
            "set ws.max_content_length = 5",
            "CREATE SERVICE ws",
            "SET role = web_server",
            "CREATE SERVICE sel",
            "SET role = selector",
            "SET plugins = vhosts",
            "vhost x = y",
            "use ws",
            "vhost a = b",
            "vhost sel A%b = c",
            "vhost sel Foo.Bar = Baz",
            "vpath sel ^/x = ws",
            "vpath sel ( = ws",
            "redirect host A.example B.example",
            "redirect",
            "set ws.max_content_length = 5",
            "set ws.max_content_length = x",
            "set ws.send_backend_port = 1",
            "set sel.default_service = nope",
            "set sel.default_service = ws",
            "set sel.latency = 5",
            "set ws.notmodified.host_pattern = ^a",
            "set ws.plugins = notmodified, redirect",
            "set ws.notmodified.host_pattern = ^a",
            "set ws.plugins = vhosts",
            "include /x",
        ],
    );
    assert_eq!(
        got,
        [
            "ERROR: unknown command: vhost",
            "OK",
            "OK",
            "OK",
            "OK",
            "OK",
            "OK",
            "OK",
            "ERROR: service/pool 'ws' does not exist",
            "OK",
            "OK",
            "OK",
            "OK",
            "OK",
            "OK",
            "OK",
            "ERROR: Service 'ws' is not a selector service",
            "ERROR: invalid host pattern: 'a%b'",
            "OK",
            "OK",
            "ERROR: invalid regular expression: '('",
            "",
            "ERROR: usage: REDIRECT HOST <match_host> <target_host>",
            "OK",
            "ERROR: Expecting integer value for parameter 'max_content_length'",
            "ERROR: The 'send_backend_port' option can only be set on a 'reverse_proxy' service",
            "ERROR: Service 'nope' not found",
            "OK",
            "OK",
            "ERROR: Unknown service parameter 'notmodified.host_pattern'",
            "OK",
            "",
            "ERROR: You can't load the vhost plugin on a service not of role selector.",
            "ERROR: usage: INCLUDE = <config files>",
        ]
    );
    let ws = &cfg.services["ws"];
    assert_eq!(ws.more.redirect["a.example"], "b.example");
    assert_eq!(ws.more.notmodified.as_deref(), Some("^a"));
    let sel = &cfg.services["sel"];
    assert_eq!(sel.more.vpaths, [("^/x".to_owned(), "ws".to_owned())]);
    let dump = cfg.dump().join("\n");
    assert!(
        dump.contains("CREATE SERVICE sel\n  SET role = selector\n  SET default_service = ws\n  SET latency = 5\n  VHOST foo.bar = Baz\n  VHOST x = y\nDISABLE sel"),
        "{dump}"
    );
    assert!(
        dump.contains("  SET role = web_server\n  SET index_files = index.html\n  SET max_content_length = 5\n  # Plugin 'NotModified' isn't capable of dumping config.\n  # Plugin 'Redirect' isn't capable of dumping config.\nDISABLE ws"),
        "{dump}"
    );
    // Registering Vhosts again starts its map afresh (1.80's register).
    run(&mut cfg, &mut ctx, &["set sel.plugins = vhosts"]);
    assert!(cfg.services["sel"].more.vhosts.is_empty());
}

#[test]
fn include_runs_every_file_and_names_a_failing_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path();
    std::fs::write(
        p.join("a.conf"),
        "CREATE SERVICE one\nSET role = web_server\n",
    )
    .expect("write");
    std::fs::write(
        p.join("b.conf"),
        "# second\nCREATE SERVICE two\nSET role = selector\nENABLE two\n",
    )
    .expect("write");
    std::fs::write(p.join("bad.txt"), "CREATE SERVICE three\nSET frob = 1\n").expect("write");
    let mut cfg = Config::default();
    let mut ctx = Context::default();
    let line = format!("INCLUDE = {}/*.conf", p.display());
    assert_eq!(
        run(&mut cfg, &mut ctx, &[&line]),
        ["ERROR: unknown command: include"]
    );
    run(&mut cfg, &mut ctx, &["LOAD Include"]);
    let cmd = parse(&line, &NoLookup).expect("parses").expect("a command");
    let effect = cfg.apply(&cmd, &mut ctx).expect("includes");
    assert_eq!(effect, Effect::Batch(vec![Effect::Enable("two".into())]));
    assert!(cfg.services.contains_key("one") && cfg.services["two"].enabled);
    let bad = format!("INCLUDE = {}/bad.txt", p.display());
    let err = run(&mut cfg, &mut ctx, &[&bad]).remove(0);
    assert!(
        err.ends_with("bad.txt: line 2: 'SET frob = 1': ERROR: Unknown service parameter 'frob'"),
        "{err}"
    );
    // Once running (the console), nothing of the file comes back.
    std::fs::write(
        p.join("secret.txt"),
        "first\nroot:x:0:0:root:/root:/bin/bash\n",
    )
    .expect("write");
    std::fs::write(p.join("bad2.txt"), "CREATE SERVICE four\nSET frob = 1\n").expect("write");
    cfg.running = true;
    let bad2 = format!("INCLUDE = {}/bad2.txt", p.display());
    let err = run(&mut cfg, &mut ctx, &[&bad2]).remove(0);
    assert!(
        err.ends_with("bad2.txt: line 2 is not a valid config line"),
        "{err}"
    );
    let secret = format!("INCLUDE = {}/secret.txt", p.display());
    let err = run(&mut cfg, &mut ctx, &[&secret]).remove(0);
    assert_eq!(
        err,
        format!(
            "ERROR: {}/secret.txt: line 1 is not a valid config line",
            p.display()
        )
    );
    cfg.running = false;
    let missing = format!("INCLUDE = {}/nope.conf", p.display());
    let err = run(&mut cfg, &mut ctx, &[&missing]).remove(0);
    assert!(
        err.starts_with("ERROR: Error opening config file ("),
        "{err}"
    );
    // A file that includes itself stops.
    std::fs::write(
        p.join("self.cnf"),
        format!("INCLUDE = {}/self.cnf\n", p.display()),
    )
    .expect("write");
    let me = format!("INCLUDE = {}/self.cnf", p.display());
    let err = run(&mut cfg, &mut ctx, &[&me]).remove(0);
    assert!(err.contains("nested too deeply"), "{err}");
}
