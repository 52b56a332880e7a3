//! The byte layout of one commit log segment, and the scan that recovery runs over it.
//!
//! ```text
//! segment header (24 bytes, little-endian):
//!   magic u32 = 0x474c_4e49 ("INLG") | version u32 = 1 | segment id u64 | xxh3-64 of the first 16 bytes
//! then records, back to back:
//!   checksum u64 (xxh3-64 of every following byte of the record) | payload length u32 | seq u64 | payload
//! ```
//!
//! A record is one write batch (see `batch.rs` for the payload). A bad record at the end of the
//! newest segment is a torn write from a crash and is cut off; a bad record followed by a valid
//! one is corruption and is reported with the file and offset.

use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};
use crate::key::SeqNo;

pub(crate) const MAGIC: u32 = 0x474c_4e49;
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: usize = 24;
pub(crate) const RECORD_HEADER_LEN: usize = 20;
/// No batch may exceed this; a larger length field is damage, not a record.
pub(crate) const MAX_RECORD_LEN: usize = 1 << 30;

/// Encodes a segment header.
pub(crate) fn header(segment_id: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let mut w = Vec::with_capacity(HEADER_LEN);
    w.extend_from_slice(&MAGIC.to_le_bytes());
    w.extend_from_slice(&VERSION.to_le_bytes());
    w.extend_from_slice(&segment_id.to_le_bytes());
    let sum = xxh3_64(&w);
    w.extend_from_slice(&sum.to_le_bytes());
    h.copy_from_slice(&w);
    h
}

/// Appends one record holding `payload` written at `seq` to `out`.
#[cfg(test)]
pub(crate) fn encode_record(out: &mut Vec<u8>, seq: SeqNo, payload: &[u8]) {
    encode_record_with(out, seq, |out| out.extend_from_slice(payload));
}

/// Appends one record at `seq` whose payload `write_payload` appends to `out` in place.
pub(crate) fn encode_record_with(
    out: &mut Vec<u8>,
    seq: SeqNo,
    write_payload: impl FnOnce(&mut Vec<u8>),
) {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEADER_LEN]);
    write_payload(out);
    let len = (out.len() - start - RECORD_HEADER_LEN) as u32;
    if let Some(slot) = out.get_mut(start + 8..start + 12) {
        slot.copy_from_slice(&len.to_le_bytes());
    }
    if let Some(slot) = out.get_mut(start + 12..start + RECORD_HEADER_LEN) {
        slot.copy_from_slice(&seq.to_le_bytes());
    }
    let sum = xxh3_64(out.get(start + 8..).unwrap_or(&[]));
    if let Some(slot) = out.get_mut(start..start + 8) {
        slot.copy_from_slice(&sum.to_le_bytes());
    }
}

/// How a scan of a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ScanEnd {
    /// Bytes of the segment up to the end of the last valid record.
    pub(crate) valid_len: u64,
    /// Whether bytes after `valid_len` were ignored as a torn tail.
    pub(crate) torn: bool,
    /// Highest sequence number of a record in the segment (0 when none).
    pub(crate) max_seq: SeqNo,
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

enum Rec<'a> {
    Ok {
        seq: SeqNo,
        payload: &'a [u8],
        next: usize,
    },
    /// Not enough bytes left for the record.
    Short,
    BadLength,
    BadChecksum {
        expected: u64,
        actual: u64,
    },
}

fn record_at(b: &[u8], at: usize) -> Rec<'_> {
    let (Some(sum), Some(len), Some(seq)) = (le_u64(b, at), le_u32(b, at + 8), le_u64(b, at + 12))
    else {
        return Rec::Short;
    };
    let len = len as usize;
    if len > MAX_RECORD_LEN {
        return Rec::BadLength;
    }
    let end = at + RECORD_HEADER_LEN + len;
    let (Some(body), Some(payload)) = (b.get(at + 8..end), b.get(at + RECORD_HEADER_LEN..end))
    else {
        return Rec::Short;
    };
    let actual = xxh3_64(body);
    if actual != sum {
        return Rec::BadChecksum {
            expected: sum,
            actual,
        };
    }
    Rec::Ok {
        seq,
        payload,
        next: end,
    }
}

/// Checks the segment header; returns the segment id.
pub(crate) fn check_header(b: &[u8], path: &Path) -> Result<u64> {
    let corrupt = |offset: u64, reason: &'static str| Error::Corruption {
        file: path.to_owned(),
        offset,
        reason,
    };
    let (Some(magic), Some(version), Some(id), Some(sum)) =
        (le_u32(b, 0), le_u32(b, 4), le_u64(b, 8), le_u64(b, 16))
    else {
        return Err(corrupt(0, "commit log segment shorter than its header"));
    };
    if magic != MAGIC {
        return Err(corrupt(0, "bad commit log magic"));
    }
    let actual = xxh3_64(b.get(..16).unwrap_or(&[]));
    if actual != sum {
        return Err(Error::ChecksumMismatch {
            file: path.to_owned(),
            offset: 0,
            expected: sum,
            actual,
        });
    }
    if version != VERSION {
        return Err(Error::UnsupportedVersion {
            file: path.to_owned(),
            found: version,
            supported: VERSION,
        });
    }
    Ok(id)
}

