use super::*;
use crate::proto::http::parse_request;

fn req(text: &str) -> RequestHead {
    let full = format!("{text}\r\n\r\n");
    parse_request(full.as_bytes())
        .expect("a valid head")
        .expect("a complete head")
        .0
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn selector(routes: Routes, default: Option<&str>, services: &[&str]) -> Selector {
    Selector {
        routes,
        default: default.map(str::to_owned),
        latency: Duration::ZERO,
        roles: services
            .iter()
            .map(|s| ((*s).to_owned(), "reverse_proxy".to_owned()))
            .collect(),
    }
}

fn picked(service: &str) -> Result<Choice, (u16, String)> {
    Ok(Choice {
        service: service.into(),
        host: None,
    })
}

#[test]
fn uri_versions_as_1_80_reads_them() {
    assert_eq!(uri_version("/a.js?v=123"), Some(123.0));
    assert_eq!(uri_version("/a.js?x=1&v=7&y"), Some(7.0));
    assert_eq!(uri_version("/a.js?v=12abc"), None);
    assert_eq!(uri_version("/a.js?xv=12"), None);
    assert_eq!(uri_version("/a.js?xv=1&v=5"), Some(5.0));
    assert_eq!(uri_version("/a.js?v="), None);
    assert_eq!(uri_version("/a.js?v=0"), None);
    assert_eq!(uri_version("/v=9/a.js"), Some(9.0));
}

#[test]
fn hosts_are_tried_from_the_most_specific() {
    assert_eq!(
        host_candidates("foo.site.com:8080"),
        ["foo.site.com", "*.foo.site.com", "*.site.com", "*.com", "*"]
    );
    assert_eq!(
        host_candidates("localhost"),
        ["localhost", "*.localhost", "*"]
    );
}

#[test]
fn using_twiddles_as_1_80_matches_it() {
    assert_eq!(using("/__using/foo.com/x"), Some("foo.com"));
    assert_eq!(using("/__using/foo.com/x?y=1"), Some("foo.com"));
    assert_eq!(using("/__using/foo.com/x/y"), None);
    assert_eq!(using("/__using/foo.com"), None);
    assert_eq!(using("/x"), None);
}

#[test]
fn vhosts_pick_the_most_specific_defined_service() {
    let sel = selector(
        Routes::Vhosts(map(&[
            ("*.site.com", "wild"),
            ("a.site.com", "exact"),
            ("b.site.com", "gone"),
            ("a.site.com;using:b.com", "exact"),
        ])),
        Some("fallback"),
        &["wild", "exact", "fallback"],
    );
    let host = |h: &str| req(&format!("GET /x HTTP/1.0\r\nHost: {h}"));
    assert_eq!(sel.choose(&host("A.Site.Com."), 1), picked("exact"));
    assert_eq!(sel.choose(&host("c.site.com:81"), 1), picked("wild"));
    // An entry naming no service falls through to the wildcard.
    assert_eq!(sel.choose(&host("b.site.com"), 1), picked("wild"));
    assert_eq!(sel.choose(&host("other.org"), 1), picked("fallback"));
    assert_eq!(
        sel.choose(&req("GET /x HTTP/1.0"), 1),
        picked("fallback"),
        "no Host tries `*` then the default"
    );
    let twiddled = req("GET /__using/b.com/x HTTP/1.0\r\nHost: a.site.com");
    assert_eq!(
        sel.choose(&twiddled, 1),
        Ok(Choice {
            service: "exact".into(),
            host: Some("b.com".into())
        })
    );
    let unpaired = req("GET /__using/c.com/x HTTP/1.0\r\nHost: a.site.com");
    assert_eq!(
        sel.choose(&unpaired, 1),
        Err((
            404,
            "Vhost twiddling not configured for requested pair.".into()
        ))
    );
    assert_eq!(
        sel.choose(&host("a.site.com"), MAX_HOPS + 1),
        Err((500, "Too many selectors in a row.".into()))
    );
}

#[test]
fn vhosts_without_a_match_or_default_are_404() {
    let sel = selector(Routes::Vhosts(map(&[("a.com", "a")])), None, &["a"]);
    let r = req("GET / HTTP/1.0\r\nHost: b.com");
    assert_eq!(
        sel.choose(&r, 1),
        Err((404, "Not Found (no configured vhost)".into()))
    );
    let sel = selector(Routes::Vhosts(map(&[])), Some("nope"), &["a"]);
    assert_eq!(
        sel.choose(&r, 1),
        Err((404, "Not Found (nope not a defined service)".into()))
    );
    let sel = selector(Routes::None, Some("a"), &["a"]);
    assert_eq!(
        sel.choose(&r, 1),
        Err((500, "No service selector configured.".into()))
    );
}

#[test]
fn vpaths_take_the_first_matching_pattern() {
    let re = |p: &str| Regex::new(p).expect("a valid pattern");
    let sel = selector(
        Routes::Vpaths(vec![
            (re("^/img/"), "images".into()),
            (re("^/i"), "other".into()),
            (re("^/old/"), "gone".into()),
        ]),
        Some("web"),
        &["images", "other", "web"],
    );
    let get = |u: &str| req(&format!("GET {u} HTTP/1.0"));
    assert_eq!(sel.choose(&get("/img/a.png"), 1), picked("images"));
    assert_eq!(sel.choose(&get("/index"), 1), picked("other"));
    assert_eq!(sel.choose(&get("/x"), 1), picked("web"));
    assert_eq!(
        sel.choose(&get("/old/x"), 1),
        Err((404, "Not Found (gone not a defined service)".into()))
    );
    assert_eq!(sel.role_of("images"), "reverse_proxy");
    assert_eq!(sel.role_of("gone"), "");
    let sel = selector(Routes::Vpaths(vec![]), None, &[]);
    assert_eq!(
        sel.choose(&get("/x"), 1),
        Err((404, "Not Found (no configured vpath)".into()))
    );
}

#[test]
fn start_hooks_decide_as_1_80_does() {
    let r = Hook::Redirect(map(&[("*.old.com", "new.com"), ("*", "any.com")]));
    assert_eq!(
        r.check(&req("GET /a?b HTTP/1.0\r\nHost: www.OLD.com")),
        Early::Redirect("http://new.com/a?b".into())
    );
    assert_eq!(
        r.check(&req("GET /a HTTP/1.0")),
        Early::Redirect("http://any.com/a".into())
    );
    let only = Hook::Redirect(map(&[("old.com", "new.com")]));
    assert_eq!(
        only.check(&req("GET / HTTP/1.0\r\nHost: x.com")),
        Early::Next
    );

    let max = Hook::MaxContentLength(10);
    let post = |n: u64| req(&format!("POST / HTTP/1.0\r\nContent-Length: {n}"));
    assert_eq!(max.check(&post(10)), Early::Next);
    assert_eq!(max.check(&post(11)), Early::TooLong);
    assert_eq!(Hook::MaxContentLength(0).check(&post(11)), Early::Next);

    let nm = Hook::NotModified(Regex::new("^static\\.").expect("a valid pattern"));
    let ims = "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT";
    assert_eq!(
        nm.check(&req(&format!("GET / HTTP/1.0\r\nHost: static.a\r\n{ims}"))),
        Early::NotModified
    );
    assert_eq!(
        nm.check(&req(&format!("GET / HTTP/1.0\r\nHost: www.a\r\n{ims}"))),
        Early::Next
    );
    assert_eq!(
        nm.check(&req("GET / HTTP/1.0\r\nHost: static.a")),
        Early::Next
    );
    assert_eq!(Hook::Access.check(&post(1)), Early::CheckAccess);
}

#[test]
fn if_modified_since_needs_the_exact_date_and_length() {
    let date = "Thu, 01 Jan 1970 00:00:10 GMT";
    let with = |v: &str| req(&format!("GET / HTTP/1.0\r\nIf-Modified-Since: {v}"));
    assert!(not_modified(&with(date), date, Some(5)));
    assert!(not_modified(
        &with(&format!("{date}; length=5")),
        date,
        Some(5)
    ));
    assert!(!not_modified(
        &with(&format!("{date}; length=6")),
        date,
        Some(5)
    ));
    assert!(!not_modified(
        &with("Thu, 01 Jan 1970 00:00:11 GMT"),
        date,
        Some(5)
    ));
    assert!(!not_modified(&req("GET / HTTP/1.0"), date, Some(5)));
    assert_eq!(file_status(true, ByteRange::Unsatisfiable), 304);
    assert_eq!(file_status(false, ByteRange::Full), 200);
    assert_eq!(
        file_status(false, ByteRange::Partial { start: 0, end: 1 }),
        206
    );
    assert_eq!(file_status(false, ByteRange::Unsatisfiable), 416);
}

#[test]
fn keep_alive_needs_the_service_the_client_and_no_body() {
    let t = Duration::from_secs(30);
    let get = req("GET / HTTP/1.1\r\nHost: a");
    assert_eq!(keep_alive(&get, true, t), Some(30));
    assert_eq!(keep_alive(&get, false, t), None);
    assert_eq!(keep_alive(&req("GET / HTTP/1.0"), true, t), None);
    let body = req("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3");
    assert_eq!(keep_alive(&body, true, t), None);
}

#[test]
fn uri_readings_of_the_plugins() {
    assert_eq!(leading_dir("/var/www/static/"), Some("static".into()));
    assert_eq!(leading_dir("/var/www/a.b"), None);
    assert_eq!(leading_dir("/"), None);
    assert_eq!(strip_leading_dir("/static/a.css", "static"), Some("/a.css"));
    assert_eq!(strip_leading_dir("/staticky", "static"), Some("ky"));
    assert_eq!(strip_leading_dir("/other/a.css", "static"), None);
    assert_eq!(flv_start("/v.flv?start=100"), Some("100"));
    assert_eq!(flv_start("/v.flv?a=1;start=7"), Some("7"));
    assert_eq!(flv_start("/v.flv?start=000"), None);
    assert_eq!(flv_start("/v.flv?start=1x"), None);
    assert_eq!(flv_start("/v.mp4?start=100"), None);
    assert_eq!(flv_start("/v.flv"), None);
}

#[test]
fn lazy_cdn_hands_over_missing_and_outdated_files() {
    let get = |u: &str| req(&format!("GET {u} HTTP/1.0"));
    let file = Probe::File {
        mtime: 100,
        size: 10,
    };
    assert!(lazy_cdn_hands_over(&get("/a.js"), Probe::Missing));
    assert!(!lazy_cdn_hands_over(&get("/a.js"), Probe::Other));
    assert!(lazy_cdn_hands_over(&get("/a.js?v=101"), file));
    assert!(!lazy_cdn_hands_over(&get("/a.js?v=100"), file));
    assert!(!lazy_cdn_hands_over(&get("/a.js"), file));
    let ranged = req("GET /a.js?v=200 HTTP/1.0\r\nRange: bytes=0-1");
    assert!(
        !lazy_cdn_hands_over(&ranged, file),
        "a partial answer stays"
    );
    let date = crate::proto::date::http_date(100);
    let cond = req(&format!(
        "GET /a.js?v=200 HTTP/1.0\r\nIf-Modified-Since: {date}"
    ));
    assert!(!lazy_cdn_hands_over(&cond, file), "a 304 stays");
}
