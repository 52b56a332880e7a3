//! Write batches: a group of writes, possibly to several trees, applied atomically.
//!
//! A batch is one commit log record. Its payload (little-endian):
//!
//! ```text
//! count u32 | count x ( kind u8 | tree id u32 | key length u32 | key | value length u32 | value )
//! ```
//!
//! The record's sequence number is the first operation's; operation `i` gets `seq + i`.

use std::path::Path;

use crate::error::{Error, Result};
use crate::key::Kind;
use crate::tree::Tree;

/// One operation of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Op {
    pub(crate) kind: Kind,
    pub(crate) tree: u32,
    pub(crate) key: Vec<u8>,
    /// The value (Put, Merge) or the exclusive end key (RangeDelete); empty for Delete.
    pub(crate) value: Vec<u8>,
}

impl Op {
    pub(crate) fn borrowed(&self) -> OpRef<'_> {
        OpRef {
            kind: self.kind,
            tree: self.tree,
            key: &self.key,
            value: &self.value,
        }
    }
}

/// An operation borrowing its key and value: what the write path takes, so a single put does
/// not copy its key and value before they reach the log and the memtable.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpRef<'a> {
    pub(crate) kind: Kind,
    pub(crate) tree: u32,
    pub(crate) key: &'a [u8],
    pub(crate) value: &'a [u8],
}

/// Writes applied together: after a crash either all of them are there or none.
///
/// ```
/// # fn main() -> ilion_lsm::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let db = ilion_lsm::Db::builder().open(dir.path())?;
/// let (users, index) = (db.tree("users")?, db.tree("index")?);
/// let mut batch = ilion_lsm::WriteBatch::new();
/// batch.put(&users, b"u1", b"alice");
/// batch.put(&index, b"alice", b"u1");
/// db.write(batch)?;
/// assert_eq!(index.get(b"alice")?, Some(b"u1".to_vec()));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct WriteBatch {
    pub(crate) ops: Vec<Op>,
    pub(crate) user_bytes: u64,
}

impl WriteBatch {
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    fn push(&mut self, kind: Kind, tree: &Tree, key: &[u8], value: &[u8]) {
        self.user_bytes += (key.len() + value.len()) as u64;
        self.ops.push(Op {
            kind,
            tree: tree.id(),
            key: key.to_vec(),
            value: value.to_vec(),
        });
    }

    /// Sets `key` to `value` in `tree`.
    pub fn put(&mut self, tree: &Tree, key: &[u8], value: &[u8]) {
        self.push(Kind::Put, tree, key, value);
    }

    /// Deletes `key` from `tree`.
    pub fn delete(&mut self, tree: &Tree, key: &[u8]) {
        self.push(Kind::Delete, tree, key, &[]);
    }

    /// Deletes every key in `[start, end)` from `tree`. An empty range is ignored.
    pub fn delete_range(&mut self, tree: &Tree, start: &[u8], end: &[u8]) {
        if start < end {
            self.push(Kind::RangeDelete, tree, start, end);
        }
    }

    /// Adds a merge operand for `key`, combined by the tree's merge operator when read.
    pub fn merge(&mut self, tree: &Tree, key: &[u8], operand: &[u8]) {
        self.push(Kind::Merge, tree, key, operand);
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn clear(&mut self) {
        self.ops.clear();
        self.user_bytes = 0;
    }
}

pub(crate) fn encode_ops(ops: &[OpRef<'_>], out: &mut Vec<u8>) {
    let need: usize = ops
        .iter()
        .map(|op| 13 + op.key.len() + op.value.len())
        .sum();
    out.reserve(4 + need);
    out.extend_from_slice(&(ops.len() as u32).to_le_bytes());
    for op in ops {
        out.push(op.kind as u8);
        out.extend_from_slice(&op.tree.to_le_bytes());
        out.extend_from_slice(&(op.key.len() as u32).to_le_bytes());
        out.extend_from_slice(op.key);
        out.extend_from_slice(&(op.value.len() as u32).to_le_bytes());
        out.extend_from_slice(op.value);
    }
}

/// Decodes a batch payload read from `file` at record offset `offset`.
pub(crate) fn decode(payload: &[u8], file: &Path, offset: u64) -> Result<Vec<Op>> {
    let bad = |reason: &'static str| Error::Corruption {
        file: file.to_owned(),
        offset,
        reason,
    };
    let mut r = Reader { b: payload, at: 0 };
    let count = r.u32().ok_or_else(|| bad("batch shorter than its count"))? as usize;
    // Every op takes at least 13 bytes: a count beyond that is damage.
    if count > payload.len() / 13 + 1 {
        return Err(bad("batch count larger than its payload"));
    }
    let mut ops = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = r.u8().ok_or_else(|| bad("truncated batch operation"))?;
        let kind = Kind::from_u8(kind).ok_or_else(|| bad("unknown batch operation kind"))?;
        let tree = r.u32().ok_or_else(|| bad("truncated batch operation"))?;
        let key = r.bytes().ok_or_else(|| bad("truncated batch key"))?;
        let value = r.bytes().ok_or_else(|| bad("truncated batch value"))?;
        ops.push(Op {
            kind,
            tree,
            key: key.to_vec(),
            value: value.to_vec(),
        });
    }
    if r.at != payload.len() {
        return Err(bad("trailing bytes after batch operations"));
    }
    Ok(ops)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_payload_round_trips_and_damage_is_an_error() {
        let ops = vec![
            Op {
                kind: Kind::Put,
                tree: 1,
                key: b"k".to_vec(),
                value: b"v".to_vec(),
            },
            Op {
                kind: Kind::RangeDelete,
                tree: 0,
                key: b"a".to_vec(),
                value: b"z".to_vec(),
            },
        ];
        let mut p = Vec::new();
        let refs: Vec<OpRef<'_>> = ops.iter().map(Op::borrowed).collect();
        encode_ops(&refs, &mut p);
        assert_eq!(decode(&p, Path::new("x"), 0).unwrap(), ops);
        for cut in 0..p.len() {
            assert!(decode(&p[..cut], Path::new("x"), 0).is_err());
        }
        let mut bad = p.clone();
        bad[4] = 9;
        assert!(matches!(
            decode(&bad, Path::new("x"), 3),
            Err(Error::Corruption { offset: 3, .. })
        ));
    }
}
