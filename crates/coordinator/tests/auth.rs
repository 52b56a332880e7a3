//! Logins, roles and permissions on one coordinator (PasswordAuthenticator and
//! CassandraAuthorizer), through the same entry points the server calls: `authenticate`,
//! `query_as`, `execute_as`, `batch_as`. Errors are matched on Cassandra's exact words.

mod common;

use common::{RF1, config};
use ilion_coordinator::{AuthConfig, Authenticator, Authorizer, Coordinator, Error, Session};
use ilion_cql::protocol::{
    Batch, BatchKind, BatchQuery, BatchStatement, Consistency, QueryParameters, RawValue,
    ResultBody, Values,
};

fn open(dir: &std::path::Path, auth: AuthConfig) -> Coordinator {
    let c = Coordinator::builder(config(dir))
        .in_memory()
        .auth(auth)
        .open()
        .unwrap();
    c.setup_auth().unwrap();
    c
}

fn secured() -> AuthConfig {
    AuthConfig {
        authenticator: Authenticator::Password,
        authorizer: Authorizer::Cassandra,
        ..AuthConfig::default()
    }
}

fn plain(user: &str, password: &str) -> Vec<u8> {
    format!("\0{user}\0{password}").into_bytes()
}

fn params() -> QueryParameters {
    QueryParameters::new(Consistency::One)
}

fn as_user(c: &Coordinator, user: &str, text: &str) -> Result<ResultBody, Error> {
    c.query_as(Some(user), &Session::default(), text, &params())
        .map(|e| e.result)
}

fn admin(c: &Coordinator, text: &str) {
    as_user(c, "cassandra", text).unwrap_or_else(|e| panic!("{text}: {e}"));
}

fn unauthorized(r: Result<ResultBody, Error>) -> String {
    match r {
        Err(Error::Unauthorized { message }) => message,
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

fn invalid(r: Result<ResultBody, Error>) -> String {
    match r {
        Err(Error::Invalid { message }) => message,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn bad_credentials(r: Result<String, Error>) -> String {
    match r {
        Err(Error::BadCredentials { message }) => message,
        other => panic!("expected BadCredentials, got {other:?}"),
    }
}

#[test]
fn the_default_superuser_logs_in_and_wrong_or_unknown_logins_get_the_same_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), secured());
    assert_eq!(
        c.authenticate(&plain("cassandra", "cassandra")).unwrap(),
        "cassandra"
    );
    assert_eq!(
        bad_credentials(c.authenticate(&plain("cassandra", "nope"))),
        "Provided username cassandra and/or password are incorrect"
    );
    assert_eq!(
        bad_credentials(c.authenticate(&plain("ghost", "nope"))),
        "Provided username ghost and/or password are incorrect"
    );
    assert_eq!(
        bad_credentials(c.authenticate(b"cassandra\0cassandra")),
        "Authentication ID must not be null"
    );
    admin(&c, "CREATE ROLE quiet WITH PASSWORD = 'pw'");
    assert_eq!(
        bad_credentials(c.authenticate(&plain("quiet", "pw"))),
        "quiet is not permitted to log in"
    );
}

#[test]
fn a_refusal_costs_a_password_check_whether_or_not_the_role_exists() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), secured());
    admin(&c, "CREATE ROLE nopassword WITH LOGIN = true");
    let fastest = |token: Vec<u8>| {
        (0..3)
            .map(|_| {
                let started = std::time::Instant::now();
                assert!(c.authenticate(&token).is_err());
                started.elapsed()
            })
            .min()
            .unwrap()
    };
    let wrong_password = fastest(plain("cassandra", "wrong"));
    // Without the check against a dummy hash these take no bcrypt work: a thousand times less.
    for token in [plain("ghost", "wrong"), plain("nopassword", "wrong")] {
        let refused = fastest(token);
        assert!(
            refused * 3 >= wrong_password,
            "{refused:?} against {wrong_password:?}"
        );
    }
}

#[test]
fn setting_up_again_keeps_a_changed_default_password() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), secured());
    admin(&c, "ALTER ROLE cassandra WITH PASSWORD = 'changed'");
    c.setup_auth().unwrap();
    assert!(c.authenticate(&plain("cassandra", "cassandra")).is_err());
    assert_eq!(
        c.authenticate(&plain("cassandra", "changed")).unwrap(),
        "cassandra"
    );
}

