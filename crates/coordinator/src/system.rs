//! The system tables drivers and cqlsh read: `system.local`, `system.peers`,
//! `system.peers_v2`, `system.size_estimates` and the `system_schema` tables. Their definitions
//! are CQL (as Cassandra 4.1 declares them) run through the same DDL code as user tables; their
//! rows are computed on every read from the live schema and the node's identity.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ilion_cql::language::ast::Statement;
use ilion_cql::protocol::Value;
use uuid::Uuid;

use crate::cluster::{Member, MemberStatus, Membership};
use crate::schema::{Keyspace, Schema, Table, ddl};
use crate::{Error, Result};

/// The node facts `system.local` shows.
#[derive(Debug, Clone)]
pub struct LocalInfo {
    pub cluster_name: String,
    pub listen_address: IpAddr,
    pub rpc_address: IpAddr,
    pub native_port: u16,
    pub storage_port: u16,
    pub data_center: String,
    pub rack: String,
    pub host_id: Uuid,
    pub tokens: Vec<i64>,
}

/// The release this node reports: a 4.x version, so drivers pick their Cassandra 4 code paths
/// (protocol v5, `system_schema`, `peers_v2`).
pub const RELEASE_VERSION: &str = "4.1.3";
/// The CQL language version of Cassandra 4.1.
pub const CQL_VERSION: &str = "3.4.6";

