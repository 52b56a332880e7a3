//! Reconciling the answers of several replicas with the storage engine's own merge (the
//! answers are applied to a scratch in-memory table and read back with the same command), and
//! working out what each replica lacks (read repair).
//!
//! Replicas answer with their live data and with what they store in the read's extent,
//! deletions included (`WireResult::raw`), so a deletion newer than another replica's live
//! cell wins the merge and read repair carries it to the replicas that missed it.

use std::collections::HashMap;
use std::sync::Arc;

use ilion_storage::{
    CellOp, CellWrite, Clock, Mutation, ReadCommand, SchemaChange, Store, TableOptions, TableSchema,
};

use super::messages::{WireCell, WireCellWrite, WireMutation, WireResult, WireRowWrite};
use crate::data::storage_error;
use crate::{Error, Result};

/// The reconciliation of `results` (each one replica's answer to `cmd`), as `cmd` reads it.
pub(crate) fn merge(
    schema: &TableSchema,
    clock: Arc<dyn Clock>,
    cmd: &ReadCommand,
    results: &[&WireResult],
) -> Result<WireResult> {
    let scratch = Store::in_memory(clock.clone());
    let table = scratch
        .create_table(schema.clone())
        .map_err(storage_error)?;
    if schema.options().default_time_to_live != 0 {
        // Cells come with their own TTLs; the table default must not add one.
        scratch
            .alter_table(
                schema.keyspace(),
                schema.name(),
                &SchemaChange::Options(TableOptions {
                    default_time_to_live: 0,
                    ..schema.options().clone()
                }),
            )
            .map_err(storage_error)?;
    }
    let now = clock.now_seconds();
    // A counter's live value is a sum; its shards come with the raw answer, which is what
    // merges (a live cell cannot be applied to a counter column).
    let plain = |c: &&WireCell| {
        schema
            .column_id(&c.column)
            .and_then(|id| schema.cell_column(id))
            .is_none_or(|col| !col.ty.is_counter())
    };
    let cell = |c: &WireCell| -> Result<CellWrite> {
        Ok(CellWrite {
            column: schema.column_id(&c.column).ok_or_else(|| {
                Error::server(format!(
                    "a replica returned column {} unknown to {}",
                    c.column,
                    schema.qualified_name()
                ))
            })?,
            path: c.path.clone(),
            op: CellOp::Set {
                timestamp: c.timestamp,
                value: c.value.clone(),
                ttl: c.ttl.as_ref().map(|t| ilion_storage::Ttl {
                    seconds: t.seconds,
                    local_expiry: t.local_expiry,
                }),
            },
        })
    };
    for r in results {
        for p in &r.partitions {
            let mut m = Mutation::new(p.token, p.key.clone(), now);
            m.static_cells = p
                .static_cells
                .iter()
                .filter(plain)
                .map(cell)
                .collect::<Result<_>>()?;
            for row in &p.rows {
                let w = m.row(row.clustering.clone());
                w.marker = row.marker.as_ref().map(|l| ilion_storage::Liveness {
                    timestamp: l.timestamp,
                    ttl: l.ttl.as_ref().map(|t| ilion_storage::Ttl {
                        seconds: t.seconds,
                        local_expiry: t.local_expiry,
                    }),
                });
                w.cells = row
                    .cells
                    .iter()
                    .filter(plain)
                    .map(cell)
                    .collect::<Result<_>>()?;
            }
            table.apply(&m).map_err(storage_error)?;
        }
        // What the replica stores, deletions included: a newer tombstone beats older data.
        for w in &r.raw {
            let m = w
                .to_mutation(&table.schema())
                .map_err(|e| Error::server(e.to_string()))?;
            table.apply(&m).map_err(storage_error)?;
        }
    }
    let merged = table.read(cmd).map_err(storage_error)?;
    let schema = table.schema();
    let mut out =
        WireResult::from_result(&schema, &merged).map_err(|e| Error::server(e.to_string()))?;
    out.raw = super::local::raw(&schema, &table, cmd)?;
    for w in &mut out.raw {
        // The scratch table is named like the real one; keep the names the replicas use.
        w.keyspace = schema.keyspace().to_owned();
        w.table = schema.name().to_owned();
    }
    Ok(out)
}

fn write_of(c: &WireCell) -> WireCellWrite {
    WireCellWrite {
        column: c.column.clone(),
        path: c.path.clone(),
        op: 0,
        timestamp: c.timestamp,
        value: c.value.clone(),
        ttl: c.ttl,
        ..WireCellWrite::default()
    }
}