#[test]
fn each_statement_kind_needs_its_permission_until_granted() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), secured());
    admin(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}"));
    admin(&c, "CREATE TABLE ks.t (k int PRIMARY KEY, v int)");
    admin(&c, "CREATE USER alice WITH PASSWORD 'pw' NOSUPERUSER");
    let no = |perm: &str, on: &str| {
        format!("User alice has no {perm} permission on {on} or any of its parents")
    };
    for (text, perm, on) in [
        ("SELECT * FROM ks.t", "SELECT", "<table ks.t>"),
        (
            "INSERT INTO ks.t (k, v) VALUES (1, 1)",
            "MODIFY",
            "<table ks.t>",
        ),
        (
            "UPDATE ks.t SET v = 2 WHERE k = 1",
            "MODIFY",
            "<table ks.t>",
        ),
        ("DELETE FROM ks.t WHERE k = 1", "MODIFY", "<table ks.t>"),
        ("TRUNCATE ks.t", "MODIFY", "<table ks.t>"),
        (
            "CREATE TABLE ks.u (k int PRIMARY KEY)",
            "CREATE",
            "<keyspace ks>",
        ),
        ("ALTER TABLE ks.t ADD w int", "ALTER", "<table ks.t>"),
        ("DROP TABLE ks.t", "DROP", "<table ks.t>"),
        ("DROP KEYSPACE ks", "DROP", "<keyspace ks>"),
        (
            "CREATE KEYSPACE ks2 WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
            "CREATE",
            "<all keyspaces>",
        ),
    ] {
        assert_eq!(
            unauthorized(as_user(&c, "alice", text)),
            no(perm, on),
            "{text}"
        );
    }
    // Prepared: PREPARE is free, every EXECUTE is checked.
    let p = c
        .prepare(&Session::default(), "SELECT v FROM ks.t WHERE k = ?", None)
        .unwrap();
    let mut bound = params();
    bound.values = Values::Positional(vec![RawValue::Bytes(bytes::Bytes::from_static(&[
        0, 0, 0, 1,
    ]))]);
    let refused = c.execute_as(Some("alice"), &p.id, &bound).map(|e| e.result);
    assert_eq!(unauthorized(refused), no("SELECT", "<table ks.t>"));
    // A protocol BATCH: MODIFY on each table.
    let batch = Batch {
        kind: BatchKind::Logged,
        statements: vec![BatchStatement {
            query: BatchQuery::Text("INSERT INTO ks.t (k, v) VALUES (5, 5)".into()),
            values: Values::None,
        }],
        consistency: Consistency::One,
        serial_consistency: None,
        default_timestamp: None,
        keyspace: None,
        now_in_seconds: None,
    };
    let refused = c
        .batch_as(Some("alice"), &Session::default(), &batch)
        .map(|e| e.result);
    assert_eq!(unauthorized(refused), no("MODIFY", "<table ks.t>"));

    admin(&c, "GRANT SELECT ON KEYSPACE ks TO alice");
    admin(&c, "GRANT MODIFY ON ks.t TO alice");
    as_user(&c, "alice", "INSERT INTO ks.t (k, v) VALUES (1, 1)").unwrap();
    assert!(matches!(
        as_user(&c, "alice", "SELECT * FROM ks.t").unwrap(),
        ResultBody::Rows(r) if r.rows_count == 1
    ));
    c.execute_as(Some("alice"), &p.id, &bound).unwrap();
    c.batch_as(Some("alice"), &Session::default(), &batch)
        .unwrap();

    admin(&c, "REVOKE SELECT ON KEYSPACE ks FROM alice");
    assert_eq!(
        unauthorized(as_user(&c, "alice", "SELECT * FROM ks.t")),
        no("SELECT", "<table ks.t>")
    );
    // Not logged in at all.
    assert_eq!(
        unauthorized(
            c.query_as(None, &Session::default(), "SELECT * FROM ks.t", &params())
                .map(|e| e.result)
        ),
        "You have not logged in"
    );
}

#[test]
fn a_superuser_role_granted_to_a_login_makes_it_a_superuser() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), secured());
    admin(&c, "CREATE ROLE admins WITH SUPERUSER = true");
    admin(&c, "CREATE ROLE bob WITH PASSWORD = 'pw' AND LOGIN = true");
    assert_eq!(
        unauthorized(as_user(&c, "bob", "CREATE ROLE carol")),
        "User bob has no CREATE permission on <all roles> or any of its parents"
    );
    admin(&c, "GRANT admins TO bob");
    as_user(&c, "bob", "CREATE ROLE carol").unwrap();
    assert_eq!(
        unauthorized(as_user(
            &c,
            "bob",
            "ALTER ROLE admins WITH SUPERUSER = false"
        )),
        "You aren't allowed to alter your own superuser status or that of a role granted to you"
    );
    assert_eq!(
        invalid(as_user(&c, "cassandra", "GRANT bob TO admins")),
        "bob is a member of admins"
    );
    assert_eq!(
        invalid(as_user(&c, "cassandra", "REVOKE carol FROM bob")),
        "bob is not a member of carol"
    );
}

#[test]
fn grants_of_a_dropped_table_and_role_go_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), secured());
    admin(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}"));
    admin(&c, "CREATE TABLE ks.t (k int PRIMARY KEY)");
    admin(&c, "CREATE ROLE r");
    admin(&c, "GRANT SELECT ON ks.t TO r");
    admin(&c, "DROP TABLE ks.t");
    admin(&c, "CREATE TABLE ks.t (k int PRIMARY KEY)");
    assert_eq!(
        as_user(&c, "cassandra", "LIST ALL PERMISSIONS OF r").unwrap(),
        ResultBody::Void
    );
    admin(&c, "GRANT SELECT ON ks.t TO r");
    admin(&c, "DROP ROLE r");
    admin(&c, "CREATE ROLE r");
    assert_eq!(
        as_user(&c, "cassandra", "LIST ALL PERMISSIONS OF r").unwrap(),
        ResultBody::Void
    );
    assert_eq!(
        invalid(as_user(&c, "cassandra", "GRANT DESCRIBE ON ks.t TO r")),
        "Resource type DataResource does not support any of the requested permissions"
    );
    assert_eq!(
        invalid(as_user(&c, "cassandra", "GRANT SELECT ON ks.nope TO r")),
        "Resource <table ks.nope> doesn't exist"
    );
}

#[test]
fn without_an_authenticator_statements_run_unchecked_and_role_statements_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path(), AuthConfig::default());
    c.query(
        &Session::default(),
        &format!("CREATE KEYSPACE ks WITH replication = {RF1}"),
        &params(),
    )
    .unwrap();
    for text in [
        "CREATE ROLE r",
        "LIST ROLES",
        "GRANT SELECT ON ks TO r",
        "LIST USERS",
    ] {
        let r = c.query(&Session::default(), text, &params());
        assert_eq!(
            unauthorized(r),
            "You have to be logged in and not anonymous to perform this request",
            "{text}"
        );
    }
}