const SYSTEM_SCHEMA: &[&str] = &[
    "CREATE TABLE system.local (key text PRIMARY KEY, bootstrapped text, broadcast_address inet, \
     broadcast_port int, cluster_name text, cql_version text, data_center text, \
     gossip_generation int, host_id uuid, listen_address inet, listen_port int, \
     native_protocol_version text, partitioner text, rack text, release_version text, \
     rpc_address inet, rpc_port int, schema_version uuid, tokens set<text>, \
     truncated_at map<uuid, blob>) WITH comment = 'information about the local node'",
    "CREATE TABLE system.peers (peer inet PRIMARY KEY, data_center text, host_id uuid, \
     preferred_ip inet, rack text, release_version text, rpc_address inet, schema_version uuid, \
     tokens set<text>) WITH comment = 'information about known peers in the cluster'",
    "CREATE TABLE system.peers_v2 (peer inet, peer_port int, data_center text, host_id uuid, \
     native_address inet, native_port int, preferred_ip inet, preferred_port int, rack text, \
     release_version text, schema_version uuid, tokens set<text>, PRIMARY KEY (peer, peer_port)) \
     WITH comment = 'information about known peers in the cluster'",
    "CREATE TABLE system.size_estimates (keyspace_name text, table_name text, range_start text, \
     range_end text, mean_partition_size bigint, partitions_count bigint, \
     PRIMARY KEY ((keyspace_name), table_name, range_start, range_end)) \
     WITH comment = 'per-table primary range size estimates'",
    "CREATE TABLE system_schema.keyspaces (keyspace_name text PRIMARY KEY, durable_writes boolean, \
     replication frozen<map<text, text>>) WITH comment = 'keyspace definitions'",
    // `dclocal_read_repair_chance` and `read_repair_chance` are no longer used; Cassandra keeps
    // them (always 0.0) for the drivers that still read them (gocql, older Java drivers).
    // `memtable` (4.1), `allow_auto_snapshot` and `incremental_backups` (5.0) are null unless a
    // table sets a value other than the default, as Cassandra writes them.
    "CREATE TABLE system_schema.tables (keyspace_name text, table_name text, \
     additional_write_policy text, allow_auto_snapshot boolean, bloom_filter_fp_chance double, \
     caching frozen<map<text, text>>, cdc boolean, comment text, \
     compaction frozen<map<text, text>>, compression frozen<map<text, text>>, \
     crc_check_chance double, dclocal_read_repair_chance double, default_time_to_live int, \
     extensions frozen<map<text, blob>>, flags frozen<set<text>>, gc_grace_seconds int, id uuid, \
     incremental_backups boolean, max_index_interval int, memtable text, \
     memtable_flush_period_in_ms int, min_index_interval int, read_repair text, \
     read_repair_chance double, speculative_retry text, \
     PRIMARY KEY ((keyspace_name), table_name)) WITH comment = 'table definitions'",
    "CREATE TABLE system_schema.columns (keyspace_name text, table_name text, column_name text, \
     clustering_order text, column_name_bytes blob, kind text, position int, type text, \
     PRIMARY KEY ((keyspace_name), table_name, column_name)) WITH comment = 'column definitions'",
    "CREATE TABLE system_schema.dropped_columns (keyspace_name text, table_name text, \
     column_name text, dropped_time timestamp, kind text, type text, \
     PRIMARY KEY ((keyspace_name), table_name, column_name)) \
     WITH comment = 'dropped column registry'",
    "CREATE TABLE system_schema.triggers (keyspace_name text, table_name text, trigger_name text, \
     options frozen<map<text, text>>, PRIMARY KEY ((keyspace_name), table_name, trigger_name)) \
     WITH comment = 'trigger definitions'",
    "CREATE TABLE system_schema.views (keyspace_name text, view_name text, \
     additional_write_policy text, allow_auto_snapshot boolean, base_table_id uuid, \
     base_table_name text, bloom_filter_fp_chance double, caching frozen<map<text, text>>, \
     cdc boolean, comment text, compaction frozen<map<text, text>>, \
     compression frozen<map<text, text>>, crc_check_chance double, \
     dclocal_read_repair_chance double, default_time_to_live int, \
     extensions frozen<map<text, blob>>, gc_grace_seconds int, id uuid, \
     include_all_columns boolean, incremental_backups boolean, max_index_interval int, \
     memtable text, memtable_flush_period_in_ms int, min_index_interval int, read_repair text, \
     read_repair_chance double, speculative_retry text, where_clause text, \
     PRIMARY KEY ((keyspace_name), view_name)) WITH comment = 'view definitions'",
    // Cassandra 5.0's dynamic data masks; Ilion has none, so it is empty.
    "CREATE TABLE system_schema.column_masks (keyspace_name text, table_name text, \
     column_name text, function_keyspace text, function_name text, \
     function_argument_types frozen<list<text>>, function_argument_values frozen<list<text>>, \
     function_argument_nulls frozen<list<boolean>>, \
     PRIMARY KEY ((keyspace_name), table_name, column_name)) \
     WITH comment = 'column dynamic data masks'",
    "CREATE TABLE system_schema.types (keyspace_name text, type_name text, \
     field_names frozen<list<text>>, field_types frozen<list<text>>, \
     PRIMARY KEY ((keyspace_name), type_name)) WITH comment = 'user defined type definitions'",
    "CREATE TABLE system_schema.functions (keyspace_name text, function_name text, \
     argument_types frozen<list<text>>, argument_names frozen<list<text>>, body text, \
     called_on_null_input boolean, language text, return_type text, \
     PRIMARY KEY ((keyspace_name), function_name, argument_types)) \
     WITH comment = 'user defined function definitions'",
    "CREATE TABLE system_schema.aggregates (keyspace_name text, aggregate_name text, \
     argument_types frozen<list<text>>, final_func text, initcond text, return_type text, \
     state_func text, state_type text, \
     PRIMARY KEY ((keyspace_name), aggregate_name, argument_types)) \
     WITH comment = 'user defined aggregate definitions'",
    "CREATE TABLE system_auth.roles (role text PRIMARY KEY, can_login boolean, \
     is_superuser boolean, member_of set<text>, salted_hash text) \
     WITH comment = 'role definitions' AND gc_grace_seconds = 7776000",
    "CREATE TABLE system_auth.role_members (role text, member text, PRIMARY KEY (role, member)) \
     WITH comment = 'role memberships lookup table' AND gc_grace_seconds = 7776000",
    "CREATE TABLE system_auth.role_permissions (role text, resource text, \
     permissions set<text>, PRIMARY KEY (role, resource)) \
     WITH comment = 'permissions granted to db roles' AND gc_grace_seconds = 7776000",
    "CREATE TABLE system_auth.resource_role_permissons_index (resource text, role text, \
     PRIMARY KEY (resource, role)) \
     WITH comment = 'index of db roles with permissions granted on a resource' \
     AND gc_grace_seconds = 7776000",
    "CREATE TABLE system_auth.network_permissions (role text PRIMARY KEY, dcs frozen<set<text>>) \
     WITH comment = 'user network permissions' AND gc_grace_seconds = 7776000",
    "CREATE TABLE system_schema.indexes (keyspace_name text, table_name text, index_name text, \
     kind text, options frozen<map<text, text>>, \
     PRIMARY KEY ((keyspace_name), table_name, index_name)) WITH comment = 'secondary index definitions'",
];

