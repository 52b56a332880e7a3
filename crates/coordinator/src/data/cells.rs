//! A column's value assembled from the cells a read returns: one cell for a simple or frozen
//! column; one cell per element for a non-frozen collection or user type (list elements in the
//! order of their timeuuid paths, set elements and map keys in their type's order, UDT fields by
//! index), as Cassandra returns them. A multi-cell column without a live element is null (an
//! empty collection reads as null).

use bytes::Bytes;
use ilion_cql::protocol::{CqlType, Value};
use ilion_storage::CellData;

use crate::{Error, Result};

/// Whether a column of `ty` is stored one cell per element.
pub(crate) fn is_multi_cell(ty: &CqlType) -> bool {
    ty.is_multi_cell()
}

fn decode(ty: &CqlType, bytes: &[u8]) -> Result<Value> {
    ty.decode(&Bytes::copy_from_slice(bytes))
        .map_err(|e| Error::server(format!("stored value does not decode as {ty}: {e}")))
}

/// The value of a column of schema type `schema_ty` (protocol type `ty`) from its live cells
/// (every cell of the column, in the order the read returned them).
pub(crate) fn column_value<'a>(
    ty: &CqlType,
    schema_ty: &CqlType,
    cells: impl IntoIterator<Item = &'a CellData>,
) -> Result<Option<Value>> {
    let mut cells = cells.into_iter();
    if !is_multi_cell(schema_ty) {
        return cells
            .find(|c| c.path.is_none())
            .map(|c| decode(ty, &c.value))
            .transpose();
    }
    let elements: Vec<&CellData> = cells.filter(|c| c.path.is_some()).collect();
    if elements.is_empty() {
        return Ok(None);
    }
    let path = |c: &CellData| c.path.clone().unwrap_or_default();
    Ok(Some(match ty {
        CqlType::List { element: e, .. } => Value::List(
            elements
                .iter()
                .map(|c| decode(e, &c.value))
                .collect::<Result<_>>()?,
        ),
        CqlType::Set { element: e, .. } => Value::Set(
            elements
                .iter()
                .map(|c| decode(e, &path(c)))
                .collect::<Result<_>>()?,
        ),
        CqlType::Map {
            key: k, value: v, ..
        } => Value::Map(
            elements
                .iter()
                .map(|c| Ok((decode(k, &path(c))?, decode(v, &c.value)?)))
                .collect::<Result<_>>()?,
        ),
        CqlType::Udt(u) => {
            let mut fields: Vec<(String, Option<Value>)> =
                u.fields.iter().map(|(n, _)| (n.clone(), None)).collect();
            for c in &elements {
                let p = path(c);
                let index = match p.as_slice() {
                    [a, b] => usize::from(u16::from_be_bytes([*a, *b])),
                    _ => return Err(Error::server("a UDT field path is not a 2-byte index")),
                };
                // A field index past the type's fields belongs to a field no longer read.
                if let (Some((_, fty)), Some(slot)) = (u.fields.get(index), fields.get_mut(index)) {
                    slot.1 = Some(decode(fty, &c.value)?);
                }
            }
            if fields.iter().all(|(_, v)| v.is_none()) {
                return Ok(None);
            }
            Value::Udt(fields)
        }
        other => {
            return Err(Error::server(format!(
                "a multi-cell column of type {other} cannot be read"
            )));
        }
    }))
}

/// The element cells of a list column as a read returned them: `(path, value)` in list order.
pub(crate) fn list_elements<'a>(
    cells: impl IntoIterator<Item = &'a CellData>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    cells
        .into_iter()
        .filter_map(|c| c.path.clone().map(|p| (p, c.value.clone())))
        .collect()
}
