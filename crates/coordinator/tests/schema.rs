//! Schema statements and system tables through the coordinator's public API.

use std::collections::BTreeSet;

mod common;

use common::{RF1, open, run, select};
use ilion_coordinator::{Error, Session};
use ilion_cql::protocol::{Consistency, CqlType, QueryParameters, ResultBody, Value};
use proptest::prelude::*;

fn text(s: &str) -> Option<Value> {
    Some(Value::Text(s.to_owned()))
}

#[test]
fn creating_an_existing_keyspace_is_already_exists_unless_if_not_exists() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    let err = run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { ref keyspace, ref table, .. } if keyspace == "ks" && table.is_empty())
    );
    let again = run(
        &c,
        &format!("CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {RF1}"),
    )
    .unwrap();
    assert_eq!(again, ResultBody::Void);
}

#[test]
fn replication_options_are_validated_and_stored_as_cassandra_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    for bad in [
        "{'class': 'SimpleStrategy'}",
        "{'class': 'SimpleStrategy', 'replication_factor': 'x'}",
        "{'class': 'SimpleStrategy', 'replication_factor': 1, 'dc1': 1}",
        "{'class': 'NetworkTopologyStrategy', 'dc1': -2}",
        "{'class': 'EverywhereStrategy'}",
        "{'class': 'LocalStrategy'}",
        "{'class': 'SimpleStrategy', 'replication_factor': 0}",
    ] {
        let err = run(&c, &format!("CREATE KEYSPACE bad WITH replication = {bad}")).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{bad}: {err:?}");
    }
    // A datacenter this node does not know is accepted, as Cassandra does (it may join later).
    run(&c, "CREATE KEYSPACE other WITH replication = {'class': 'NetworkTopologyStrategy', 'dc1': 1, 'nosuchdc': 3}")
        .unwrap();
    run(&c, "CREATE KEYSPACE nts WITH replication = {'class': 'NetworkTopologyStrategy', 'replication_factor': 3}")
        .unwrap();
    let rows = select(
        &c,
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'nts'",
    );
    assert_eq!(
        rows,
        vec![vec![Some(Value::Map(vec![
            (
                Value::Text("class".into()),
                Value::Text("org.apache.cassandra.locator.NetworkTopologyStrategy".into())
            ),
            (Value::Text("dc1".into()), Value::Text("3".into())),
        ]))]]
    );
}

#[test]
fn compaction_options_are_refused_unless_storage_serves_them() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    for (map, says) in [
        (
            "{'class': 'UnifiedCompactionStrategy'}",
            "does not implement Cassandra 5.0's UnifiedCompactionStrategy",
        ),
        (
            "{'class': 'SizeTieredCompactionStrategy', 'abc': -54.54}",
            "Properties specified [abc] are not understood by SizeTieredCompactionStrategy",
        ),
        (
            "{'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'SECONDS'}",
            "SECONDS is not valid for compaction_window_unit",
        ),
        (
            "{'class': 'TimeWindowCompactionStrategy', 'tombstone_threshold': -0.4}",
            "tombstone_threshold must be greater than 0, but was -0.400000",
        ),
        (
            "{'class': 'LeveledCompactionStrategy', 'enabled': 'false'}",
            "not supported by Ilion",
        ),
    ] {
        let err = run(
            &c,
            &format!("CREATE TABLE ks.t (k int PRIMARY KEY, v int) WITH compaction = {map}"),
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Config { message } if message.contains(says)),
            "{map}: {err:?}"
        );
    }
    run(
        &c,
        "CREATE TABLE ks.t (k int PRIMARY KEY, v int) WITH compaction = {'class': 'TimeWindowCompactionStrategy', 'compaction_window_unit': 'MINUTES', 'compaction_window_size': 5, 'timestamp_resolution': 'MICROSECONDS', 'unchecked_tombstone_compaction': 'true', 'tombstone_threshold': 0.1, 'tombstone_compaction_interval': 60, 'expired_sstable_check_frequency_seconds': 30}",
    )
    .unwrap();
    let err = run(&c, "ALTER TABLE ks.t WITH compaction = {'class': 'UnifiedCompactionStrategy', 'scaling_parameters': 'T4'}")
        .unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
}

