//! The memtable: a lock-free skiplist of internal keys, the newest writes of one tree.
//!
//! Writers insert under the database's write lock (one at a time, in sequence order); readers
//! never lock. Range deletions are kept twice: as entries (so a flush writes them to the table)
//! and in a small side list that reads consult.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering as AtomicOrdering};

use crossbeam::epoch;
use crossbeam_skiplist::base::SkipList;
use parking_lot::RwLock;

use crate::key::{self, Kind, SeqNo};
use crate::sstable::RangeTombstone;

/// One memtable entry: its internal key followed by its value, in one shared allocation
/// (an insert allocates once; cursors copy entries out by bumping a reference count). Ordered
/// by the internal key with [`key::compare`].
///
/// The first [`PREFIX_LEN`] bytes of the user key are also kept inline, in the skiplist node,
/// as a big-endian integer: a search compares those first and follows the pointer to the
/// shared allocation only on a tie, which saves a cache miss on most nodes it visits.
#[derive(Debug, Clone)]
pub(crate) struct MemEntry {
    prefix: u128,
    buf: Arc<[u8]>,
    key_len: usize,
}

/// How many leading user-key bytes an entry keeps inline.
const PREFIX_LEN: usize = 16;

/// The first [`PREFIX_LEN`] bytes of `user_key`, zero-padded, as a big-endian integer.
///
/// Ordering of prefixes agrees with bytewise ordering of the keys: where two prefixes differ,
/// the keys differ at that byte too, or the shorter key (padded with zero there) is a proper
/// prefix of the longer, so it sorts first. Equal prefixes decide nothing.
fn prefix_of(user_key: &[u8]) -> u128 {
    let mut b = [0u8; PREFIX_LEN];
    let n = user_key.len().min(PREFIX_LEN);
    if let (Some(dst), Some(src)) = (b.get_mut(..n), user_key.get(..n)) {
        dst.copy_from_slice(src);
    }
    u128::from_be_bytes(b)
}

/// Orders two internal keys whose user-key prefixes are given: by prefix, then in full.
fn compare_with_prefix(pa: u128, a: &[u8], pb: u128, b: &[u8]) -> Ordering {
    pa.cmp(&pb).then_with(|| key::compare(a, b))
}

impl MemEntry {
    fn new(user_key: &[u8], seq: SeqNo, kind: Kind, value: &[u8]) -> MemEntry {
        // Assembled in a reused per-thread buffer, then copied once into the shared
        // allocation (building a `Vec` and converting it would allocate and copy twice).
        SCRATCH.with_borrow_mut(|v| {
            v.clear();
            key::encode_into(v, user_key, seq, kind);
            let key_len = v.len();
            v.extend_from_slice(value);
            let buf = Arc::from(v.as_slice());
            if v.capacity() > SCRATCH_KEEP {
                *v = Vec::new();
            }
            MemEntry {
                prefix: prefix_of(user_key),
                buf,
                key_len,
            }
        })
    }

    /// The internal key.
    pub(crate) fn key(&self) -> &[u8] {
        self.buf.get(..self.key_len).unwrap_or_default()
    }

    pub(crate) fn value(&self) -> &[u8] {
        self.buf.get(self.key_len..).unwrap_or_default()
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A scratch buffer that grew past this (a huge value) is given back rather than kept.
const SCRATCH_KEEP: usize = 64 << 10;

/// Anything that can be ordered as an internal key: memtable entries and borrowed probes.
/// Lookups borrow entries as `dyn AsInternalKey`, so a probe needs no allocation.
pub(crate) trait AsInternalKey {
    fn internal_key(&self) -> &[u8];
    /// [`prefix_of`] the user key.
    fn prefix(&self) -> u128;
}

impl AsInternalKey for MemEntry {
    fn internal_key(&self) -> &[u8] {
        self.key()
    }
    fn prefix(&self) -> u128 {
        self.prefix
    }
}

/// A borrowed internal key to position a lookup.
struct Probe<'a> {
    ik: &'a [u8],
    prefix: u128,
}

impl<'a> Probe<'a> {
    fn new(ik: &'a [u8]) -> Probe<'a> {
        Probe {
            ik,
            prefix: prefix_of(key::user_key(ik)),
        }
    }
}

impl AsInternalKey for Probe<'_> {
    fn internal_key(&self) -> &[u8] {
        self.ik
    }
    fn prefix(&self) -> u128 {
        self.prefix
    }
}

impl<'a> Borrow<dyn AsInternalKey + 'a> for MemEntry {
    fn borrow(&self) -> &(dyn AsInternalKey + 'a) {
        self
    }
}

impl PartialEq for dyn AsInternalKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.prefix() == other.prefix() && self.internal_key() == other.internal_key()
    }
}

