//! INSERT, UPDATE and DELETE: statements turned into storage mutations, sent through the
//! [`DataPath`](super::DataPath).
//!
//! Non-frozen collections and user types are written per element (`CellWrite.path`): a whole
//! value first deletes the column (a collection tombstone at `timestamp - 1`, as Cassandra) and
//! then writes one cell per element; `+`, `-`, `c[k] = v`, `c.f = v` and element deletions
//! touch single elements. List elements are keyed by timeuuids (increasing for appends, before
//! every existing element for prepends); `l[i] = v`, `DELETE l[i]` and `l = l - [..]` read the
//! list first. DELETE with a clustering prefix or a range on the next clustering column is a
//! range deletion.

use bytes::Bytes;
use ilion_cql::language::ast::{
    Assignment, Delete, DeleteTarget, Ident, InValues, Insert, InsertValues, JsonDefault, Operator,
    Relation, RelationTarget, Term, UsingParam,
};
use ilion_cql::protocol::{ColumnSpec, Consistency, CqlType, QueryParameters, TableSpec, Value};
use ilion_storage::{
    Bound as SBound, CellOp, CellWrite, Deletion, Liveness, Mutation, RangeDeletion, ReadCommand,
    Slice, TableSchema, Ttl,
};

use super::cells::{is_multi_cell, list_elements};
use super::{DataPath, KeyTerm, TableWrite, Target, check_in_keys, combinations, now_seconds};
use crate::json;
use crate::schema::types::SchemaType;
use crate::schema::{ClusteringOrder, Column, ColumnKind, Keyspace, Table};
use crate::values::{Bound, append_timeuuids, column_value, encode, prepend_timeuuids, term_value};
use crate::{Error, Result};

mod cas;
mod condition;
mod delete;
mod insert;
mod markers;
mod update;
mod writer;

pub(crate) use cas::{ConditionalStatement, prepare_conditional, run_cas, run_conditional};
pub(crate) use delete::delete;
pub(crate) use insert::insert;
pub(crate) use markers::write_marker_columns;
pub(crate) use update::update;
use writer::{Writer, assignment_column};

/// Cassandra's checks of a write to a counter table (`ModificationStatement.validate`): its
/// cells take the coordinator's or the client's timestamp, and never expire.
pub(super) fn check_counter_using(table: &Table, using: &[UsingParam]) -> Result<()> {
    if !table.is_counter() {
        return Ok(());
    }
    if using.iter().any(|u| matches!(u, UsingParam::Timestamp(_))) {
        return Err(Error::invalid(
            "Cannot provide custom timestamp for counter updates",
        ));
    }
    if using.iter().any(|u| matches!(u, UsingParam::Ttl(_))) {
        return Err(Error::invalid(
            "Cannot provide custom TTL for counter updates",
        ));
    }
    Ok(())
}

/// The consistency levels a counter write cannot use (Cassandra's `validateCounterForWrite`).
pub(crate) fn check_counter_consistency(table: &Table, consistency: Consistency) -> Result<()> {
    match consistency {
        Consistency::Any => Err(Error::invalid(format!(
            "Consistency level ANY is not yet supported for counter table {}",
            table.name
        ))),
        Consistency::Serial | Consistency::LocalSerial => Err(Error::invalid(
            "Counter operations are inherently non-serializable",
        )),
        _ => Ok(()),
    }
}

/// A value given to a column by an INSERT: unset (left alone) or a value (`None` is null).
enum Given {
    Unset,
    Value(Option<Value>),
}

/// The serialized value of key column `c`: never null, never unset, a partition key never empty.
fn key_bytes(t: &Target<'_>, c: &Column, given: &Given) -> Result<Vec<u8>> {
    let v = match given {
        Given::Unset => {
            return Err(Error::invalid(format!(
                "Invalid unset value for column {}",
                c.name
            )));
        }
        Given::Value(None) => {
            return Err(Error::invalid(format!(
                "Invalid null value for primary key column {}",
                c.name
            )));
        }
        Given::Value(Some(v)) => encode(&c.ty.column_type(t.ks), v)?,
    };
    if v.is_empty() && c.kind == ColumnKind::PartitionKey {
        return Err(Error::invalid(format!(
            "Key may not be empty (column {})",
            c.name
        )));
    }
    Ok(v.to_vec())
}