/// The definitions of the system keyspaces, built from [`SYSTEM_SCHEMA`]. `system` and
/// `system_schema` are local to each node; `system_auth` is replicated as Cassandra's is
/// (SimpleStrategy, one replica, until ALTER KEYSPACE changes it: [`Schema::with_system`]),
/// its tables with ids derived from their names so every node gives the same.
pub(crate) fn system_schema() -> Result<Schema> {
    let mut schema = Schema::default();
    for ks in [
        "system",
        "system_schema",
        crate::auth::AUTH_KEYSPACE,
        crate::virtual_tables::VIEWS_KEYSPACE,
        crate::virtual_tables::VIRTUAL_SCHEMA_KEYSPACE,
    ] {
        let mut replication = BTreeMap::new();
        if ks == crate::auth::AUTH_KEYSPACE {
            replication.insert(
                "class".to_owned(),
                "org.apache.cassandra.locator.SimpleStrategy".to_owned(),
            );
            replication.insert("replication_factor".to_owned(), "1".to_owned());
        } else {
            replication.insert(
                "class".to_owned(),
                "org.apache.cassandra.locator.LocalStrategy".to_owned(),
            );
        }
        schema.keyspaces.insert(
            ks.to_owned(),
            Keyspace {
                name: ks.to_owned(),
                durable_writes: true,
                replication,
                tables: BTreeMap::new(),
                types: BTreeMap::new(),
            },
        );
    }
    for text in SYSTEM_SCHEMA
        .iter()
        .chain(crate::virtual_tables::VIEWS_SCHEMA)
    {
        let parsed = ilion_cql::parse_statement(text)
            .map_err(|e| Error::server(format!("system table definition does not parse: {e}")))?;
        let Statement::CreateTable(create) = parsed.statement else {
            return Err(Error::server(
                "system table definition is not a CREATE TABLE",
            ));
        };
        ddl::create_system_table(&mut schema, &create)?;
    }
    if let Some(ks) = schema.keyspaces.get_mut(crate::auth::AUTH_KEYSPACE) {
        for t in ks.tables.values_mut() {
            let digest =
                xxhash_rust::xxh3::xxh3_128(format!("{}.{}", t.keyspace, t.name).as_bytes());
            let mut bytes = digest.to_be_bytes();
            bytes[6] = (bytes[6] & 0x0f) | 0x30;
            bytes[8] = (bytes[8] & 0x3f) | 0x80;
            t.id = Uuid::from_bytes(bytes);
        }
    }
    Ok(schema)
}

/// A row as column name -> value; absent columns are null.
type Row = BTreeMap<&'static str, Value>;

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn text_map(m: &BTreeMap<String, String>) -> Value {
    Value::Map(
        m.iter()
            .map(|(k, v)| (text(k.clone()), text(v.clone())))
            .collect(),
    )
}

fn uuid(u: Uuid) -> Value {
    Value::Uuid(*u.as_bytes())
}

/// The rows of the system table `keyspace.table` in `table.columns` order, or `None` when it
/// is not a table this node serves rows for. The peers tables list `membership`'s members
/// other than this node (none for a node on its own).
pub(crate) fn rows(
    table: &Table,
    local: &LocalInfo,
    user: &Schema,
    system: &Schema,
    store: &ilion_storage::Store,
    membership: Option<&dyn Membership>,
) -> Option<Vec<Vec<Option<Value>>>> {
    let rows: Vec<Row> = match (table.keyspace.as_str(), table.name.as_str()) {
        ("system", "local") => vec![local_row(
            local,
            user,
            membership.and_then(|m| m.local_generation()),
        )],
        ("system", name @ ("peers" | "peers_v2")) => peers(membership)
            .iter()
            .map(|m| peer_row(m, name == "peers_v2", local.storage_port))
            .collect(),
        ("system", "size_estimates") => size_estimates(local, user, store),
        ("system_schema", name) => schema_rows(name, user, system),
        (crate::virtual_tables::VIRTUAL_SCHEMA_KEYSPACE, name) => virtual_schema_rows(name, system),
        _ => return None,
    };
    Some(in_column_order(table, rows))
}

/// Rows given by column name, as `table`'s columns list them (`None` where a row has none).
pub(crate) fn in_column_order(
    table: &Table,
    rows: Vec<BTreeMap<&'static str, Value>>,
) -> Vec<Vec<Option<Value>>> {
    rows.into_iter()
        .map(|mut r| {
            table
                .columns
                .iter()
                .map(|c| r.remove(c.name.as_str()))
                .collect()
        })
        .collect()
}

