use super::*;
use crate::proto::expand::NoLookup;

const CONF: &str = "\
CREATE POOL dynamic
  POOL dynamic ADD 10.0.0.1:8080
  POOL ADD dynamic 10.0.0.2

CREATE SERVICE balancer
  SET listen          = 0.0.0.0:80
  SET role            = reverse_proxy
  SET pool            = dynamic
  SET persist_client  = on
  SET persist_backend = on
  SET verify_backend  = on
  SET connect_ahead   = 2
  SET buffer_size     = 128k
ENABLE balancer

CREATE SERVICE mgmt
  SET role   = management
  SET listen = 127.0.0.1:16000
ENABLE mgmt
SERVER max_connections = 500
";

#[test]
fn a_reverse_proxy_config() {
    let cfg = Config::load(CONF, &NoLookup).expect("loads");
    let b = &cfg.services["balancer"];
    assert!(b.enabled && b.flag("persist_backend") && b.flag("verify_backend"));
    assert_eq!(b.num("connect_ahead"), 2);
    assert_eq!(b.num("buffer_size"), 131072);
    assert_eq!(b.num("backend_persist_cache"), 2, "default");
    assert_eq!(b.listen(), Some("0.0.0.0:80".parse().expect("addr")));
    assert_eq!(cfg.pools["dynamic"].nodes.len(), 2);
    assert_eq!(cfg.pools["dynamic"].nodes[1].port(), 80);
    assert_eq!(cfg.max_connections, Some(500));
    let dump = cfg.dump().join("\n");
    assert!(dump.contains("CREATE POOL dynamic\n  POOL ADD dynamic 10.0.0.1:8080\n  POOL ADD dynamic 10.0.0.2:80\n"), "{dump}");
    assert!(dump.contains("CREATE SERVICE balancer\n  SET role = reverse_proxy\n  SET listen = 0.0.0.0:80\n  SET pool = dynamic\n  SET buffer_size = 131072\n  SET connect_ahead = 2\n"), "{dump}");
    assert!(
        dump.contains("  SET verify_backend = on\nENABLE balancer\n"),
        "{dump}"
    );
}

#[test]
fn failing_lines_are_named() {
    let err = Config::load(
        "CREATE SERVICE a\nSET a.role = reverse_proxy\nSET a.frobnicate = 1\n",
        &NoLookup,
    )
    .expect_err("unknown key");
    assert_eq!(
        err,
        "line 3: 'SET a.frobnicate = 1': ERROR: Unknown service parameter 'frobnicate'"
    );
    let err = Config::load(
        "CREATE SERVICE a\nSET role = reverse_proxy\nSET server_process = /bin/x\n",
        &NoLookup,
    )
    .expect_err("unsupported key")
    .to_string();
    assert!(
        err.contains("'server_process'") && err.contains("not supported"),
        "{err}"
    );
    let err = Config::load("CREATE SERVICE a\nSET role = frob\n", &NoLookup)
        .expect_err("role")
        .to_string();
    assert!(err.ends_with("Role not valid for service a"), "{err}");
    let err = Config::load(
        "CREATE SERVICE a\nSET role = management\nSET connect_ahead = 1\n",
        &NoLookup,
    )
    .expect_err("role check")
    .to_string();
    assert!(
        err.ends_with("The 'connect_ahead' option can only be set on a 'reverse_proxy' service"),
        "{err}"
    );
    assert!(Config::load("SET x = 1", &NoLookup)
        .expect_err("ctx")
        .to_string()
        .contains("not implied from context"));
    let cfg = Config::load(
        "SERVER aio_mode = ioaio\nSERVER aio_threads = 4\n",
        &NoLookup,
    )
    .expect("1.80's aio settings load");
    assert_eq!(cfg.aio_mode.as_deref(), Some("ioaio"));
    assert_eq!(cfg.aio_threads, Some(4));
    assert!(Config::load("SERVER aio_mode = none", &NoLookup).is_ok());
    for (line, err) in [
        ("SERVER aio_mode = linux", "Linux::AIO no longer supported"),
        ("SERVER aio_mode = fast", "Unknown AIO mode"),
        ("SERVER aio_threads = many", "Expected numeric parameter"),
    ] {
        let got = Config::load(line, &NoLookup).expect_err(line).to_string();
        assert!(got.ends_with(err), "{line}: {got}");
    }
    assert!(Config::load("CREATE POOL p\nCREATE SERVICE p\n", &NoLookup)
        .expect_err("dup")
        .to_string()
        .contains("pool 'p' already exists"));
}