#[test]
fn table_definitions_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    for (bad, expect) in [
        ("CREATE TABLE ks.t (k int, v int)", "No PRIMARY KEY"),
        (
            "CREATE TABLE ks.t (k list<int> PRIMARY KEY)",
            "non-frozen collection",
        ),
        (
            "CREATE TABLE ks.t (k int PRIMARY KEY, s int static)",
            "Static columns",
        ),
        (
            "CREATE TABLE ks.t (k int, c int, PRIMARY KEY (k, x))",
            "Unknown column",
        ),
        (
            "CREATE TABLE ks.t (k int, k text, PRIMARY KEY (k))",
            "Duplicate column",
        ),
        (
            "CREATE TABLE ks.t (k int PRIMARY KEY, n counter, v int)",
            "Cannot mix counter and non counter columns in the same table",
        ),
        (
            "CREATE TABLE ks.t (k counter PRIMARY KEY, n counter)",
            "counter type is not supported for PRIMARY KEY column 'k'",
        ),
        (
            "CREATE TABLE ks.t (k int PRIMARY KEY, n set<counter>)",
            "Counters are not allowed inside collections: set<counter>",
        ),
        (
            "CREATE TABLE ks.t (k int PRIMARY KEY, n tuple<int, counter>)",
            "Counters are not allowed inside tuples",
        ),
        (
            "CREATE TABLE ks.t (k int PRIMARY KEY, a frozen<nosuchtype>)",
            "Unknown type",
        ),
        (
            "CREATE TABLE nosuch.t (k int PRIMARY KEY)",
            "does not exist",
        ),
        ("CREATE TABLE t (k int PRIMARY KEY)", "No keyspace"),
    ] {
        let err = run(&c, bad).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{bad}: {err:?}");
        assert!(err.to_string().contains(expect), "{bad}: {err}");
    }
    let err = run(
        &c,
        "CREATE TABLE ks.t (k int PRIMARY KEY) WITH nosuchoption = 1",
    )
    .unwrap_err();
    assert!(matches!(err, Error::Syntax { .. }), "{err:?}");
}

#[test]
fn system_schema_columns_describe_a_created_table() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        &c,
        "CREATE TABLE ks.t (a int, b text, c timeuuid, s set<int> static, m map<text, frozen<list<int>>>, \
         PRIMARY KEY ((a, b), c)) WITH CLUSTERING ORDER BY (c DESC)",
    )
    .unwrap();
    let rows = select(
        &c,
        "SELECT column_name, kind, position, clustering_order, type FROM system_schema.columns \
         WHERE keyspace_name = 'ks' AND table_name = 't'",
    );
    let int = |i| Some(Value::Int(i));
    assert_eq!(
        rows,
        vec![
            vec![
                text("a"),
                text("partition_key"),
                int(0),
                text("none"),
                text("int")
            ],
            vec![
                text("b"),
                text("partition_key"),
                int(1),
                text("none"),
                text("text")
            ],
            vec![
                text("c"),
                text("clustering"),
                int(0),
                text("desc"),
                text("timeuuid")
            ],
            vec![
                text("m"),
                text("regular"),
                int(-1),
                text("none"),
                text("map<text, frozen<list<int>>>")
            ],
            vec![
                text("s"),
                text("static"),
                int(-1),
                text("none"),
                text("set<int>")
            ],
        ]
    );
}

#[test]
fn schema_and_node_identity_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (version, host, tokens) = {
        let c = open(dir.path());
        run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
        run(&c, "CREATE TYPE ks.p (x int)").unwrap();
        run(&c, "CREATE TABLE ks.t (k int PRIMARY KEY, p frozen<p>)").unwrap();
        let tokens = select(&c, "SELECT tokens FROM system.local");
        (c.schema_version(), c.host_id(), tokens)
    };
    let c = open(dir.path());
    assert_eq!(c.schema_version(), version);
    assert_eq!(c.host_id(), host);
    assert_eq!(select(&c, "SELECT tokens FROM system.local"), tokens);
    assert!(c.schema().table("ks", "t").is_ok());
}