fn local_row(local: &LocalInfo, user: &Schema, generation: Option<u64>) -> Row {
    let mut r = Row::new();
    // Seconds since the epoch when gossip started, as Cassandra's generation is; an int column.
    if let Some(g) = generation.and_then(|g| i32::try_from(g).ok()) {
        r.insert("gossip_generation", Value::Int(g));
    }
    r.insert("key", text("local"));
    r.insert("bootstrapped", text("COMPLETED"));
    r.insert("broadcast_address", Value::Inet(local.listen_address));
    r.insert("broadcast_port", Value::Int(i32::from(local.storage_port)));
    r.insert("cluster_name", text(local.cluster_name.clone()));
    r.insert("cql_version", text(CQL_VERSION));
    r.insert("data_center", text(local.data_center.clone()));
    r.insert("host_id", uuid(local.host_id));
    r.insert("listen_address", Value::Inet(local.listen_address));
    r.insert("listen_port", Value::Int(i32::from(local.storage_port)));
    r.insert("native_protocol_version", text("5"));
    r.insert(
        "partitioner",
        text("org.apache.cassandra.dht.Murmur3Partitioner"),
    );
    r.insert("rack", text(local.rack.clone()));
    r.insert("release_version", text(RELEASE_VERSION));
    r.insert("rpc_address", Value::Inet(local.rpc_address));
    r.insert("rpc_port", Value::Int(i32::from(local.native_port)));
    r.insert("schema_version", uuid(user.version()));
    let mut tokens: Vec<String> = local.tokens.iter().map(i64::to_string).collect();
    tokens.sort();
    r.insert("tokens", Value::Set(tokens.into_iter().map(text).collect()));
    r
}

/// The members other than this node that still belong to the ring (not LEFT), by address.
fn peers(membership: Option<&dyn Membership>) -> Vec<Member> {
    let Some(m) = membership else {
        return Vec::new();
    };
    let me = m.local_address();
    let mut out: Vec<Member> = m
        .members()
        .into_iter()
        .filter(|p| p.address != me && p.status != MemberStatus::Left)
        .collect();
    out.sort_by_key(|p| p.address);
    out
}

/// A row of `system.peers` (or `system.peers_v2` when `v2`).
fn peer_row(m: &Member, v2: bool, storage_port: u16) -> Row {
    let mut r = Row::new();
    r.insert("peer", Value::Inet(m.address));
    r.insert("data_center", text(m.data_center.clone()));
    r.insert("host_id", uuid(m.host_id));
    r.insert("rack", text(m.rack.clone()));
    r.insert("release_version", text(m.release_version.clone()));
    r.insert("schema_version", uuid(m.schema_version));
    let mut tokens: Vec<String> = m.tokens.iter().map(i64::to_string).collect();
    tokens.sort();
    r.insert("tokens", Value::Set(tokens.into_iter().map(text).collect()));
    if v2 {
        // Every node of a cluster uses the same storage port.
        r.insert("peer_port", Value::Int(i32::from(storage_port)));
        r.insert("native_address", Value::Inet(m.native_address));
        r.insert("native_port", Value::Int(i32::from(m.native_port)));
    } else {
        r.insert("rpc_address", Value::Inet(m.native_address));
    }
    r
}

/// This node's primary ranges, unwrapped at the minimum token as Cassandra records them:
/// `(t[i-1], t[i]]` for consecutive tokens, and the wrapping range `(t[n-1], t[0]]` split into
/// `(t[n-1], MIN]` and `(MIN, t[0]]`.
fn primary_ranges(tokens: &[i64]) -> Vec<(i64, i64)> {
    let mut sorted = tokens.to_vec();
    sorted.sort_unstable();
    let (Some(&first), Some(&last)) = (sorted.first(), sorted.last()) else {
        return Vec::new();
    };
    let mut out: Vec<(i64, i64)> = sorted.windows(2).map(|w| (w[0], w[1])).collect();
    out.push((last, i64::MIN));
    if first != i64::MIN {
        out.push((i64::MIN, first));
    }
    out
}