impl Eq for dyn AsInternalKey + '_ {}

impl Ord for dyn AsInternalKey + '_ {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_with_prefix(
            self.prefix(),
            self.internal_key(),
            other.prefix(),
            other.internal_key(),
        )
    }
}

impl PartialOrd for dyn AsInternalKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for MemEntry {
    fn eq(&self, other: &Self) -> bool {
        self.prefix == other.prefix && self.key() == other.key()
    }
}

impl Eq for MemEntry {}

impl Ord for MemEntry {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_with_prefix(self.prefix, self.key(), other.prefix, other.key())
    }
}

impl PartialOrd for MemEntry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Per-entry bookkeeping overhead counted against the memtable budget.
const ENTRY_OVERHEAD: usize = 64;

#[derive(Debug)]
pub(crate) struct Memtable {
    /// The lower-level skiplist (not `SkipMap`): walks borrow nodes under one epoch guard
    /// instead of taking and releasing a reference count per node, and nothing is ever
    /// removed from a memtable, so no node is freed while the memtable lives.
    map: SkipList<MemEntry, ()>,
    range_dels: RwLock<Vec<RangeTombstone>>,
    size: AtomicUsize,
    /// Lowest and highest sequence numbers inserted (u64::MAX / 0 while empty).
    min_seq: AtomicU64,
    max_seq: AtomicU64,
}

impl Default for Memtable {
    fn default() -> Self {
        Memtable::new()
    }
}

impl Memtable {
    pub(crate) fn new() -> Memtable {
        Memtable {
            map: SkipList::new(epoch::default_collector().clone()),
            range_dels: RwLock::new(Vec::new()),
            size: AtomicUsize::new(0),
            min_seq: AtomicU64::new(u64::MAX),
            max_seq: AtomicU64::new(0),
        }
    }

    pub(crate) fn insert(&self, user_key: &[u8], seq: SeqNo, kind: Kind, value: &[u8]) {
        if kind == Kind::RangeDelete {
            self.range_dels.write().push(RangeTombstone {
                start: user_key.to_vec(),
                end: value.to_vec(),
                seq,
            });
        }
        self.size.fetch_add(
            user_key.len() + value.len() + ENTRY_OVERHEAD,
            AtomicOrdering::Relaxed,
        );
        self.min_seq.fetch_min(seq, AtomicOrdering::Relaxed);
        self.max_seq.fetch_max(seq, AtomicOrdering::Relaxed);
        let guard = &epoch::pin();
        self.map
            .insert(MemEntry::new(user_key, seq, kind, value), (), guard)
            .release(guard);
    }

