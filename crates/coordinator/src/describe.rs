//! Server-side DESCRIBE, as Cassandra 4 answers it (cqlsh sends DESCRIBE as a query and prints
//! the rows): listings have the columns `keyspace_name, type, name`; descriptions add
//! `create_statement`; DESCRIBE CLUSTER has `cluster, partitioner, snitch` and, with a current
//! keyspace, `range_ownership`.

use ilion_cql::language::ast::{Describe, DescribeTarget, QualifiedName};
use ilion_cql::protocol::{ColumnSpec, CqlType, ResultBody, Rows, RowsMetadata, TableSpec, Value};

use crate::schema::types::quote_if_needed;
use crate::schema::{ClusteringOrder, ColumnKind, Keyspace, Schema, Table, UserType};
use crate::system::LocalInfo;
use crate::values::encode;
use crate::{Error, Result};

fn spec(name: &str, ty: CqlType) -> ColumnSpec {
    ColumnSpec {
        table: TableSpec {
            keyspace: "system".to_owned(),
            table: "describe".to_owned(),
        },
        name: name.to_owned(),
        ty,
    }
}

fn result(columns: Vec<ColumnSpec>, rows: Vec<Vec<Value>>) -> Result<ResultBody> {
    let mut cells = Vec::with_capacity(rows.len() * columns.len());
    for row in &rows {
        for (v, c) in row.iter().zip(&columns) {
            cells.push(Some(encode(&c.ty, v)?));
        }
    }
    Ok(ResultBody::Rows(Rows {
        metadata: RowsMetadata::new(columns),
        rows_count: rows.len(),
        cells,
    }))
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

/// An element row: keyspace, kind, name, CQL.
type Element = (String, &'static str, String, String);

fn listing(rows: Vec<(String, &'static str, String)>) -> Result<ResultBody> {
    let columns = vec![
        spec("keyspace_name", CqlType::Text),
        spec("type", CqlType::Text),
        spec("name", CqlType::Text),
    ];
    result(
        columns,
        rows.into_iter()
            .map(|(k, t, n)| vec![text(k), text(t), text(n)])
            .collect(),
    )
}

fn elements(rows: Vec<Element>) -> Result<ResultBody> {
    let columns = vec![
        spec("keyspace_name", CqlType::Text),
        spec("type", CqlType::Text),
        spec("name", CqlType::Text),
        spec("create_statement", CqlType::Text),
    ];
    result(
        columns,
        rows.into_iter()
            .map(|(k, t, n, c)| vec![text(k), text(t), text(n), text(c)])
            .collect(),
    )
}

fn string_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn map_literal(m: &std::collections::BTreeMap<String, String>) -> String {
    let inner: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{}: {}", string_literal(k), string_literal(v)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

fn keyspace_cql(ks: &Keyspace) -> String {
    format!(
        "CREATE KEYSPACE {} WITH replication = {}  AND durable_writes = {};",
        quote_if_needed(&ks.name),
        map_literal(&ks.replication),
        ks.durable_writes
    )
}

fn type_cql(u: &UserType) -> String {
    let fields: Vec<String> = u
        .fields
        .iter()
        .map(|(n, t)| format!("    {} {}", quote_if_needed(n), t.schema_text()))
        .collect();
    format!(
        "CREATE TYPE {}.{} (\n{}\n);",
        quote_if_needed(&u.keyspace),
        quote_if_needed(&u.name),
        fields.join(",\n")
    )
}

pub(crate) fn table_cql(t: &Table) -> String {
    let mut lines: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let stat = if c.kind == ColumnKind::Static {
                " static"
            } else {
                ""
            };
            format!(
                "    {} {}{stat}",
                quote_if_needed(&c.name),
                c.ty.schema_text()
            )
        })
        .collect();
    let names = |kind| -> Vec<String> {
        t.columns
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| quote_if_needed(&c.name))
            .collect()
    };
    let pk = names(ColumnKind::PartitionKey);
    let ck = names(ColumnKind::Clustering);
    let partition = if pk.len() == 1 {
        pk.join("")
    } else {
        format!("({})", pk.join(", "))
    };
    let key = std::iter::once(partition)
        .chain(ck)
        .collect::<Vec<_>>()
        .join(", ");
    lines.push(format!("    PRIMARY KEY ({key})"));
    let mut options = Vec::new();
    let order: Vec<String> = t
        .columns
        .iter()
        .filter(|c| c.kind == ColumnKind::Clustering)
        .map(|c| {
            let dir = if c.order == ClusteringOrder::Desc {
                "DESC"
            } else {
                "ASC"
            };
            format!("{} {dir}", quote_if_needed(&c.name))
        })
        .collect();
    if !order.is_empty() {
        options.push(format!("CLUSTERING ORDER BY ({})", order.join(", ")));
    }
    let p = &t.params;
    options.push(format!(
        "additional_write_policy = {}",
        string_literal(&p.additional_write_policy)
    ));
    options.push(format!(
        "bloom_filter_fp_chance = {}",
        p.bloom_filter_fp_chance
    ));
    options.push(format!("caching = {}", map_literal(&p.caching)));
    options.push(format!("cdc = {}", p.cdc));
    options.push(format!("comment = {}", string_literal(&p.comment)));
    options.push(format!("compaction = {}", map_literal(&p.compaction)));
    options.push(format!("compression = {}", map_literal(&p.compression)));
    options.push(format!("crc_check_chance = {:?}", p.crc_check_chance));
    options.push(format!("default_time_to_live = {}", p.default_time_to_live));
    options.push(format!("gc_grace_seconds = {}", p.gc_grace_seconds));
    options.push(format!("max_index_interval = {}", p.max_index_interval));
    options.push(format!(
        "memtable_flush_period_in_ms = {}",
        p.memtable_flush_period_in_ms
    ));
    options.push(format!("min_index_interval = {}", p.min_index_interval));
    options.push(format!("read_repair = {}", string_literal(&p.read_repair)));
    options.push(format!(
        "speculative_retry = {}",
        string_literal(&p.speculative_retry)
    ));
    // Ilion's extension, shown only when it differs from Cassandra's rule, so a table that
    // does not use it describes exactly as in Cassandra.
    if p.tombstone_gc != crate::schema::options::default_tombstone_gc() {
        options.push(format!("tombstone_gc = {}", map_literal(&p.tombstone_gc)));
    }
    format!(
        "CREATE TABLE {}.{} (\n{}\n) WITH {};",
        quote_if_needed(&t.keyspace),
        quote_if_needed(&t.name),
        lines.join(",\n"),
        options.join("\n    AND ")
    )
}

fn keyspace_elements(ks: &Keyspace, only: bool) -> Vec<Element> {
    let mut out = vec![(
        ks.name.clone(),
        "keyspace",
        ks.name.clone(),
        keyspace_cql(ks),
    )];
    if only {
        return out;
    }
    for u in ks.types.values() {
        out.push((ks.name.clone(), "type", u.name.clone(), type_cql(u)));
    }
    for t in ks.tables.values() {
        out.push((ks.name.clone(), "table", t.name.clone(), table_cql(t)));
    }
    out
}

/// Answers a DESCRIBE statement.
pub(crate) fn describe(
    d: &Describe,
    user: &Schema,
    system: &Schema,
    local: &LocalInfo,
    current: Option<&str>,
) -> Result<ResultBody> {
    let all = || user.system_keyspaces(system).chain(user.keyspaces.values());
    let find_ks = |name: &str| -> Result<&Keyspace> {
        user.system_keyspace(system, name)
            .or_else(|| user.keyspaces.get(name))
            .ok_or_else(|| Error::invalid(format!("'{name}' not found in keyspaces")))
    };
    let in_scope = |ks: &Keyspace| current.is_none_or(|c| c == ks.name);
    let qualified = |name: &QualifiedName| -> Result<(String, String)> {
        let ks = match (&name.keyspace, current) {
            (Some(k), _) => k.as_str().to_owned(),
            (None, Some(c)) => c.to_owned(),
            (None, None) => {
                return Err(Error::invalid(
                    "No keyspace specified and no current keyspace",
                ));
            }
        };
        Ok((ks, name.name.as_str().to_owned()))
    };
    match &d.target {
        DescribeTarget::Keyspaces => listing(
            all()
                .map(|k| (k.name.clone(), "keyspace", k.name.clone()))
                .collect(),
        ),
        DescribeTarget::Tables => listing(
            all()
                .filter(|k| in_scope(k))
                .flat_map(|k| {
                    k.tables
                        .values()
                        .map(|t| (k.name.clone(), "table", t.name.clone()))
                })
                .collect(),
        ),
        DescribeTarget::Types => listing(
            all()
                .filter(|k| in_scope(k))
                .flat_map(|k| {
                    k.types
                        .values()
                        .map(|t| (k.name.clone(), "type", t.name.clone()))
                })
                .collect(),
        ),
        // Creating functions and aggregates is refused, so there are none to list.
        DescribeTarget::Functions | DescribeTarget::Aggregates => listing(Vec::new()),
        DescribeTarget::Keyspace { name, only } => {
            let name = match (name, current) {
                (Some(n), _) => n.as_str(),
                (None, Some(c)) => c,
                (None, None) => {
                    return Err(Error::invalid(
                        "No keyspace specified and no current keyspace",
                    ));
                }
            };
            elements(keyspace_elements(find_ks(name)?, *only))
        }
        DescribeTarget::Schema { full } => {
            let keyspaces: Vec<&Keyspace> = if *full {
                all().collect()
            } else {
                user.keyspaces.values().collect()
            };
            elements(
                keyspaces
                    .into_iter()
                    .flat_map(|k| keyspace_elements(k, false))
                    .collect(),
            )
        }
        DescribeTarget::Table(name) => {
            let (ks, t) = qualified(name)?;
            let table = find_ks(&ks)?.tables.get(&t).ok_or_else(|| {
                Error::invalid(format!("Table '{t}' not found in keyspace '{ks}'"))
            })?;
            elements(vec![(ks, "table", t, table_cql(table))])
        }
        DescribeTarget::Type(name) => {
            let (ks, t) = qualified(name)?;
            let u = find_ks(&ks)?.types.get(&t).ok_or_else(|| {
                Error::invalid(format!("User defined type '{t}' not found in '{ks}'"))
            })?;
            elements(vec![(ks, "type", t, type_cql(u))])
        }
        DescribeTarget::Index(name)
        | DescribeTarget::MaterializedView(name)
        | DescribeTarget::Function(name)
        | DescribeTarget::Aggregate(name) => {
            // None of these can be created on this build, so none exists.
            Err(Error::invalid(format!(
                "'{}' not found",
                name.name.as_str()
            )))
        }
        DescribeTarget::Name(name) => {
            if name.keyspace.is_none()
                && let Ok(ks) = find_ks(name.name.as_str())
            {
                return elements(keyspace_elements(ks, false));
            }
            let (ks, n) = qualified(name)?;
            let keyspace = find_ks(&ks)?;
            if let Some(t) = keyspace.tables.get(&n) {
                return elements(vec![(ks, "table", n, table_cql(t))]);
            }
            if let Some(u) = keyspace.types.get(&n) {
                return elements(vec![(ks, "type", n, type_cql(u))]);
            }
            Err(Error::invalid(format!(
                "'{n}' not found in keyspace '{ks}'"
            )))
        }
        DescribeTarget::Cluster => {
            let mut columns = vec![
                spec("cluster", CqlType::Text),
                spec("partitioner", CqlType::Text),
                spec("snitch", CqlType::Text),
            ];
            let mut row = vec![
                text(local.cluster_name.clone()),
                text("org.apache.cassandra.dht.Murmur3Partitioner"),
                text("org.apache.cassandra.locator.SimpleSnitch"),
            ];
            if current.is_some_and(|c| user.keyspaces.contains_key(c)) {
                // One node owns every range: each token maps to this node.
                columns.push(spec(
                    "range_ownership",
                    CqlType::map(CqlType::Text, CqlType::list(CqlType::Text)),
                ));
                let endpoint = format!("{}:{}", local.listen_address, local.storage_port);
                row.push(Value::Map(
                    local
                        .tokens
                        .iter()
                        .map(|t| {
                            (
                                text(t.to_string()),
                                Value::List(vec![text(endpoint.clone())]),
                            )
                        })
                        .collect(),
                ));
            }
            result(columns, vec![row])
        }
    }
}