/// The column types of a schema file in the form schema files had before ilion-types: what
/// a node upgraded over an older data directory finds.
fn to_earlier_form(ty: &serde_json::Value) -> serde_json::Value {
    use serde_json::{Value as J, json};
    let frozen = |inner: J, f: &J| {
        if f == &J::Bool(true) {
            json!({ "Frozen": inner })
        } else {
            inner
        }
    };
    match ty {
        J::String(native) => json!({ "Native": native.to_ascii_lowercase() }),
        J::Object(o) => {
            let (kind, body) = o.iter().next().unwrap();
            match kind.as_str() {
                "List" | "Set" => frozen(
                    json!({ kind.clone(): to_earlier_form(&body["element"]) }),
                    &body["frozen"],
                ),
                "Map" => frozen(
                    json!({ "Map": [to_earlier_form(&body["key"]), to_earlier_form(&body["value"])] }),
                    &body["frozen"],
                ),
                "Tuple" => json!({
                    "Tuple": body.as_array().unwrap().iter().map(to_earlier_form).collect::<Vec<_>>()
                }),
                "Udt" => frozen(json!({ "Udt": body["name"].clone() }), &body["frozen"]),
                other => panic!("no earlier form for {other}"),
            }
        }
        other => panic!("not a stored type: {other}"),
    }
}

/// Rewrites every stored type (`ty` of columns and dropped columns, user type fields).
fn rewrite_types(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if k == "ty" {
                    *child = to_earlier_form(child);
                } else if k == "fields"
                    && let Some(fields) = child.as_array_mut()
                {
                    for f in fields {
                        f[1] = to_earlier_form(&f[1]);
                    }
                } else {
                    rewrite_types(child);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(rewrite_types),
        _ => {}
    }
}

#[test]
fn a_schema_file_of_the_earlier_type_format_loads_after_an_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let written = {
        let c = open(dir.path());
        run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
        run(&c, "CREATE TYPE ks.p (x int, tags frozen<set<text>>)").unwrap();
        run(
            &c,
            "CREATE TABLE ks.t (k int PRIMARY KEY, p frozen<p>, l list<varchar>, \
             m map<int, frozen<list<p>>>, tu tuple<int, text>)",
        )
        .unwrap();
        run(
            &c,
            "INSERT INTO ks.t (k, l, tu) VALUES (1, ['a'], (2, 'b'))",
        )
        .unwrap();
        c.schema()
    };
    let path = dir.path().join("schema.json");
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let before = schema.clone();
    rewrite_types(&mut schema);
    assert_ne!(schema, before, "the test must rewrite some types");
    assert!(schema.to_string().contains(r#"{"Native":"int"}"#));
    std::fs::write(&path, schema.to_string()).unwrap();
    let c = open(dir.path());
    // The same tables and user types as were written, every type equal.
    assert_eq!(c.schema().keyspaces, written.keyspaces);
    let t = c.schema().table("ks", "t").unwrap().clone();
    assert_eq!(t.column("l").unwrap().ty.schema_text(), "list<text>");
    assert_eq!(
        select(&c, "SELECT l, tu FROM ks.t WHERE k = 1"),
        vec![vec![
            Some(Value::List(vec![Value::Text("a".into())])),
            Some(Value::Tuple(vec![
                Some(Value::Int(2)),
                Some(Value::Text("b".into()))
            ])),
        ]]
    );
}

#[test]
fn every_schema_change_changes_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let mut previous = c.schema_version();
    for stmt in [
        format!("CREATE KEYSPACE ks WITH replication = {RF1}"),
        "CREATE TABLE ks.t (k int PRIMARY KEY, v int)".to_owned(),
        "ALTER TABLE ks.t ADD w text".to_owned(),
        "ALTER TABLE ks.t WITH comment = 'x'".to_owned(),
        "ALTER TABLE ks.t DROP w".to_owned(),
        "DROP TABLE ks.t".to_owned(),
        "ALTER KEYSPACE ks WITH durable_writes = false".to_owned(),
    ] {
        run(&c, &stmt).unwrap();
        let now = c.schema_version();
        assert_ne!(now, previous, "{stmt} left the version unchanged");
        previous = now;
    }
}

