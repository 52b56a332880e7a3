//! Schema changes made on one node and merged into another (what the cluster's schema push and
//! pull do): the receiving node's store follows, and both report the same version.

mod common;

use common::{RF1, open, run, select};
use ilion_cql::protocol::{ChangeType, SchemaTarget, Value};

#[test]
fn a_schema_merged_from_another_node_creates_alters_and_drops_its_tables() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(d1.path()), open(d2.path()));
    run(&a, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    run(&a, "CREATE TABLE ks.t (k int PRIMARY KEY, v text)").unwrap();

    let events = b.merge_schema(&a.schema()).unwrap();
    assert_eq!(b.schema_version(), a.schema_version());
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].change, ChangeType::Created);
    assert_eq!(
        events[1].target,
        SchemaTarget::Table {
            keyspace: "ks".into(),
            name: "t".into()
        }
    );
    // The table is usable on the receiving node.
    run(&b, "INSERT INTO ks.t (k, v) VALUES (1, 'one')").unwrap();
    assert_eq!(
        select(&b, "SELECT v FROM ks.t WHERE k = 1"),
        vec![vec![Some(Value::Text("one".into()))]]
    );
    // Merging the same schema again teaches nothing.
    assert!(b.merge_schema(&a.schema()).unwrap().is_empty());

    // A change on b flows back to a.
    run(&b, "ALTER TABLE ks.t ADD w int").unwrap();
    let events = a.merge_schema(&b.schema()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].change, ChangeType::Updated);
    run(&a, "INSERT INTO ks.t (k, v, w) VALUES (2, 'two', 2)").unwrap();
    assert_eq!(a.schema_version(), b.schema_version());

    // A drop on a reaches b, whose store drops the table.
    run(&a, "DROP KEYSPACE ks").unwrap();
    b.merge_schema(&a.schema()).unwrap();
    assert!(b.schema().keyspaces.is_empty());
    assert!(b.store().table("ks", "t").is_err());
    assert_eq!(a.schema_version(), b.schema_version());
}

#[test]
fn concurrent_creations_of_one_table_end_with_the_later_one_on_both_nodes() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (open(d1.path()), open(d2.path()));
    run(&a, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    b.merge_schema(&a.schema()).unwrap();
    run(&a, "CREATE TABLE ks.t (k int PRIMARY KEY, a int)").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    run(&b, "CREATE TABLE ks.t (k int PRIMARY KEY, b int)").unwrap();
    let (sa, sb) = (a.schema(), b.schema());
    a.merge_schema(&sb).unwrap();
    b.merge_schema(&sa).unwrap();
    assert_eq!(a.schema(), b.schema());
    let t = a.schema().table("ks", "t").unwrap().clone();
    assert!(t.column("b").is_some(), "the later creation wins");
    // a's store now holds the winner's table.
    run(&a, "INSERT INTO ks.t (k, b) VALUES (1, 1)").unwrap();
}