/// One row per user table and primary range of this node: the table's partitions (from the
/// store's statistics) shared among the ranges by the share of the ring each covers (Murmur3
/// spreads keys uniformly, so this is the expected count, as Cassandra's own estimates from
/// sstable key counts are estimates), and the mean partition size in bytes as stored.
fn size_estimates(local: &LocalInfo, user: &Schema, store: &ilion_storage::Store) -> Vec<Row> {
    let ranges = primary_ranges(&local.tokens);
    let mut out = Vec::new();
    for ks in user.keyspaces.values() {
        for t in ks.tables.values() {
            let stats = store
                .table(&ks.name, &t.name)
                .and_then(|h| h.statistics())
                .unwrap_or_default();
            let mean = stats.bytes.checked_div(stats.partitions).unwrap_or(0);
            for (start, end) in &ranges {
                let mut r = Row::new();
                r.insert("keyspace_name", text(ks.name.clone()));
                r.insert("table_name", text(t.name.clone()));
                r.insert("range_start", text(start.to_string()));
                r.insert("range_end", text(end.to_string()));
                r.insert(
                    "mean_partition_size",
                    Value::Bigint(i64::try_from(mean).unwrap_or(i64::MAX)),
                );
                r.insert(
                    "partitions_count",
                    Value::Bigint(range_share(stats.partitions, *start, *end)),
                );
                out.push(r);
            }
        }
    }
    out
}

/// `total` scaled by the fraction of the ring in `(start, end]` (`end` = MIN: up to the end).
fn range_share(total: u64, start: i64, end: i64) -> i64 {
    let width = (end as i128 - start as i128).rem_euclid(1i128 << 64);
    let width = if width == 0 { 1i128 << 64 } else { width };
    let share = (i128::from(total) * width + (1i128 << 63)) >> 64;
    i64::try_from(share).unwrap_or(i64::MAX)
}

fn schema_rows(name: &str, user: &Schema, system: &Schema) -> Vec<Row> {
    // Virtual keyspaces are not schema (Cassandra lists them in system_virtual_schema).
    let keyspaces = user
        .system_keyspaces(system)
        .filter(|k| !crate::virtual_tables::is_virtual(&k.name))
        .chain(user.keyspaces.values());
    rows_of(name, keyspaces)
}