    pub(crate) fn approximate_size(&self) -> usize {
        self.size.load(AtomicOrdering::Relaxed)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(crate) fn min_seq(&self) -> Option<SeqNo> {
        let s = self.min_seq.load(AtomicOrdering::Relaxed);
        (s != u64::MAX).then_some(s)
    }

    /// Versions of `user_key` with seq <= `snapshot`, newest first, appended to `out` as
    /// (seq, kind, value). Stops after the first Put or Delete (older versions cannot matter).
    pub(crate) fn get_versions(
        &self,
        user_key: &[u8],
        snapshot: SeqNo,
        out: &mut Vec<(SeqNo, Kind, Vec<u8>)>,
    ) {
        // The probe sorts before every version of the key at or below the snapshot.
        key::with_internal(user_key, key::tag(snapshot, Kind::RangeDelete), |ik| {
            self.versions_from(ik, user_key, out);
        });
    }

    fn versions_from(&self, ik: &[u8], user_key: &[u8], out: &mut Vec<(SeqNo, Kind, Vec<u8>)>) {
        let probe = Probe::new(ik);
        let start: &dyn AsInternalKey = &probe;
        let guard = &epoch::pin();
        let mut cur = self
            .map
            .lower_bound::<dyn AsInternalKey>(Bound::Included(start), guard);
        while let Some(e) = cur {
            let Some(p) = key::parse(e.key().key()) else {
                cur = e.next();
                continue;
            };
            if p.user_key != user_key {
                break;
            }
            if p.kind != Kind::RangeDelete {
                out.push((p.seq, p.kind, e.key().value().to_vec()));
                if p.kind != Kind::Merge {
                    break;
                }
            }
            cur = e.next();
        }
    }

    /// Range tombstones with seq <= `snapshot`.
    pub(crate) fn range_deletes(&self, snapshot: SeqNo, out: &mut Vec<RangeTombstone>) {
        out.extend(
            self.range_dels
                .read()
                .iter()
                .filter(|t| t.seq <= snapshot)
                .cloned(),
        );
    }

    pub(crate) fn has_range_deletes(&self) -> bool {
        !self.range_dels.read().is_empty()
    }

    /// Replaces `out` with up to `n` entries after (or from, when `inclusive`) `from`, in
    /// order, none past the user-key bound `hi`. Returns true when the walk reached the end of
    /// the memtable or the bound (no further entry to fetch in this direction).
    pub(crate) fn chunk_after(
        &self,
        from: Option<&[u8]>,
        inclusive: bool,
        n: usize,
        hi: Bound<&[u8]>,
        out: &mut Vec<MemEntry>,
    ) -> bool {
        out.clear();
        let probe = from.map(Probe::new);
        let lo = match &probe {
            None => Bound::Unbounded,
            Some(p) if inclusive => Bound::Included(p as &dyn AsInternalKey),
            Some(p) => Bound::Excluded(p as &dyn AsInternalKey),
        };
        let guard = &epoch::pin();
        let mut cur = self.map.lower_bound::<dyn AsInternalKey>(lo, guard);
        while let Some(e) = cur {
            if !below_hi(hi, key::user_key(e.key().key())) {
                return true;
            }
            if out.len() >= n {
                return false;
            }
            out.push(e.key().clone());
            cur = e.next();
        }
        true
    }

    /// Replaces `out` with up to `n` entries before (or up to, when `inclusive`) `to`, in
    /// reverse order, none before the user-key bound `lo`. Returns true when the walk reached
    /// the start of the memtable or the bound.
    pub(crate) fn chunk_before(
        &self,
        to: Option<&[u8]>,
        inclusive: bool,
        n: usize,
        lo: Bound<&[u8]>,
        out: &mut Vec<MemEntry>,
    ) -> bool {
        out.clear();
        let probe = to.map(Probe::new);
        let hi = match &probe {
            None => Bound::Unbounded,
            Some(p) if inclusive => Bound::Included(p as &dyn AsInternalKey),
            Some(p) => Bound::Excluded(p as &dyn AsInternalKey),
        };
        let guard = &epoch::pin();
        let mut cur = self.map.upper_bound::<dyn AsInternalKey>(hi, guard);
        while let Some(e) = cur {
            if !above_lo(lo, key::user_key(e.key().key())) {
                return true;
            }
            if out.len() >= n {
                return false;
            }
            out.push(e.key().clone());
            cur = e.prev();
        }
        true
    }
}

/// Whether `user_key` is within the upper bound `hi`.
pub(crate) fn below_hi(hi: Bound<&[u8]>, user_key: &[u8]) -> bool {
    match hi {
        Bound::Unbounded => true,
        Bound::Included(h) => user_key <= h,
        Bound::Excluded(h) => user_key < h,
    }
}

/// Whether `user_key` is within the lower bound `lo`.
pub(crate) fn above_lo(lo: Bound<&[u8]>, user_key: &[u8]) -> bool {
    match lo {
        Bound::Unbounded => true,
        Bound::Included(l) => user_key >= l,
        Bound::Excluded(l) => user_key > l,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::MAX_SEQ;
    use proptest::prelude::*;

    /// User keys from a tiny alphabet with zero bytes, around the inline prefix's length, so
    /// that prefix ties, proper prefixes and zero padding all come up.
    fn user_key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(0u8), Just(1u8), Just(0xff)],
            0..PREFIX_LEN + 6,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2000,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x3e3_7ab1e),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Entries and probes, compared through the inline prefixes, order exactly as their
        /// internal keys do under [`key::compare`].
        #[test]
        fn prefix_order_is_internal_key_order(
            a in user_key(), sa in 0..4u64,
            b in user_key(), sb in 0..4u64,
        ) {
            let ea = MemEntry::new(&a, sa, Kind::Put, b"va");
            let eb = MemEntry::new(&b, sb, Kind::Delete, b"");
            let expected = key::compare(ea.key(), eb.key());
            prop_assert_eq!(ea.cmp(&eb), expected);
            prop_assert_eq!(ea == eb, expected == Ordering::Equal);
            let kb = key::encode(&b, sb, Kind::Delete);
            let probe = Probe::new(&kb);
            let (da, dp): (&dyn AsInternalKey, &dyn AsInternalKey) = (&ea, &probe);
            prop_assert_eq!(da.cmp(dp), expected);
            prop_assert_eq!(dp.cmp(da), expected.reverse());
        }