#[test]
fn statements_that_are_not_built_yet_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(&c, "CREATE TABLE ks.t (k int PRIMARY KEY, v int)").unwrap();
    for (stmt, feature) in [
        ("CREATE INDEX ON ks.t (v)", "Secondary indexes"),
        (
            "CREATE MATERIALIZED VIEW ks.v AS SELECT * FROM ks.t WHERE k IS NOT NULL PRIMARY KEY (k)",
            "Materialized views",
        ),
        (
            "CREATE FUNCTION ks.f (a int) RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS 'return a;'",
            "functions",
        ),
    ] {
        let err = run(&c, stmt).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{stmt}: {err:?}");
        assert!(err.to_string().contains(feature), "{stmt}: {err}");
    }
    // A missing table is reported as missing, before anything about the data path.
    let err = run(&c, "INSERT INTO ks.nosuch (k) VALUES (1)").unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn execute_of_an_unknown_id_is_unprepared_and_prepare_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    let params = QueryParameters::new(Consistency::One);
    let err = c.execute(&[9, 9], &params).unwrap_err();
    assert_eq!(err, Error::Unprepared { id: vec![9, 9] });
    let text = "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?";
    let a = c.prepare(&Session::default(), text, None).unwrap();
    assert_eq!(a.metadata.columns.len(), 1);
    assert_eq!(a.metadata.columns[0].ty, CqlType::Text);
    // Another node (or this one after a restart) gives the same id.
    let other = tempfile::tempdir().unwrap();
    let b = open(other.path())
        .prepare(&Session::default(), text, None)
        .unwrap();
    assert_eq!(a.id, b.id);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random CREATE/DROP KEYSPACE sequences, against a set of names: the keyspaces listed by
    /// system_schema are exactly the model's, and two nodes that applied the same statements
    /// report the same schema version.
    #[test]
    fn keyspace_listing_follows_a_set_model(ops in proptest::collection::vec((any::<bool>(), 0u8..4), 1..12)) {
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (open(d1.path()), open(d2.path()));
        let mut model = BTreeSet::new();
        for (create, n) in ops {
            let name = format!("k{n}");
            let stmt = if create {
                format!("CREATE KEYSPACE IF NOT EXISTS {name} WITH replication = {RF1}")
            } else {
                format!("DROP KEYSPACE IF EXISTS {name}")
            };
            run(&a, &stmt).unwrap();
            run(&b, &stmt).unwrap();
            if create { model.insert(name); } else { model.remove(&name); }
        }
        let listed: BTreeSet<String> = select(&a, "SELECT keyspace_name FROM system_schema.keyspaces")
            .into_iter()
            .filter_map(|r| match r.into_iter().next().flatten() {
                Some(Value::Text(s)) if !s.starts_with("system") => Some(s),
                _ => None,
            })
            .collect();
        prop_assert_eq!(listed, model);
        prop_assert_eq!(a.schema_version(), b.schema_version());
    }
}

#[test]
fn dropped_columns_are_recorded_with_their_time_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(
        &c,
        "CREATE TABLE ks.t (k int PRIMARY KEY, v list<int>, w text)",
    )
    .unwrap();
    run(
        &c,
        "ALTER TABLE ks.t DROP v USING TIMESTAMP 1700000000000000",
    )
    .unwrap();
    let err = run(&c, "ALTER TABLE ks.t DROP k").unwrap_err();
    assert!(err.to_string().contains("PRIMARY KEY"), "{err}");
    let rows = select(
        &c,
        "SELECT column_name, dropped_time, kind, type FROM system_schema.dropped_columns \
         WHERE keyspace_name = 'ks' AND table_name = 't'",
    );
    assert_eq!(
        rows,
        vec![vec![
            text("v"),
            Some(Value::Timestamp(1_700_000_000_000)),
            text("regular"),
            text("list<int>")
        ]]
    );
    let columns = select(
        &c,
        "SELECT column_name FROM system_schema.columns WHERE table_name = 't'",
    );
    assert_eq!(columns, vec![vec![text("k")], vec![text("w")]]);
}

