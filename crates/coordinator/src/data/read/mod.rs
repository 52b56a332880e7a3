//! SELECT on user tables: a statement planned into storage reads ([`Plan`]: the partitions,
//! by key or by token range, the clustering slices, the filters), the reads sent through the
//! [`DataPath`](super::DataPath) page by page, and the rows decoded, filtered, grouped and
//! projected by the [`Selection`].
//!
//! Paging: a client page ends after a result row; its paging state is the storage
//! [`PagingPosition`] of the last row consumed for it (plus the LIMIT still to serve), so
//! any connection or node resumes exactly there. Aggregates without GROUP BY read every page
//! internally and answer one row. Layout of the state (big-endian):
//! `version u8 (2) | flags u8 (bit 0: a LIMIT is left) | [limit_left u32] | PagingPosition`.
//!
//! One file per job: `plan` (restrictions into storage reads), `filter` (what storage cannot
//! restrict), `decode` (stored cells into rows), `execute` (reads, grouping, paging) and
//! `paging` (the client's paging state).

use std::cmp::Ordering;

use bytes::Bytes;
use ilion_cql::language::ast::{InValues, Operator, Order, Relation, RelationTarget, Select, Term};
use ilion_cql::protocol::{CqlType, QueryParameters, ResultBody, Rows, RowsMetadata, Value};
use ilion_storage::{
    Bound as SBound, CellData, PagingPosition, PartitionData, PartitionRange, ReadCommand,
    ReadWarning, RowData, Slice,
};

use super::{DataPath, Target, cells};
use crate::schema::types::SchemaType;
use crate::schema::{ClusteringOrder, Column, ColumnKind, Keyspace, Table};
use ilion_types::compare_untyped as compare;

use crate::select::{Aggregator, CellMeta, Projected, Row, Selection, limit_value};
use crate::values::{Bound, encode, term_value};
use crate::{Error, Executed, Result};

mod decode;
mod execute;
mod filter;
mod paging;
mod plan;

pub(crate) use decode::split_partition_key;
use decode::{Decoder, computed};
use execute::execute;
use filter::{Filter, Filtering};
use paging::{decode_paging_state, encode_paging_state};
use plan::{key_columns, plan};

/// Cassandra's answer to a query that needs ALLOW FILTERING.
pub(crate) const REQUIRES_ALLOW_FILTERING: &str = "Cannot execute this query as it might involve \
     data filtering and thus may have unpredictable performance. If you want to execute this \
     query despite the performance unpredictability, use ALLOW FILTERING";

/// Rows asked of storage per internal read when filtering or grouping.
const SCAN_CHUNK: u32 = 1000;

/// SELECT over a user table; `selection` is `s`'s compiled selection (a JSON select compiles
/// its plain form's itself). The result carries the warnings of the reads (a read that
/// scanned more tombstones than the warning threshold).
pub(crate) fn select(
    data: &dyn DataPath,
    ks: &Keyspace,
    table: &Table,
    s: &Select,
    selection: &Selection,
    bound: &Bound,
    params: &QueryParameters,
) -> Result<Executed> {
    if s.json {
        let plain = Select {
            json: false,
            ..s.clone()
        };
        let all_metadata = QueryParameters {
            skip_metadata: false,
            ..params.clone()
        };
        let compiled = Selection::compile(&plain, table, ks)?;
        let plain_selection = compiled.bind(bound)?.unwrap_or(compiled);
        let body = select(
            data,
            ks,
            table,
            &plain,
            &plain_selection,
            bound,
            &all_metadata,
        )?;
        return Ok(Executed {
            result: crate::json::rows_as_json(body.result, params.skip_metadata)?,
            warnings: body.warnings,
        });
    }
    let t = Target { ks, table, bound };
    let plan = plan(&t, s, selection)?;
    let mut warnings = Vec::new();
    let result = execute(data, &t, &plan, selection, params, &mut warnings)?;
    Ok(Executed { result, warnings })
}

/// The warning a client gets for a read that scanned many tombstones (Cassandra's words).
fn read_warning(table: &Table, live_rows: usize, w: &ReadWarning) -> String {
    match w {
        ReadWarning::TombstoneThreshold { scanned, threshold } => format!(
            "Read {live_rows} live rows and {scanned} tombstone cells for query on {}.{} \
             (see tombstone_warn_threshold, {threshold})",
            table.keyspace, table.name
        ),
        other => format!("{other:?} reading {}.{}", table.keyspace, table.name),
    }
}

/// Which partitions a SELECT reads.
#[derive(Debug, Clone, PartialEq)]
enum Partitions {
    /// By key (= and IN on every partition key column), in token order.
    Keys(Vec<(i64, Vec<u8>)>),
    /// Every partition with a token in `(start, end]`.
    Range {
        start: Option<i64>,
        end: Option<i64>,
    },
    /// Nothing can match (an empty IN, an empty token range).
    None,
}

/// How result rows come from table rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One result row per table row.
    Plain,
    /// Every row folds into one result row.
    Aggregate,
    /// One result row per group of rows sharing the partition and the first `ck_len`
    /// clustering values (GROUP BY, and DISTINCT with `ck_len` 0).
    Grouped { ck_len: usize },
}

/// A planned SELECT.
#[derive(Debug, Clone)]
struct Plan {
    partitions: Partitions,
    /// The clustering slices of each partition, in read order.
    slices: Vec<Slice>,
    reversed: bool,
    filters: Vec<Filter>,
    /// Whether a partition with only static cells (no row in the slice) is a result row.
    static_rows: bool,
    mode: Mode,
    distinct: bool,
    per_partition_limit: Option<u32>,
    limit: Option<u32>,
    /// ORDER BY across several partitions (IN on the partition key): sorted in memory by
    /// these clustering columns (table indexes, descending?).
    sort: Option<Vec<(usize, bool)>>,
    /// Whether the partition key was restricted by IN (ORDER BY then cannot page).
    key_in: bool,
}

/// A bound on clustering values: the values and whether it is inclusive.
type TupleBound = Option<(Vec<Value>, bool)>;
/// Values of one result row (or of its sort key).
type ResultRow = Vec<Option<Projected>>;
type ValueRow = Vec<Option<Value>>;

#[cfg(test)]
mod tests {
    use super::decode::split_partition_key;
    use super::*;

    #[test]
    fn paging_states_round_trip_and_garbage_is_invalid_not_a_panic() {
        let pos = PagingPosition {
            token: -5,
            partition_key: b"key".to_vec(),
            clustering: Some(vec![vec![1, 2], vec![]]),
            rows_in_partition: 3,
        };
        for left in [None, Some(7)] {
            let bytes = encode_paging_state(&pos, left);
            assert_eq!(decode_paging_state(&bytes).unwrap(), (pos.clone(), left));
            for cut in 0..bytes.len() {
                assert!(matches!(
                    decode_paging_state(&bytes[..cut]),
                    Err(Error::Invalid { .. })
                ));
            }
        }
        assert!(matches!(
            decode_paging_state(&[1, 0, 0, 0, 0, 0, 0, 0, 9]),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn composite_partition_keys_split_into_their_components() {
        let key = ilion_ring::serialize_partition_key(&[b"ab", b"", b"c"]).unwrap();
        assert_eq!(
            split_partition_key(&key, 3).unwrap(),
            vec![&b"ab"[..], &b""[..], &b"c"[..]]
        );
        assert!(split_partition_key(&key[..4], 3).is_err());
        assert_eq!(split_partition_key(b"raw", 1).unwrap(), vec![&b"raw"[..]]);
    }
}