#[test]
fn live_commands_and_their_effects() {
    let mut cfg = Config::load(CONF, &NoLookup).expect("loads");
    cfg.running = true;
    let mut ctx = Context {
        verbose: true,
        ..Context::default()
    };
    let run = |cfg: &mut Config, ctx: &mut Context, line: &str| {
        let cmd = crate::proto::command::parse(line, &NoLookup)
            .expect("parses")
            .expect("command");
        cfg.apply(&cmd, ctx).map_err(String::from)
    };
    assert_eq!(
        run(&mut cfg, &mut ctx, "POOL dynamic ADD 10.0.0.3:81"),
        Ok(Effect::None)
    );
    assert_eq!(cfg.pools["dynamic"].nodes.len(), 3);
    assert_eq!(
        run(&mut cfg, &mut ctx, "POOL dynamic REMOVE 10.0.0.1:8080"),
        Ok(Effect::None)
    );
    assert_eq!(cfg.pools["dynamic"].nodes.len(), 2);
    assert_eq!(
        run(&mut cfg, &mut ctx, "DISABLE mgmt"),
        Err("can't disable management service".into())
    );
    assert_eq!(
        run(&mut cfg, &mut ctx, "DISABLE balancer"),
        Ok(Effect::Disable("balancer".into()))
    );
    assert_eq!(
        run(&mut cfg, &mut ctx, "DISABLE balancer"),
        Err("service balancer is already disabled".into())
    );
    assert_eq!(
        run(&mut cfg, &mut ctx, "ENABLE balancer"),
        Ok(Effect::Enable("balancer".into()))
    );
    assert_eq!(
        run(&mut cfg, &mut ctx, "SET balancer.listen = 127.0.0.1:81"),
        Ok(Effect::Rebind("balancer".into()))
    );
    assert!(run(&mut cfg, &mut ctx, "SERVER pidfile = /tmp/x").is_err());
    assert_eq!(
        run(&mut cfg, &mut ctx, "SET balancer.pool = nope"),
        Err("Pool 'nope' not found".into())
    );
    assert_eq!(
        run(&mut cfg, &mut ctx, "HEADER balancer INSERT X-A: b"),
        Ok(Effect::None)
    );
    assert_eq!(
        cfg.services["balancer"].insert,
        vec![("x-a".to_owned(), "b".to_owned())]
    );
    assert_eq!(
        run(&mut cfg, &mut ctx, "USE nothing"),
        Err("Non-existent pool or service 'nothing'".into())
    );
}

#[test]
fn defaults_and_nodefiles() {
    let dir = std::env::temp_dir().join(format!("perlbal-nodefile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("nodes");
    std::fs::write(
        &file,
        "# nodes\n10.0.0.1:81\n10.0.0.2 # default port\n\nbogus\n",
    )
    .expect("write");
    let conf = format!(
        "DEFAULT persist_client = on\nCREATE SERVICE a\nSET role = reverse_proxy\nSET nodefile = {}\n",
        file.display()
    );
    let mut cfg = Config::load(&conf, &NoLookup).expect("loads");
    assert!(cfg.services["a"].flag("persist_client"));
    assert_eq!(cfg.services["a"].get("pool"), Some("a_pool"), "vivified");
    assert_eq!(
        cfg.pools["a_pool"].nodes,
        parse_nodefile("10.0.0.1:81\n10.0.0.2:80")
    );
    std::fs::write(&file, "10.0.0.9\n").expect("write");
    assert!(cfg.reload_nodefiles());
    assert!(!cfg.reload_nodefiles());
    assert_eq!(cfg.pools["a_pool"].nodes.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