/// The columns (name, CQL type) of each `system_schema` table that Cassandra 4.1 or 5.0 has,
/// including those kept only for drivers: gocql 1.3 selects `dclocal_read_repair_chance` and
/// `read_repair_chance` from `system_schema.views` and fails on a node without them.
const CASSANDRA_SCHEMA_COLUMNS: &[(&str, &[(&str, &str)])] = &[
    (
        "keyspaces",
        &[
            ("keyspace_name", "text"),
            ("durable_writes", "boolean"),
            ("replication", "frozen<map<text, text>>"),
        ],
    ),
    (
        "tables",
        &[
            ("keyspace_name", "text"),
            ("table_name", "text"),
            ("additional_write_policy", "text"),
            ("allow_auto_snapshot", "boolean"),
            ("bloom_filter_fp_chance", "double"),
            ("caching", "frozen<map<text, text>>"),
            ("cdc", "boolean"),
            ("comment", "text"),
            ("compaction", "frozen<map<text, text>>"),
            ("compression", "frozen<map<text, text>>"),
            ("crc_check_chance", "double"),
            ("dclocal_read_repair_chance", "double"),
            ("default_time_to_live", "int"),
            ("extensions", "frozen<map<text, blob>>"),
            ("flags", "frozen<set<text>>"),
            ("gc_grace_seconds", "int"),
            ("id", "uuid"),
            ("incremental_backups", "boolean"),
            ("max_index_interval", "int"),
            ("memtable", "text"),
            ("memtable_flush_period_in_ms", "int"),
            ("min_index_interval", "int"),
            ("read_repair", "text"),
            ("read_repair_chance", "double"),
            ("speculative_retry", "text"),
        ],
    ),
    (
        "columns",
        &[
            ("keyspace_name", "text"),
            ("table_name", "text"),
            ("column_name", "text"),
            ("clustering_order", "text"),
            ("column_name_bytes", "blob"),
            ("kind", "text"),
            ("position", "int"),
            ("type", "text"),
        ],
    ),
    (
        "column_masks",
        &[
            ("keyspace_name", "text"),
            ("table_name", "text"),
            ("column_name", "text"),
            ("function_keyspace", "text"),
            ("function_name", "text"),
            ("function_argument_types", "frozen<list<text>>"),
            ("function_argument_values", "frozen<list<text>>"),
            ("function_argument_nulls", "frozen<list<boolean>>"),
        ],
    ),
    (
        "dropped_columns",
        &[
            ("keyspace_name", "text"),
            ("table_name", "text"),
            ("column_name", "text"),
            ("dropped_time", "timestamp"),
            ("kind", "text"),
            ("type", "text"),
        ],
    ),
    (
        "triggers",
        &[
            ("keyspace_name", "text"),
            ("table_name", "text"),
            ("trigger_name", "text"),
            ("options", "frozen<map<text, text>>"),
        ],
    ),
    (
        "views",
        &[
            ("keyspace_name", "text"),
            ("view_name", "text"),
            ("additional_write_policy", "text"),
            ("allow_auto_snapshot", "boolean"),
            ("base_table_id", "uuid"),
            ("base_table_name", "text"),
            ("bloom_filter_fp_chance", "double"),
            ("caching", "frozen<map<text, text>>"),
            ("cdc", "boolean"),
            ("comment", "text"),
            ("compaction", "frozen<map<text, text>>"),
            ("compression", "frozen<map<text, text>>"),
            ("crc_check_chance", "double"),
            ("dclocal_read_repair_chance", "double"),
            ("default_time_to_live", "int"),
            ("extensions", "frozen<map<text, blob>>"),
            ("gc_grace_seconds", "int"),
            ("id", "uuid"),
            ("include_all_columns", "boolean"),
            ("incremental_backups", "boolean"),
            ("max_index_interval", "int"),
            ("memtable", "text"),
            ("memtable_flush_period_in_ms", "int"),
            ("min_index_interval", "int"),
            ("read_repair", "text"),
            ("read_repair_chance", "double"),
            ("speculative_retry", "text"),
            ("where_clause", "text"),
        ],
    ),
    (
        "indexes",
        &[
            ("keyspace_name", "text"),
            ("table_name", "text"),
            ("index_name", "text"),
            ("kind", "text"),
            ("options", "frozen<map<text, text>>"),
        ],
    ),
    (
        "types",
        &[
            ("keyspace_name", "text"),
            ("type_name", "text"),
            ("field_names", "frozen<list<text>>"),
            ("field_types", "frozen<list<text>>"),
        ],
    ),
    (
        "functions",
        &[
            ("keyspace_name", "text"),
            ("function_name", "text"),
            ("argument_types", "frozen<list<text>>"),
            ("argument_names", "frozen<list<text>>"),
            ("body", "text"),
            ("language", "text"),
            ("return_type", "text"),
            ("called_on_null_input", "boolean"),
        ],
    ),
    (
        "aggregates",
        &[
            ("keyspace_name", "text"),
            ("aggregate_name", "text"),
            ("argument_types", "frozen<list<text>>"),
            ("final_func", "text"),
            ("initcond", "text"),
            ("return_type", "text"),
            ("state_func", "text"),
            ("state_type", "text"),
        ],
    ),
];

