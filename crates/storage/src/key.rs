//! The byte layout of storage keys: one ordered key per entry, so that the engine's bytewise
//! order is Cassandra's order (token, partition key, clustering honouring ASC/DESC, column,
//! element).
//!
//! ```text
//! partition  = token (i64 BE, sign bit flipped) | escaped partition key (0x00 -> 0x00 0xFF, ends 0x00 0x01)
//! key        = partition | 0x01                                     partition deletion
//!            | partition | 0x02 | bound(start) | bound(end)         range deletion
//!            | partition | 0x03 | column u16 | cell                  static cell
//!            | partition | 0x04 | clustering | 0x04                 row deletion
//!            | partition | 0x04 | clustering | 0x05                 row marker (INSERT liveness)
//!            | partition | 0x04 | clustering | 0x06 | column u16 | cell   regular cell
//! clustering = per component: 0x10 | order-encoded value (XOR 0xFF for DESC columns)
//! cell       = 0x01                       simple cell, or the collection deletion
//!            | 0x02 | element key         one element of a multi-cell column (order-encoded)
//! bound      = kind u8 (0 unbounded, 1 inclusive, 2 exclusive) | clustering prefix | 0x00
//! ```
//!
//! Because every component starts with 0x10 and every row suffix is 0x04..=0x06, a clustering
//! prefix `P` brackets all its extensions: `enc(P)` sorts before them and `enc(P) | 0x20` after.

use crate::error::{Error, Result};
use crate::mutation::Bound;
use crate::schema::{ColumnId, ElementKey, Order, TableSchema, element_key_type};
use ilion_types::order;

pub(crate) const PARTITION_DELETION: u8 = 0x01;
pub(crate) const RANGE_DELETION: u8 = 0x02;
pub(crate) const STATIC: u8 = 0x03;
pub(crate) const ROWS: u8 = 0x04;
pub(crate) const ROWS_END: u8 = 0x05;
pub(crate) const ROW_DELETION: u8 = 0x04;
pub(crate) const ROW_MARKER: u8 = 0x05;
pub(crate) const ROW_CELL: u8 = 0x06;
const COMPONENT: u8 = 0x10;
const AFTER_PREFIX: u8 = 0x20;
const CELL_SIMPLE: u8 = 0x01;
const CELL_ELEMENT: u8 = 0x02;

/// The key prefix shared by every entry of a partition.
pub(crate) fn partition(token: i64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + key.len() + key.len() / 8);
    out.extend_from_slice(&((token as u64) ^ (1 << 63)).to_be_bytes());
    for &b in key {
        if b == 0 {
            out.extend_from_slice(&[0x00, 0xFF]);
        } else {
            out.push(b);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
    out
}

/// First key of all partitions with a token `>= token`.
pub(crate) fn token_start(token: i64) -> Vec<u8> {
    ((token as u64) ^ (1 << 63)).to_be_bytes().to_vec()
}

/// The keys of the partitions with a token in `(start, end]` (`None` = unbounded on that
/// side; never wrapping) as `[first, end)` (`None` = no upper limit), or `None` when the
/// range holds no token (`start = i64::MAX`).
pub(crate) fn token_range_keys(
    start: Option<i64>,
    end: Option<i64>,
) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let first = match start {
        None => Vec::new(),
        Some(i64::MAX) => return None,
        Some(s) => token_start(s + 1),
    };
    let end = end.and_then(|e| e.checked_add(1)).map(token_start);
    Some((first, end))
}

/// Parses the partition part of `key`: (token, partition key, bytes used).
pub(crate) fn parse_partition(key: &[u8]) -> Option<(i64, Vec<u8>, usize)> {
    let (t, rest) = key.split_first_chunk::<8>()?;
    let token = (u64::from_be_bytes(*t) ^ (1 << 63)) as i64;
    let mut pk = Vec::new();
    let mut i = 0;
    loop {
        match *rest.get(i)? {
            0 => {
                match *rest.get(i + 1)? {
                    0xFF => pk.push(0),
                    0x01 => return Some((token, pk, 8 + i + 2)),
                    _ => return None,
                }
                i += 2;
            }
            b => {
                pk.push(b);
                i += 1;
            }
        }
    }
}

/// Appends the encoded clustering prefix `values` (at most the table's clustering length).
pub(crate) fn encode_clustering(
    schema: &TableSchema,
    values: &[Vec<u8>],
    out: &mut Vec<u8>,
) -> Result<()> {
    if values.len() > schema.clustering_len() {
        return Err(Error::ClusteringArity {
            table: schema.qualified_name(),
            expected: schema.clustering_len(),
            got: values.len(),
        });
    }
    for ((ty, order), v) in schema.clustering_types().zip(values) {
        out.push(COMPONENT);
        order::encode(ty, v, mask(order), out)?;
    }
    Ok(())
}

/// Encodes a full clustering (exactly the table's clustering length).
pub(crate) fn full_clustering(schema: &TableSchema, values: &[Vec<u8>]) -> Result<Vec<u8>> {
    if values.len() != schema.clustering_len() {
        return Err(Error::ClusteringArity {
            table: schema.qualified_name(),
            expected: schema.clustering_len(),
            got: values.len(),
        });
    }
    let mut out = Vec::new();
    encode_clustering(schema, values, &mut out)?;
    Ok(out)
}

