use super::*;
use crate::proto::expand::NoLookup;
use proptest::prelude::*;

fn p(line: &str) -> Result<Option<Command>, String> {
    parse(line, &NoLookup).map_err(String::from)
}

fn set(target: Option<&str>, key: &str, value: &str) -> Command {
    Command::Set {
        target: target.map(str::to_owned),
        key: key.into(),
        value: value.into(),
    }
}

#[test]
fn comments_blank_lines_and_case() {
    assert_eq!(p("   # a comment"), Ok(None));
    assert_eq!(p(""), Ok(None));
    assert_eq!(
        p("CREATE   SERVICE  Web # trailing"),
        Ok(Some(Command::Create {
            kind: Kind::Service,
            name: "web".into()
        }))
    );
}

#[test]
fn the_three_forms_of_set() {
    assert_eq!(
        p("SET role = reverse_proxy"),
        Ok(Some(set(None, "role", "reverse_proxy")))
    );
    assert_eq!(
        p("SET web.listen = 0.0.0.0:80"),
        Ok(Some(set(Some("web"), "listen", "0.0.0.0:80")))
    );
    assert_eq!(
        p("set web  persist_client=on"),
        Ok(Some(set(Some("web"), "persist_client", "on")))
    );
    assert_eq!(
        p("SET Web.High_Priority_Cookie_Contents = VIP"),
        Ok(Some(set(
            Some("web"),
            "high_priority_cookie_contents",
            "VIP"
        ))),
        "values keep their case"
    );
    assert!(p("SET = x").is_err());
    assert!(p("SET a.b").is_err());
}

#[test]
fn pool_words_in_either_order_and_default_port() {
    let want = Command::Pool {
        action: Action::Add,
        pool: "backends".into(),
        ip: "10.0.0.1".parse().expect("ip"),
        port: 80,
    };
    assert_eq!(p("POOL backends ADD 10.0.0.1"), Ok(Some(want.clone())));
    assert_eq!(p("POOL ADD backends 10.0.0.1"), Ok(Some(want)));
    assert_eq!(
        p("POOL backends frob 10.0.0.1:81"),
        Err("Invalid command:  must be 'add' or 'remove'".into())
    );
    assert!(p("POOL backends ADD example.com").is_err());
}

#[test]
fn header_shutdown_load_and_errors() {
    assert_eq!(
        p("HEADER web INSERT X-Via: perlbal rs"),
        Ok(Some(Command::Header {
            service: "web".into(),
            action: Action::Add,
            name: "x-via".into(),
            value: Some("perlbal rs".into())
        }))
    );
    assert_eq!(
        p("HEADER web INSERT X-Via"),
        Err("no value provided".into())
    );
    assert_eq!(
        p("shutdown graceful 10"),
        Ok(Some(Command::Shutdown {
            graceful: true,
            secs: Some(10)
        }))
    );
    assert_eq!(
        p("LOAD Vhosts"),
        Ok(Some(Command::Load {
            plugin: "Vhosts".into()
        }))
    );
    assert_eq!(
        p("frobnicate now"),
        Err("unknown command: frobnicate".into())
    );
    assert_eq!(p("!!"), Err("invalid command".into()));
    assert_eq!(
        p("queues now"),
        Err("The 'queues' command takes no arguments".into())
    );
    assert_eq!(
        p("gladiator"),
        Ok(Some(Command::Unsupported {
            command: "gladiator".into()
        }))
    );
    assert_eq!(p("mime list"), Ok(Some(Command::Mime(MimeCommand::List))));
    assert_eq!(
        p("MIME set Foo text/X-Foo"),
        Ok(Some(Command::Mime(MimeCommand::Set {
            ext: "foo".into(),
            mime: "text/x-foo".into()
        })))
    );
    assert_eq!(
        p("mime set a"),
        Ok(Some(Command::Mime(MimeCommand::SetUsage)))
    );
    assert_eq!(p("reproxy_state"), Ok(Some(Command::ReproxyState)));
    assert_eq!(
        p("nodes 10.0.0.1:81"),
        Ok(Some(Command::Nodes {
            node: Some(("10.0.0.1".parse().expect("ip"), 81))
        }))
    );
}

proptest! {
    #[test]
    fn arbitrary_lines_never_panic(line in "\\PC{0,80}") {
        let _ = p(&line);
    }

    #[test]
    fn set_round_trips(svc in "[a-z][a-z0-9_]{0,8}", key in "[a-z][a-z_]{0,12}", value in "[A-Za-z0-9:.,]{1,16}") {
        let line = format!("SET {svc}.{key} = {value}");
        prop_assert_eq!(p(&line), Ok(Some(set(Some(&svc), &key, &value))));
    }
}
