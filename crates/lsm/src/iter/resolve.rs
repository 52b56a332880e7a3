//! [`resolve`]: the value a reader sees for one key, from its versions.

use crate::key::{Kind, SeqNo};
use crate::options::MergeOperator;

/// The value a reader sees for one key, from its versions newest first (seq <= snapshot
/// already applied), the covering range deletion's seq, and the merge operator.
pub(crate) fn resolve<'a>(
    user_key: &[u8],
    versions: impl Iterator<Item = (SeqNo, Kind, &'a [u8])>,
    covered_below: SeqNo,
    merge: Option<&dyn MergeOperator>,
) -> Option<Vec<u8>> {
    let mut operands: Vec<&[u8]> = Vec::new();
    let mut base: Option<&[u8]> = None;
    let mut last_seq: Option<SeqNo> = None;
    for (seq, kind, value) in versions {
        if seq < covered_below {
            break;
        }
        // The same entry can be seen twice (a memtable and the table it was just flushed to).
        if last_seq == Some(seq) {
            continue;
        }
        last_seq = Some(seq);
        match kind {
            Kind::Put => {
                base = Some(value);
                break;
            }
            Kind::Delete => break,
            Kind::Merge => operands.push(value),
            Kind::RangeDelete => {}
        }
    }
    if operands.is_empty() {
        return base.map(<[u8]>::to_vec);
    }
    operands.reverse();
    Some(match merge {
        Some(op) => op.full_merge(user_key, base, &operands),
        // No operator configured: the newest operand stands as the value.
        None => operands.last().map(|v| v.to_vec()).unwrap_or_default(),
    })
}