#[test]
fn every_system_schema_column_of_cassandra_4_1_and_5_0_is_there_with_its_type() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    for (table, columns) in CASSANDRA_SCHEMA_COLUMNS {
        let rows = select(
            &c,
            &format!(
                "SELECT column_name, type FROM system_schema.columns \
                 WHERE keyspace_name = 'system_schema' AND table_name = '{table}'"
            ),
        );
        let have: BTreeSet<(String, String)> = rows
            .into_iter()
            .map(|r| match (&r[0], &r[1]) {
                (Some(Value::Text(n)), Some(Value::Text(t))) => (n.clone(), t.clone()),
                other => panic!("{table}: unexpected row {other:?}"),
            })
            .collect();
        let want: BTreeSet<(String, String)> = columns
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        assert_eq!(have, want, "system_schema.{table}");
    }
}

#[test]
fn columns_kept_for_drivers_have_cassandras_values() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    run(&c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(&c, "CREATE TABLE ks.t (k int PRIMARY KEY, v text)").unwrap();
    let rows = select(
        &c,
        "SELECT dclocal_read_repair_chance, read_repair_chance, memtable, allow_auto_snapshot, \
         incremental_backups FROM system_schema.tables \
         WHERE keyspace_name = 'ks' AND table_name = 't'",
    );
    // Cassandra writes 0.0 for the two chances and leaves the others null while a table keeps
    // their defaults (the default memtable, auto snapshots and incremental backups allowed).
    assert_eq!(
        rows,
        vec![vec![
            Some(Value::Double(0.0)),
            Some(Value::Double(0.0)),
            None,
            None,
            None
        ]]
    );
    // gocql's materialized-view query: the columns exist, and there are no views.
    let views = select(
        &c,
        "SELECT view_name, base_table_id, base_table_name, bloom_filter_fp_chance, caching, \
         comment, compaction, compression, crc_check_chance, dclocal_read_repair_chance, \
         default_time_to_live, extensions, gc_grace_seconds, id, include_all_columns, \
         max_index_interval, memtable_flush_period_in_ms, min_index_interval, \
         read_repair_chance, speculative_retry FROM system_schema.views \
         WHERE keyspace_name = 'ks'",
    );
    assert!(views.is_empty(), "{views:?}");
}