/// `system_virtual_schema`'s rows: the virtual keyspaces, their tables and columns.
fn virtual_schema_rows(name: &str, system: &Schema) -> Vec<Row> {
    let keyspaces = system
        .keyspaces
        .values()
        .filter(|k| crate::virtual_tables::is_virtual(&k.name));
    match name {
        "keyspaces" | "columns" => rows_of(name, keyspaces),
        "tables" => keyspaces
            .flat_map(|ks| {
                ks.tables.values().map(|t| {
                    let mut r = Row::new();
                    r.insert("keyspace_name", text(ks.name.clone()));
                    r.insert("table_name", text(t.name.clone()));
                    r.insert("comment", text(t.params.comment.clone()));
                    r
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The rows of `system_schema.<name>` for `keyspaces`.
fn rows_of<'a>(name: &str, keyspaces: impl Iterator<Item = &'a Keyspace>) -> Vec<Row> {
    let mut out = Vec::new();
    for ks in keyspaces {
        let ks_text = || text(ks.name.clone());
        match name {
            "keyspaces" => {
                let mut r = Row::new();
                r.insert("keyspace_name", ks_text());
                r.insert("durable_writes", Value::Boolean(ks.durable_writes));
                r.insert("replication", text_map(&ks.replication));
                out.push(r);
            }
            "tables" => {
                for t in ks.tables.values() {
                    let p = &t.params;
                    let mut r = Row::new();
                    r.insert("keyspace_name", ks_text());
                    r.insert("table_name", text(t.name.clone()));
                    r.insert(
                        "additional_write_policy",
                        text(p.additional_write_policy.clone()),
                    );
                    r.insert(
                        "bloom_filter_fp_chance",
                        Value::Double(p.bloom_filter_fp_chance),
                    );
                    r.insert("caching", text_map(&p.caching));
                    r.insert("cdc", Value::Boolean(p.cdc));
                    r.insert("comment", text(p.comment.clone()));
                    r.insert("compaction", text_map(&p.compaction));
                    r.insert("compression", text_map(&p.compression));
                    r.insert("crc_check_chance", Value::Double(p.crc_check_chance));
                    r.insert("dclocal_read_repair_chance", Value::Double(0.0));
                    r.insert("default_time_to_live", Value::Int(p.default_time_to_live));
                    r.insert("extensions", Value::Map(Vec::new()));
                    let mut flags = vec![text("compound")];
                    if t.is_counter() {
                        flags.push(text("counter"));
                    }
                    r.insert("flags", Value::Set(flags));
                    r.insert("gc_grace_seconds", Value::Int(p.gc_grace_seconds));
                    r.insert("id", uuid(t.id));
                    r.insert("max_index_interval", Value::Int(p.max_index_interval));
                    r.insert(
                        "memtable_flush_period_in_ms",
                        Value::Int(p.memtable_flush_period_in_ms),
                    );
                    r.insert("min_index_interval", Value::Int(p.min_index_interval));
                    r.insert("read_repair", text(p.read_repair.clone()));
                    r.insert("read_repair_chance", Value::Double(0.0));
                    r.insert("speculative_retry", text(p.speculative_retry.clone()));
                    out.push(r);
                }
            }
            "columns" => {
                for t in ks.tables.values() {
                    for c in &t.columns {
                        let mut r = Row::new();
                        r.insert("keyspace_name", ks_text());
                        r.insert("table_name", text(t.name.clone()));
                        r.insert("column_name", text(c.name.clone()));
                        r.insert("clustering_order", text(c.order.name()));
                        r.insert(
                            "column_name_bytes",
                            Value::Blob(bytes::Bytes::copy_from_slice(c.name.as_bytes())),
                        );
                        r.insert("kind", text(c.kind.name()));
                        r.insert("position", Value::Int(c.position));
                        r.insert("type", text(c.ty.schema_text()));
                        out.push(r);
                    }
                }
            }
            "types" => {
                for u in ks.types.values() {
                    let mut r = Row::new();
                    r.insert("keyspace_name", ks_text());
                    r.insert("type_name", text(u.name.clone()));
                    r.insert(
                        "field_names",
                        Value::List(u.fields.iter().map(|(n, _)| text(n.clone())).collect()),
                    );
                    r.insert(
                        "field_types",
                        Value::List(
                            u.fields
                                .iter()
                                .map(|(_, t)| text(t.schema_text()))
                                .collect(),
                        ),
                    );
                    out.push(r);
                }
            }
            "dropped_columns" => {
                for t in ks.tables.values() {
                    for d in &t.dropped {
                        let mut r = Row::new();
                        r.insert("keyspace_name", ks_text());
                        r.insert("table_name", text(t.name.clone()));
                        r.insert("column_name", text(d.name.clone()));
                        r.insert(
                            "dropped_time",
                            Value::Timestamp(d.dropped_at_micros.div_euclid(1000)),
                        );
                        r.insert("kind", text(d.kind.name()));
                        r.insert("type", text(d.ty.schema_text()));
                        out.push(r);
                    }
                }
            }
            // No triggers, views, functions, aggregates, indexes or column masks:
            // creating them is refused (see the coordinator), so these are truly empty.
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_info() -> LocalInfo {
        LocalInfo {
            cluster_name: "c".to_owned(),
            listen_address: IpAddr::from([127, 0, 0, 1]),
            rpc_address: IpAddr::from([127, 0, 0, 1]),
            native_port: 9042,
            storage_port: 7000,
            data_center: "datacenter1".to_owned(),
            rack: "rack1".to_owned(),
            host_id: Uuid::from_u128(7),
            tokens: vec![0],
        }
    }

    #[test]
    fn system_local_shows_the_gossip_generation_once_gossip_runs() {
        let user = Schema::default();
        let before = local_row(&local_info(), &user, None);
        assert_eq!(before.get("gossip_generation"), None);
        let after = local_row(&local_info(), &user, Some(1_765_000_000));
        assert_eq!(
            after.get("gossip_generation"),
            Some(&Value::Int(1_765_000_000))
        );
    }

    #[test]
    fn range_shares_split_a_table_by_the_ring_fraction_each_range_covers() {
        assert_eq!(range_share(1000, i64::MIN, 0), 500);
        assert_eq!(range_share(1000, 0, i64::MIN), 500);
        let ranges = primary_ranges(&[10, -5, 300, 4_000_000_000_000_000_000]);
        let total: i64 = ranges
            .iter()
            .map(|(s, e)| range_share(10_000, *s, *e))
            .sum();
        assert!((9_998..=10_002).contains(&total), "{total}");
        assert_eq!(range_share(0, 1, 2), 0);
    }

    #[test]
    fn primary_ranges_cover_the_ring_once_unwrapped_at_the_minimum_token() {
        let ranges = primary_ranges(&[10, -5, 300]);
        assert_eq!(
            ranges,
            vec![(-5, 10), (10, 300), (300, i64::MIN), (i64::MIN, -5)]
        );
        assert_eq!(
            primary_ranges(&[i64::MIN, 0]),
            vec![(i64::MIN, 0), (0, i64::MIN)]
        );
        assert!(primary_ranges(&[]).is_empty());
    }
}