/// One order-encoded value from the front of `input`, the reason as a static text when the
/// bytes are not one.
fn decode_value(
    ty: &crate::schema::CqlType,
    input: &[u8],
    mask: u8,
) -> Result<(Vec<u8>, usize), &'static str> {
    order::decode(ty, input, mask).map_err(|e| match e {
        ilion_types::Error::MalformedKey(reason) => reason,
        _ => "malformed order key",
    })
}

fn mask(order: Order) -> u8 {
    match order {
        Order::Asc => 0x00,
        Order::Desc => 0xFF,
    }
}

/// Decodes components from the front of `input` while they start with the component marker;
/// returns the values and the bytes used.
pub(crate) fn decode_clustering(
    schema: &TableSchema,
    input: &[u8],
    max: usize,
) -> Result<(Vec<Vec<u8>>, usize), &'static str> {
    let mut values = Vec::new();
    let mut pos = 0;
    for (ty, order) in schema.clustering_types().take(max) {
        if input.get(pos) != Some(&COMPONENT) {
            break;
        }
        let (v, used) = decode_value(ty, input.get(pos + 1..).ok_or("truncated")?, mask(order))?;
        values.push(v);
        pos += 1 + used;
    }
    Ok((values, pos))
}

/// The first key after every extension of the encoded clustering prefix `enc`.
pub(crate) fn after_prefix(mut enc: Vec<u8>) -> Vec<u8> {
    enc.push(AFTER_PREFIX);
    enc
}

/// The encoded-clustering interval `[lower, upper)` a start/end bound pair covers
/// (`upper` None = no upper limit).
pub(crate) fn bound_interval(
    schema: &TableSchema,
    start: &Bound,
    end: &Bound,
) -> Result<(Vec<u8>, Option<Vec<u8>>)> {
    let lower = match start {
        Bound::Unbounded => Vec::new(),
        Bound::Inclusive(p) => {
            let mut k = Vec::new();
            encode_clustering(schema, p, &mut k)?;
            k
        }
        Bound::Exclusive(p) => {
            let mut k = Vec::new();
            encode_clustering(schema, p, &mut k)?;
            k.push(AFTER_PREFIX);
            k
        }
    };
    let upper = match end {
        Bound::Unbounded => None,
        Bound::Inclusive(p) => {
            let mut k = Vec::new();
            encode_clustering(schema, p, &mut k)?;
            k.push(AFTER_PREFIX);
            Some(k)
        }
        Bound::Exclusive(p) => {
            let mut k = Vec::new();
            encode_clustering(schema, p, &mut k)?;
            Some(k)
        }
    };
    Ok((lower, upper))
}

/// The key of the range deletion `[start, end]` of partition `p`.
pub(crate) fn range_deletion(
    schema: &TableSchema,
    p: &[u8],
    start: &Bound,
    end: &Bound,
) -> Result<Vec<u8>> {
    let mut k = p.to_vec();
    k.push(RANGE_DELETION);
    for b in [start, end] {
        match b {
            Bound::Unbounded => k.push(0),
            Bound::Inclusive(v) => {
                k.push(1);
                encode_clustering(schema, v, &mut k)?;
            }
            Bound::Exclusive(v) => {
                k.push(2);
                encode_clustering(schema, v, &mut k)?;
            }
        }
        k.push(0);
    }
    Ok(k)
}

/// Parses what follows `partition | 0x02` in a range deletion key.
pub(crate) fn parse_range_deletion(
    schema: &TableSchema,
    rest: &[u8],
) -> Result<(Bound, Bound), &'static str> {
    let mut pos = 0;
    let mut bounds = Vec::with_capacity(2);
    for _ in 0..2 {
        let kind = *rest.get(pos).ok_or("truncated bound")?;
        let (values, used) =
            decode_clustering(schema, rest.get(pos + 1..).ok_or("truncated")?, usize::MAX)?;
        pos += 1 + used;
        if rest.get(pos) != Some(&0) {
            return Err("unterminated bound");
        }
        pos += 1;
        bounds.push(match kind {
            0 => Bound::Unbounded,
            1 => Bound::Inclusive(values),
            2 => Bound::Exclusive(values),
            _ => return Err("bad bound kind"),
        });
    }
    if pos != rest.len() {
        return Err("trailing bytes after bounds");
    }
    let end = bounds.pop().ok_or("missing bound")?;
    let start = bounds.pop().ok_or("missing bound")?;
    Ok((start, end))
}