/// Scans the records of a segment (after its header), calling `each(seq, payload, offset)` for
/// every valid record in order. Sequence numbers must increase. A damaged record with no valid
/// record after it is a torn tail when `is_last` (reported in the result), corruption otherwise.
pub(crate) fn scan(
    b: &[u8],
    path: &Path,
    is_last: bool,
    mut each: impl FnMut(SeqNo, &[u8], u64) -> Result<()>,
) -> Result<ScanEnd> {
    let mut at = HEADER_LEN;
    let mut last_seq: Option<SeqNo> = None;
    loop {
        if at == b.len() {
            return Ok(ScanEnd {
                valid_len: at as u64,
                torn: false,
                max_seq: last_seq.unwrap_or(0),
            });
        }
        let bad = match record_at(b, at) {
            Rec::Ok { seq, payload, next } => {
                if last_seq.is_some_and(|l| seq <= l) {
                    return Err(Error::Corruption {
                        file: path.to_owned(),
                        offset: at as u64,
                        reason: "commit log sequence numbers go backwards",
                    });
                }
                each(seq, payload, at as u64)?;
                last_seq = Some(seq);
                at = next;
                continue;
            }
            other => other,
        };
        // A damaged record: torn tail or corruption? Look for any valid record further on.
        if valid_record_after(b, at, last_seq) || !is_last {
            return Err(match bad {
                Rec::BadChecksum { expected, actual } => Error::ChecksumMismatch {
                    file: path.to_owned(),
                    offset: at as u64,
                    expected,
                    actual,
                },
                Rec::BadLength => Error::Corruption {
                    file: path.to_owned(),
                    offset: at as u64,
                    reason: "impossible commit log record length",
                },
                _ => Error::Corruption {
                    file: path.to_owned(),
                    offset: at as u64,
                    reason: "truncated commit log record in an older segment",
                },
            });
        }
        return Ok(ScanEnd {
            valid_len: at as u64,
            torn: true,
            max_seq: last_seq.unwrap_or(0),
        });
    }
}

/// Whether a checksum-valid record with a plausible sequence number starts anywhere after `at`.
fn valid_record_after(b: &[u8], at: usize, last_seq: Option<SeqNo>) -> bool {
    let floor = last_seq.unwrap_or(0);
    let mut off = at + 1;
    while off + RECORD_HEADER_LEN <= b.len() {
        // Cheap filters first: a plausible sequence number and length, then the checksum.
        if let (Some(seq), Some(len)) = (le_u64(b, off + 12), le_u32(b, off + 8))
            && seq > floor
            && (last_seq.is_none() || seq - floor < (1 << 40))
            && seq < (1 << 56)
            && (len as usize) <= b.len() - off - RECORD_HEADER_LEN
            && matches!(record_at(b, off), Rec::Ok { .. })
        {
            return true;
        }
        off += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(records: &[(u64, &[u8])]) -> Vec<u8> {
        let mut b = header(7).to_vec();
        for (seq, p) in records {
            encode_record(&mut b, *seq, p);
        }
        b
    }

    type Records = Vec<(u64, Vec<u8>)>;

    fn collect(b: &[u8], last: bool) -> Result<(Records, ScanEnd)> {
        let mut out = Vec::new();
        let end = scan(b, Path::new("seg"), last, |s, p, _| {
            out.push((s, p.to_vec()));
            Ok(())
        })?;
        Ok((out, end))
    }

    #[test]
    fn records_read_back_in_order() {
        let b = segment(&[(1, b"one"), (2, b""), (5, b"three")]);
        assert_eq!(check_header(&b, Path::new("seg")).unwrap(), 7);
        let (recs, end) = collect(&b, true).unwrap();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[2], (5, b"three".to_vec()));
        assert_eq!(end.valid_len, b.len() as u64);
        assert!(!end.torn);
        assert_eq!(end.max_seq, 5);
    }

    #[test]
    fn a_torn_tail_is_cut_at_the_last_valid_record() {
        let full = segment(&[(1, b"one"), (2, b"two")]);
        let keep = segment(&[(1, b"one")]).len();
        for cut in keep + 1..full.len() {
            let (recs, end) = collect(&full[..cut], true).unwrap();
            assert_eq!(recs.len(), 1, "cut at {cut}");
            assert_eq!(end.valid_len, keep as u64);
            assert!(end.torn);
        }
    }

    #[test]
    fn a_damaged_record_followed_by_a_valid_one_is_reported_with_its_offset() {
        let mut b = segment(&[(1, b"one"), (2, b"two"), (3, b"three")]);
        let second = segment(&[(1, b"one")]).len();
        b[second + RECORD_HEADER_LEN] ^= 0xff;
        let err = collect(&b, true).unwrap_err();
        assert!(
            matches!(err, Error::ChecksumMismatch { offset, .. } if offset == second as u64),
            "{err:?}"
        );
    }

    #[test]
    fn a_torn_record_in_an_older_segment_is_corruption() {
        let b = segment(&[(1, b"one"), (2, b"two")]);
        assert!(matches!(
            collect(&b[..b.len() - 1], false),
            Err(Error::Corruption { .. })
        ));
    }

    #[test]
    fn a_bad_header_is_an_error_not_a_panic() {
        assert!(check_header(b"short", Path::new("s")).is_err());
        let mut b = header(1).to_vec();
        b[0] ^= 1;
        assert!(matches!(
            check_header(&b, Path::new("s")),
            Err(Error::Corruption { .. })
        ));
        let mut b = header(1).to_vec();
        b[9] ^= 1;
        assert!(matches!(
            check_header(&b, Path::new("s")),
            Err(Error::ChecksumMismatch { .. })
        ));
    }
}
