//! The management console's own connection budget (issue 20): clients
//! holding every slot of `max_connections` do not lock the operator out.

use std::io::{Read, Write};
use std::time::Duration;

use super::{perlbal, proxy_conf, read_response, TestBackend};
use crate::wire::{ask, connect};

#[test]
fn perlbal_console_answers_while_clients_hold_every_slot() {
    let b = TestBackend::start("b", false);
    let d = perlbal(&format!(
        "SERVER max_connections = 20\n{}",
        proxy_conf(&[b.addr], "persist_client = on")
    ));
    let (web, mgmt) = (d.addr("web"), d.addr("mgmt"));
    // Twenty idle web clients take every client slot (each is answered
    // once, so it is known to be accepted, and kept alive).
    let mut idle = Vec::new();
    for i in 0..20 {
        let mut s = connect(web);
        s.write_all(format!("GET /{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .expect("write");
        let r = read_response(&mut s);
        assert!(
            r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200"),
            "{r:?}"
        );
        idle.push(s);
    }
    // The 21st client waits in the backlog.
    let mut late = connect(web);
    late.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    late.write_all(b"GET /late HTTP/1.0\r\nHost: t\r\n\r\n")
        .expect("write");
    let mut buf = [0u8; 64];
    assert!(
        late.read(&mut buf).is_err(),
        "a 21st client is served past max_connections = 20"
    );
    // Two consoles at once still answer.
    let mut c1 = connect(mgmt);
    let mut c2 = connect(mgmt);
    assert!(ask(&mut c1, "version\r\n", ".\r\n").contains("version 1.80"));
    assert!(ask(&mut c2, "version\r\n", ".\r\n").contains("version 1.80"));
    assert!(
        ask(&mut c2, "states\r\n", ".\r\n").contains("Perlbal::ClientProxy persist_wait 20"),
        "the console sees the twenty idle clients"
    );
    // A freed client slot lets the waiting client in.
    drop(idle.pop());
    late.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let r = read_response(&mut late);
    assert!(r.starts_with("HTTP/1.0 200"), "{r:?}");
}