/// The mutations that bring a replica that answered `replica` up to `merged`: every cell and
/// row marker of `merged` it did not return identically.
pub(crate) fn diff(
    keyspace: &str,
    table: &str,
    merged: &WireResult,
    replica: &WireResult,
    now: i64,
) -> Vec<WireMutation> {
    let theirs: HashMap<&[u8], _> = replica
        .partitions
        .iter()
        .map(|p| (p.key.as_slice(), p))
        .collect();
    let mut out = Vec::new();
    // Deletions included: every partition whose stored content differs from the merge gets
    // the merge's (applying it is idempotent; what the replica already has is a no-op).
    if !merged.raw.is_empty() {
        let theirs: HashMap<&[u8], &WireMutation> = replica
            .raw
            .iter()
            .map(|m| (m.partition_key.as_slice(), m))
            .collect();
        for m in &merged.raw {
            if theirs.get(m.partition_key.as_slice()) != Some(&m) {
                out.push(WireMutation {
                    keyspace: keyspace.to_owned(),
                    table: table.to_owned(),
                    now,
                    ..m.clone()
                });
            }
        }
        return out;
    }
    for p in &merged.partitions {
        let other = theirs.get(p.key.as_slice());
        let mut m = WireMutation {
            keyspace: keyspace.to_owned(),
            table: table.to_owned(),
            token: p.token,
            partition_key: p.key.clone(),
            now,
            ..WireMutation::default()
        };
        for c in &p.static_cells {
            if !other.is_some_and(|o| o.static_cells.contains(c)) {
                m.static_cells.push(write_of(c));
            }
        }
        for row in &p.rows {
            let orow = other.and_then(|o| o.rows.iter().find(|r| r.clustering == row.clustering));
            let mut w = WireRowWrite {
                clustering: row.clustering.clone(),
                ..WireRowWrite::default()
            };
            if row.marker.is_some() && orow.is_none_or(|o| o.marker != row.marker) {
                w.marker = row.marker;
            }
            for c in &row.cells {
                if !orow.is_some_and(|o| o.cells.contains(c)) {
                    w.cells.push(write_of(c));
                }
            }
            if w.marker.is_some() || !w.cells.is_empty() {
                m.rows.push(w);
            }
        }
        if !m.static_cells.is_empty() || !m.rows.is_empty() {
            out.push(m);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::messages::{WirePartition, WireRow};
    use ilion_storage::{CqlType, ManualClock, Order};
    use proptest::prelude::*;

    fn schema() -> TableSchema {
        TableSchema::builder("ks", "t")
            .partition_key("k", CqlType::Int)
            .clustering("c", CqlType::Int, Order::Asc)
            .regular("a", CqlType::Text)
            .regular("b", CqlType::Text)
            .build()
            .unwrap()
    }

    /// One replica's answer: per (row, column) an optional (timestamp, value).
    fn answer(cells: &[Option<(i64, u8)>]) -> WireResult {
        let mut rows = Vec::new();
        for (r, pair) in cells.chunks(2).enumerate() {
            let mut row = WireRow {
                clustering: vec![(r as i32).to_be_bytes().to_vec()],
                ..WireRow::default()
            };
            for (col, c) in ["a", "b"].iter().zip(pair) {
                if let Some((ts, v)) = c {
                    row.cells.push(WireCell {
                        column: (*col).to_owned(),
                        value: vec![*v],
                        timestamp: *ts,
                        ..WireCell::default()
                    });
                }
            }
            if !row.cells.is_empty() {
                rows.push(row);
            }
        }
        WireResult {
            partitions: if rows.is_empty() {
                Vec::new()
            } else {
                vec![WirePartition {
                    token: 1,
                    key: 7i32.to_be_bytes().to_vec(),
                    rows,
                    ..WirePartition::default()
                }]
            },
            ..WireResult::default()
        }
    }

    fn as_result(diff: &[WireMutation]) -> WireResult {
        WireResult {
            partitions: diff
                .iter()
                .map(|m| WirePartition {
                    token: m.token,
                    key: m.partition_key.clone(),
                    static_cells: Vec::new(),
                    rows: m
                        .rows
                        .iter()
                        .map(|r| WireRow {
                            clustering: r.clustering.clone(),
                            marker: r.marker,
                            cells: r
                                .cells
                                .iter()
                                .map(|c| WireCell {
                                    column: c.column.clone(),
                                    path: c.path.clone(),
                                    value: c.value.clone(),
                                    timestamp: c.timestamp,
                                    ttl: c.ttl,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            ..WireResult::default()
        }
    }

    fn cells() -> impl Strategy<Value = Vec<Option<(i64, u8)>>> {
        proptest::collection::vec(proptest::option::of((1i64..5, 0u8..4)), 6)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, rng_seed: proptest::test_runner::RngSeed::Fixed(9), ..ProptestConfig::default() })]

        /// The merge does not depend on the order of the answers, and a replica given its diff
        /// holds exactly the merge.
        #[test]
        fn merging_is_order_free_and_the_diff_completes_each_replica(
            a in cells(), b in cells(), c in cells()
        ) {
            let s = schema();
            let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(1_000));
            let cmd = ReadCommand::partition(1, 7i32.to_be_bytes().to_vec());
            let answers = [answer(&a), answer(&b), answer(&c)];
            let merged = merge(&s, clock.clone(), &cmd, &[&answers[0], &answers[1], &answers[2]]).unwrap();
            let reversed = merge(&s, clock.clone(), &cmd, &[&answers[2], &answers[1], &answers[0]]).unwrap();
            prop_assert_eq!(&merged, &reversed);
            for r in &answers {
                let d = as_result(&diff("ks", "t", &merged, r, 1_000));
                let repaired = merge(&s, clock.clone(), &cmd, &[r, &d]).unwrap();
                prop_assert_eq!(repaired.digest(), merged.digest());
            }
        }
    }
}