        /// A memtable filled in random order walks back out in [`key::compare`] order.
        #[test]
        fn a_walk_is_sorted_by_internal_key(keys in proptest::collection::vec(user_key(), 1..60)) {
            let m = Memtable::new();
            let mut expected = Vec::new();
            for (i, k) in keys.iter().enumerate() {
                m.insert(k, i as u64 + 1, Kind::Put, b"v");
                expected.push(key::encode(k, i as u64 + 1, Kind::Put));
            }
            expected.sort_by(|x, y| key::compare(x, y));
            let mut out = Vec::new();
            prop_assert!(m.chunk_after(None, false, usize::MAX, Bound::Unbounded, &mut out));
            let walked: Vec<Vec<u8>> = out.iter().map(|e| e.key().to_vec()).collect();
            prop_assert_eq!(walked, expected);
        }
    }

    #[test]
    fn a_read_sees_the_newest_version_at_its_snapshot() {
        let m = Memtable::new();
        m.insert(b"k", 1, Kind::Put, b"one");
        m.insert(b"k", 3, Kind::Put, b"three");
        m.insert(b"j", 2, Kind::Put, b"j");
        let mut out = Vec::new();
        m.get_versions(b"k", 2, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].2, b"one");
        out.clear();
        m.get_versions(b"k", 10, &mut out);
        assert_eq!(out[0].2, b"three");
        out.clear();
        m.get_versions(b"k", 0, &mut out);
        assert!(out.is_empty());
        assert_eq!(m.min_seq(), Some(1));
    }

    #[test]
    fn keys_too_long_for_the_stack_probe_are_found_too() {
        let m = Memtable::new();
        let long = vec![b'x'; 300];
        let mut longer = long.clone();
        longer.push(b'y');
        m.insert(&long, 1, Kind::Put, b"long");
        m.insert(&longer, 2, Kind::Put, b"longer");
        let mut out = Vec::new();
        m.get_versions(&long, 10, &mut out);
        assert_eq!(out, vec![(1, Kind::Put, b"long".to_vec())]);
        out.clear();
        m.get_versions(&longer, 1, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn merge_operands_are_collected_down_to_a_put() {
        let m = Memtable::new();
        m.insert(b"k", 1, Kind::Put, b"a");
        m.insert(b"k", 2, Kind::Merge, b"b");
        m.insert(b"k", 3, Kind::Merge, b"c");
        let mut out = Vec::new();
        m.get_versions(b"k", 10, &mut out);
        let vals: Vec<_> = out.iter().map(|(_, _, v)| v.clone()).collect();
        assert_eq!(vals, vec![b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]);
    }

    #[test]
    fn chunks_walk_forward_and_backward() {
        let m = Memtable::new();
        for (i, k) in [b"a", b"b", b"c", b"d"].iter().enumerate() {
            m.insert(*k, i as u64 + 1, Kind::Put, b"v");
        }
        let (mut first, mut rest, mut back) = (Vec::new(), Vec::new(), Vec::new());
        assert!(!m.chunk_after(None, false, 2, Bound::Unbounded, &mut first));
        assert_eq!(key::user_key(first[1].key()), b"b");
        assert!(m.chunk_after(Some(first[1].key()), false, 10, Bound::Unbounded, &mut rest));
        assert_eq!(rest.len(), 2);
        assert!(m.chunk_before(Some(rest[0].key()), false, 10, Bound::Unbounded, &mut back));
        assert_eq!(key::user_key(back[0].key()), b"b");
        assert_eq!(back[0].value(), b"v");
        assert_eq!(back.len(), 2);
    }

    #[test]
    fn chunks_stop_at_the_bounds_and_say_so() {
        let m = Memtable::new();
        for (i, k) in [b"a", b"b", b"c", b"d", b"e"].iter().enumerate() {
            m.insert(*k, i as u64 + 1, Kind::Put, b"v");
        }
        let mut out = Vec::new();
        let from = key::encode(b"b", MAX_SEQ, Kind::RangeDelete);
        // Two entries in [b, c]: the walk ends at the bound although `n` allows more.
        assert!(m.chunk_after(Some(&from), true, 8, Bound::Included(b"c"), &mut out));
        let keys: Vec<&[u8]> = out.iter().map(|e| key::user_key(e.key())).collect();
        assert_eq!(keys, vec![&b"b"[..], b"c"]);
        // Exactly `n` entries before the bound: still reported as ended.
        assert!(m.chunk_after(Some(&from), true, 2, Bound::Excluded(b"d"), &mut out));
        // `n` reached with more in range: not ended.
        assert!(!m.chunk_after(Some(&from), true, 2, Bound::Unbounded, &mut out));
        let to = key::encode(b"d", 0, Kind::Delete);
        assert!(m.chunk_before(Some(&to), true, 8, Bound::Excluded(b"b"), &mut out));
        let keys: Vec<&[u8]> = out.iter().map(|e| key::user_key(e.key())).collect();
        assert_eq!(keys, vec![&b"d"[..], b"c"]);
    }
}
