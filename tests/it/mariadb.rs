//! testkit's MariaDB helper: each test gets a database of its own, usable
//! through its URL, and dropped when the test ends.

use danga_testkit::TestDb;

#[test]
fn mariadb_test_databases_are_private_and_dropped() {
    let Some(a) = TestDb::create("it_a") else {
        return;
    };
    let b = TestDb::create("it_b").expect("a second database");
    assert_ne!(a.name(), b.name());
    assert!(a.url().starts_with("mysql://") && a.url().ends_with(a.name()));
    a.sql_in("CREATE TABLE t (k VARCHAR(10) PRIMARY KEY, v INT); INSERT INTO t VALUES ('x', 7)")
        .expect("create and insert");
    assert_eq!(
        a.sql_in("SELECT v FROM t WHERE k = 'x'")
            .expect("select")
            .trim(),
        "7"
    );
    assert!(
        b.sql_in("SELECT v FROM t").is_err(),
        "b does not see a's table"
    );
    let name = a.name().to_owned();
    drop(a);
    let left = b
        .sql(&format!("SHOW DATABASES LIKE '{name}'"))
        .expect("show");
    assert_eq!(left.trim(), "", "dropped with the test");
}