/// Appends `column | cell` for a cell of `column` (`path` = serialized element key).
pub(crate) fn cell_suffix(
    schema: &TableSchema,
    column: ColumnId,
    path: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let col = schema
        .cell_column(column)
        .ok_or_else(|| Error::InvalidColumn {
            table: schema.qualified_name(),
            column,
            reason: "no such column",
        })?;
    out.extend_from_slice(&column.to_be_bytes());
    match (path, element_key_type(&col.ty)) {
        (None, _) => out.push(CELL_SIMPLE),
        (Some(p), Some(ElementKey::Typed(ty))) => {
            out.push(CELL_ELEMENT);
            order::encode(ty, p, 0, out)?;
        }
        (Some(p), Some(ElementKey::FieldIndex)) => {
            if p.len() != 2 {
                return Err(Error::InvalidColumn {
                    table: schema.qualified_name(),
                    column,
                    reason: "a UDT field path is a 2-byte field index",
                });
            }
            out.push(CELL_ELEMENT);
            out.extend_from_slice(p);
        }
        (Some(_), None) => {
            return Err(Error::InvalidColumn {
                table: schema.qualified_name(),
                column,
                reason: "an element path on a column that is not a non-frozen collection",
            });
        }
    }
    Ok(())
}

/// What a cell suffix names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CellName {
    pub column: ColumnId,
    /// None: the simple cell or the collection deletion.
    pub path: Option<Vec<u8>>,
}

pub(crate) fn parse_cell_suffix(
    schema: &TableSchema,
    rest: &[u8],
) -> Result<CellName, &'static str> {
    let (c, rest) = rest.split_first_chunk::<2>().ok_or("truncated column")?;
    let column = u16::from_be_bytes(*c);
    let col = schema.cell_column(column).ok_or("unknown column id")?;
    match rest.split_first() {
        Some((&CELL_SIMPLE, [])) => Ok(CellName { column, path: None }),
        Some((&CELL_ELEMENT, elem)) => {
            let path = match element_key_type(&col.ty) {
                Some(ElementKey::Typed(ty)) => {
                    let (v, used) = decode_value(ty, elem, 0)?;
                    if used != elem.len() {
                        return Err("trailing bytes after element key");
                    }
                    v
                }
                Some(ElementKey::FieldIndex) if elem.len() == 2 => elem.to_vec(),
                _ => return Err("element key on a simple column"),
            };
            Ok(CellName {
                column,
                path: Some(path),
            })
        }
        _ => Err("bad cell suffix"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::CqlType;

    fn schema() -> TableSchema {
        TableSchema::builder("ks", "t")
            .partition_key("k", CqlType::Blob)
            .clustering("a", CqlType::Int, Order::Asc)
            .clustering("b", CqlType::Text, Order::Desc)
            .regular("v", CqlType::Int)
            .build()
            .unwrap()
    }

    #[test]
    fn partitions_order_by_signed_token_then_key_bytes() {
        assert!(partition(-1, b"z") < partition(0, b""));
        assert!(partition(i64::MIN, b"\xff") < partition(i64::MAX, b""));
        assert!(partition(5, b"a") < partition(5, b"a\x00"));
        assert!(partition(5, b"a\x00") < partition(5, b"ab"));
        let p = partition(-77, b"k\x00\x01ey");
        assert_eq!(
            parse_partition(&p),
            Some((-77, b"k\x00\x01ey".to_vec(), p.len()))
        );
    }

    #[test]
    fn desc_components_order_descending_and_prefixes_bracket_their_rows() {
        let s = schema();
        let c = |a: i32, b: &str| {
            full_clustering(&s, &[a.to_be_bytes().to_vec(), b.as_bytes().to_vec()]).unwrap()
        };
        assert!(c(1, "b") < c(1, "a"));
        assert!(c(1, "a") < c(2, "z"));
        assert!(c(1, "ab") < c(1, "a"));
        let (lo, hi) = bound_interval(
            &s,
            &Bound::Inclusive(vec![1i32.to_be_bytes().to_vec()]),
            &Bound::Inclusive(vec![1i32.to_be_bytes().to_vec()]),
        )
        .unwrap();
        let hi = hi.unwrap();
        for row in [c(1, ""), c(1, "zzz"), c(1, "\u{0}")] {
            assert!(lo <= row && row < hi);
        }
        assert!(c(0, "a") < lo && c(2, "") >= hi);
        let (v, used) = decode_clustering(&s, &c(-3, "x\u{0}y"), 2).unwrap();
        assert_eq!(v, vec![(-3i32).to_be_bytes().to_vec(), b"x\x00y".to_vec()]);
        assert_eq!(used, c(-3, "x\u{0}y").len());
    }

    #[test]
    fn range_deletion_keys_round_trip_their_bounds() {
        let s = schema();
        let start = Bound::Exclusive(vec![7i32.to_be_bytes().to_vec()]);
        let end = Bound::Inclusive(vec![9i32.to_be_bytes().to_vec(), b"q".to_vec()]);
        let p = partition(1, b"k");
        let k = range_deletion(&s, &p, &start, &end).unwrap();
        assert_eq!(
            parse_range_deletion(&s, &k[p.len() + 1..]).unwrap(),
            (start, end)
        );
        let k = range_deletion(&s, &p, &Bound::Unbounded, &Bound::Unbounded).unwrap();
        assert_eq!(
            parse_range_deletion(&s, &k[p.len() + 1..]).unwrap(),
            (Bound::Unbounded, Bound::Unbounded)
        );
    }
}
