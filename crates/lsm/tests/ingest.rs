//! Whole table files from one tree into another (`Tree::files_within`, `Tree::ingest`): the
//! receiving tree against a `BTreeMap` model under random writes, flushes, compactions,
//! reopens and ingests; refusal of damaged and out-of-range files; crash safety under failed
//! writes and syncs (`FaultyVfs`, then `MemVfs::crash`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ilion_lsm::vfs::{FaultyVfs, MemVfs, Vfs};
use ilion_lsm::{
    CompactionConfig, Db, Error, IngestOptions, LiveFile, MergeOperator, SyncMode, Tree,
    TreeOptions, WriteBatch,
};
use proptest::prelude::*;

/// A commutative merge: the greatest value wins (as storage's reconciliation does).
struct Max;
impl MergeOperator for Max {
    fn full_merge(&self, _key: &[u8], existing: Option<&[u8]>, operands: &[&[u8]]) -> Vec<u8> {
        let mut best = existing.unwrap_or_default();
        for o in operands {
            if *o > best {
                best = o;
            }
        }
        best.to_vec()
    }
}

fn options(merge: bool) -> TreeOptions {
    TreeOptions {
        // Never compacts on its own: each flush stays one file the test can find.
        compaction: CompactionConfig::SizeTiered {
            min_threshold: 64,
            max_threshold: 64,
            bucket_low: 0.5,
            bucket_high: 1.5,
            min_sstable_size: 0,
        },
        merge_operator: merge.then(|| Arc::new(Max) as Arc<dyn MergeOperator>),
        ..TreeOptions::default()
    }
}

fn open(vfs: Arc<dyn Vfs>, dir: &str, merge: bool) -> Db {
    Db::builder()
        .memtable_size(64 << 10)
        .block_size(256)
        .sync_mode(SyncMode::Batch)
        .default_tree_options(options(merge))
        .open_with_vfs(vfs, Path::new(dir))
        .unwrap()
}

fn key(k: u8) -> Vec<u8> {
    format!("k{k:03}").into_bytes()
}

/// The newest file of `tree` (the one the last flush wrote).
fn newest_file(tree: &Tree) -> LiveFile {
    let files = tree.files_within(b"", None).unwrap();
    files.into_iter().max_by_key(LiveFile::id).unwrap()
}

/// The file's bytes, read in small chunks as a stream would.
fn file_bytes(f: &LiveFile) -> Vec<u8> {
    let mut out = Vec::new();
    while (out.len() as u64) < f.len() {
        let chunk = f.read_at(out.len() as u64, 100);
        assert!(!chunk.is_empty());
        out.extend_from_slice(chunk);
    }
    assert!(f.read_at(f.len(), 100).is_empty());
    out
}

fn contents(tree: &Tree) -> BTreeMap<Vec<u8>, Vec<u8>> {
    tree.iter().map(Result::unwrap).collect()
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    DeleteRange(u8, u8),
    Flush,
    Compact,
    Reopen,
    /// Written to the source tree as one batch, flushed to one file, ingested.
    Ingest(Vec<(u8, Option<u8>)>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0u8..40, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => (0u8..40).prop_map(Op::Delete),
        1 => (0u8..40, 0u8..40).prop_map(|(a, b)| Op::DeleteRange(a, b)),
        2 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
        4 => proptest::collection::vec((0u8..40, proptest::option::of(any::<u8>())), 1..12)
            .prop_map(Op::Ingest),
    ]
}

/// Writes `batch` to `src` as one batch, flushes it to one file, and copies that file into
/// `vfs` at `path`. Returns the batch's effect (the last write of each key).
fn prepare(
    src: &Db,
    src_tree: &Tree,
    batch: &[(u8, Option<u8>)],
    vfs: &MemVfs,
    path: &Path,
    merge: bool,
) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    let mut b = WriteBatch::new();
    let mut effect = BTreeMap::new();
    for (k, v) in batch {
        match (v, merge) {
            (Some(v), false) => b.put(src_tree, &key(*k), &[*v]),
            (Some(v), true) => b.merge(src_tree, &key(*k), &[*v]),
            (None, _) => b.delete(src_tree, &key(*k)),
        }
        effect.insert(key(*k), v.map(|v| vec![v]));
    }
    src.write(b).unwrap();
    src_tree.flush().unwrap();
    vfs.set_contents(path, file_bytes(&newest_file(src_tree)));
    effect
}

fn run(ops: &[Op]) {
    let src_vfs = MemVfs::new();
    let src = open(Arc::new(src_vfs), "/src", false);
    let src_tree = src.tree("source").unwrap();
    let mem = MemVfs::strict();
    let mut db = open(Arc::new(mem.clone()), "/db", false);
    let mut t = db.tree("t").unwrap();
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let incoming = PathBuf::from("/db/incoming.sst");
    for op in ops {
        match op {
            Op::Put(k, v) => {
                t.put(&key(*k), &[*v]).unwrap();
                model.insert(key(*k), vec![*v]);
            }
            Op::Delete(k) => {
                t.delete(&key(*k)).unwrap();
                model.remove(&key(*k));
            }
            Op::DeleteRange(a, b) => {
                let (a, b) = (key(*a.min(b)), key(*a.max(b)));
                t.delete_range(&a, &b).unwrap();
                model.retain(|k, _| !(a <= *k && *k < b));
            }
            Op::Flush => t.flush().unwrap(),
            Op::Compact => t.compact_range(None, None).unwrap(),
            Op::Reopen => {
                drop(t);
                drop(db);
                mem.crash();
                db = open(Arc::new(mem.clone()), "/db", false);
                t = db.tree("t").unwrap();
            }
            Op::Ingest(batch) => {
                let effect = prepare(&src, &src_tree, batch, &mem, &incoming, false);
                let lo = effect.keys().next().unwrap().clone();
                let mut hi = effect.keys().next_back().unwrap().clone();
                hi.push(0);
                let opts = IngestOptions {
                    start: lo,
                    end: Some(hi),
                    as_merge_operands: false,
                };
                let done = t.ingest(&incoming, &opts).unwrap();
                assert_eq!(done.entries, effect.len() as u64);
                for (k, v) in effect {
                    match v {
                        Some(v) => model.insert(k, v),
                        None => model.remove(&k),
                    };
                }
            }
        }
        assert_eq!(contents(&t), model, "after {op:?}");
    }
    for k in 0..40 {
        assert_eq!(t.get(&key(k)).unwrap(), model.get(&key(k)).cloned());
    }
    drop(t);
    drop(db);
    mem.crash();
    let db = open(Arc::new(mem.clone()), "/db", false);
    assert_eq!(contents(&db.tree("t").unwrap()), model, "after a crash");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn ingested_files_read_as_the_newest_writes(ops in proptest::collection::vec(op(), 1..40)) {
        run(&ops);
    }

    #[test]
    fn files_ingested_as_merge_operands_combine_with_what_the_tree_holds(
        writes in proptest::collection::vec((0u8..30, any::<u8>(), any::<bool>()), 1..60),
    ) {
        let src = open(Arc::new(MemVfs::new()), "/src", true);
        let src_tree = src.tree("source").unwrap();
        let mem = MemVfs::strict();
        let db = open(Arc::new(mem.clone()), "/db", true);
        let t = db.tree("t").unwrap();
        let mut model: BTreeMap<Vec<u8>, u8> = BTreeMap::new();
        let incoming = PathBuf::from("/db/incoming.sst");
        let mut pending = Vec::new();
        let merge_into = |model: &mut BTreeMap<Vec<u8>, u8>, k: u8, v: u8| {
            let e = model.entry(key(k)).or_insert(v);
            *e = (*e).max(v);
        };
        for (k, v, to_source) in writes {
            if to_source {
                pending.push((k, Some(v)));
            } else {
                t.merge(&key(k), &[v]).unwrap();
                merge_into(&mut model, k, v);
            }
            if pending.len() == 5 {
                prepare(&src, &src_tree, &pending, &mem, &incoming, true);
                let opts = IngestOptions { as_merge_operands: true, ..IngestOptions::default() };
                t.ingest(&incoming, &opts).unwrap();
                for (k, v) in pending.drain(..) {
                    merge_into(&mut model, k, v.unwrap_or_default());
                }
            }
        }
        let got: BTreeMap<Vec<u8>, u8> = contents(&t).into_iter().map(|(k, v)| (k, v[0])).collect();
        prop_assert_eq!(got, model);
    }
}

/// A source with files inside `[k010, k020)`, one straddling it, and one outside.
fn source_with_files() -> (Db, Tree) {
    let src = open(Arc::new(MemVfs::new()), "/src", false);
    let t = src.tree("source").unwrap();
    for keys in [10u8..15, 15..20, 5..25, 30..35] {
        for k in keys {
            t.put(&key(k), b"v").unwrap();
        }
        t.flush().unwrap();
    }
    (src, t)
}

#[test]
fn only_files_wholly_inside_the_range_and_untouched_by_range_deletions_are_listed() {
    let (_src, t) = source_with_files();
    let inside = t.files_within(&key(10), Some(&key(20))).unwrap();
    let ranges: Vec<(Vec<u8>, Vec<u8>)> = inside
        .iter()
        .map(|f| (f.smallest_key().to_vec(), f.largest_key().to_vec()))
        .collect();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert!(ranges.contains(&(key(10), key(14))));
    assert!(ranges.contains(&(key(15), key(19))));
    assert!(
        inside
            .iter()
            .all(|f| f.entry_count() == 5 && f.deletion_count() == 0 && !f.is_empty())
    );
    // A range deletion in the memtable touching one of them takes it off the list.
    t.delete_range(&key(12), &key(13)).unwrap();
    let inside = t.files_within(&key(10), Some(&key(20))).unwrap();
    assert_eq!(inside.len(), 1);
    assert_eq!(inside[0].smallest_key(), key(15));
}

#[test]
fn a_listed_file_stays_readable_after_compaction_replaced_it() {
    let (_src, t) = source_with_files();
    let f = t.files_within(&key(10), Some(&key(15))).unwrap().remove(0);
    let before = file_bytes(&f);
    t.compact_range(None, None).unwrap();
    assert!(t.files_within(&key(10), Some(&key(15))).unwrap().is_empty());
    assert_eq!(file_bytes(&f), before);
}

fn receiver() -> (MemVfs, Db, Tree) {
    let mem = MemVfs::strict();
    let db = open(Arc::new(mem.clone()), "/db", false);
    let t = db.tree("t").unwrap();
    for k in 0..40 {
        t.put(&key(k), b"old").unwrap();
    }
    t.flush().unwrap();
    (mem, db, t)
}

fn incoming_file(mem: &MemVfs) -> PathBuf {
    let (_src, st) = source_with_files();
    let f = st.files_within(&key(10), Some(&key(15))).unwrap().remove(0);
    let path = PathBuf::from("/db/incoming.sst");
    mem.set_contents(&path, file_bytes(&f));
    path
}

#[test]
fn a_damaged_file_is_refused_with_its_name_and_the_tree_is_unchanged() {
    let (mem, _db, t) = receiver();
    let path = incoming_file(&mem);
    let good = mem.contents(&path).unwrap();
    let before = contents(&t);
    // A flipped byte in the first data block: its checksum fails.
    let mut bad = good.clone();
    bad[3] ^= 0x10;
    mem.set_contents(&path, bad);
    let err = t.ingest(&path, &IngestOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::ChecksumMismatch { file, offset: 0, .. } if file == &path),
        "{err:?}"
    );
    // Not a table at all.
    mem.set_contents(&path, b"not a table file, just some bytes that are long enough to hold a footer of eighty-eight bytes".to_vec());
    let err = t.ingest(&path, &IngestOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Corruption { file, reason, .. } if file == &path && reason.contains("magic")),
        "{err:?}"
    );
    // Cut short.
    mem.set_contents(&path, good[..good.len() - 1].to_vec());
    assert!(t.ingest(&path, &IngestOptions::default()).is_err());
    assert_eq!(contents(&t), before);
    assert_eq!(
        t.files_within(b"", None).unwrap().len(),
        1,
        "no file was added"
    );
}

#[test]
fn a_file_with_keys_outside_the_expected_range_is_refused() {
    let (mem, _db, t) = receiver();
    let path = incoming_file(&mem);
    let opts = IngestOptions {
        start: key(11),
        end: Some(key(20)),
        as_merge_operands: false,
    };
    let err = t.ingest(&path, &opts).unwrap_err();
    assert!(
        matches!(&err, Error::IngestRefused { file, reason } if file == &path && reason.contains("outside")),
        "{err:?}"
    );
    // Deletions cannot be merge operands; a tree without a merge operator takes none.
    let opts = IngestOptions {
        as_merge_operands: true,
        ..IngestOptions::default()
    };
    assert!(matches!(
        t.ingest(&path, &opts),
        Err(Error::InvalidOption {
            option: "as_merge_operands",
            ..
        })
    ));
}

#[test]
fn an_ingested_file_is_newer_than_an_earlier_range_deletion_of_the_receiver() {
    let (mem, _db, t) = receiver();
    t.delete_range(&key(0), &key(40)).unwrap();
    let path = incoming_file(&mem);
    let done = t.ingest(&path, &IngestOptions::default()).unwrap();
    assert_eq!(done.entries, 5);
    assert_eq!(
        done.last_seq - done.first_seq,
        4,
        "one sequence number per entry"
    );
    let keys: Vec<Vec<u8>> = contents(&t).into_keys().collect();
    assert_eq!(keys, (10..15).map(key).collect::<Vec<_>>());
    // Writes after the ingest are newer still.
    t.put(&key(10), b"later").unwrap();
    assert_eq!(t.get(&key(10)).unwrap(), Some(b"later".to_vec()));
    // The incoming file itself is left alone.
    assert!(mem.contents(&path).is_some());
}

#[test]
fn a_failed_write_or_sync_during_an_ingest_leaves_the_tree_as_before_or_with_all_of_it() {
    let mut failed = 0;
    for n in 1..40u64 {
        for fail_sync in [false, true] {
            let mem = MemVfs::strict();
            let faulty = FaultyVfs::new(mem.clone());
            let db = open(Arc::new(faulty.clone()), "/db", false);
            let t = db.tree("t").unwrap();
            for k in 0..40 {
                t.put(&key(k), b"old").unwrap();
            }
            t.flush().unwrap();
            t.put(&key(12), b"unflushed").unwrap();
            let before = contents(&t);
            let path = incoming_file(&mem);
            if fail_sync {
                faulty.fail_nth_sync(n);
            } else {
                faulty.fail_nth_write(n);
            }
            let result = t.ingest(&path, &IngestOptions::default());
            failed += usize::from(result.is_err());
            faulty.heal();
            drop(t);
            drop(db);
            mem.crash();
            let db = open(Arc::new(mem.clone()), "/db", false);
            let got = contents(&db.tree("t").unwrap());
            let mut after = before.clone();
            for k in 10..15 {
                after.insert(key(k), b"v".to_vec());
            }
            if result.is_ok() {
                assert_eq!(
                    got, after,
                    "n {n}, sync {fail_sync}: an ingest that succeeded"
                );
            } else {
                assert!(
                    got == before || got == after,
                    "n {n}, sync {fail_sync}: half an ingest: {got:?}"
                );
            }
        }
    }
    assert!(failed > 4, "the faults hit the ingest ({failed} failed)");
}

#[test]
fn range_deletions_in_an_ingested_file_delete_the_receivers_older_keys_in_their_range() {
    let src_vfs = MemVfs::new();
    let src = open(Arc::new(src_vfs.clone()), "/src", false);
    let st = src.tree("source").unwrap();
    for k in 10..15 {
        st.put(&key(k), b"v").unwrap();
    }
    st.delete_range(&key(11), &key(13)).unwrap();
    st.put(&key(12), b"after").unwrap();
    st.flush().unwrap();
    assert!(
        st.files_within(b"", None).unwrap().is_empty(),
        "a file holding a range deletion is not offered"
    );
    let mut names = src_vfs.list_dir(Path::new("/src")).unwrap();
    names.retain(|n| n.ends_with(".sst"));
    names.sort();
    let newest = Path::new("/src").join(names.last().unwrap());
    let (mem, _db, t) = receiver();
    let path = PathBuf::from("/db/incoming.sst");
    mem.set_contents(&path, src_vfs.contents(&newest).unwrap());
    t.ingest(&path, &IngestOptions::default()).unwrap();
    let got = contents(&t);
    let mut want: BTreeMap<Vec<u8>, Vec<u8>> = (0..40).map(|k| (key(k), b"old".to_vec())).collect();
    for k in [10, 13, 14] {
        want.insert(key(k), b"v".to_vec());
    }
    want.remove(&key(11));
    want.insert(key(12), b"after".to_vec());
    assert_eq!(got, want);
}

#[test]
fn ingests_while_other_threads_write_and_read_lose_and_hide_nothing() {
    let src = open(Arc::new(MemVfs::new()), "/src", false);
    let st = src.tree("source").unwrap();
    let mem = MemVfs::new();
    let db = Db::builder()
        .memtable_size(16 << 10)
        .block_size(256)
        .sync_mode(SyncMode::Periodic(std::time::Duration::from_millis(5)))
        .default_tree_options(options(false))
        .open_with_vfs(Arc::new(mem.clone()), Path::new("/db"))
        .unwrap();
    let t = db.tree("t").unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let written = std::thread::scope(|s| {
        // Writers and a reader run until every ingest finished (and at least 1,000 writes
        // each), so the ingests happen among writes.
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (t, done) = (t.clone(), &done);
                s.spawn(move || {
                    let mut i = 0u32;
                    while i < 1_000 || !done.load(std::sync::atomic::Ordering::Acquire) {
                        t.put(format!("w{w}-{i:07}").as_bytes(), b"x").unwrap();
                        i += 1;
                    }
                    i as usize
                })
            })
            .collect();
        let reader = {
            let (t, done) = (t.clone(), &done);
            s.spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    // Ingested keys appear a file at a time: the count of `k` keys seen is
                    // always a whole number of files.
                    let n = t.prefix(b"k").count();
                    assert_eq!(n % 5, 0, "half a file visible: {n}");
                }
            })
        };
        for f in 0..8u8 {
            for k in 0..5u8 {
                st.put(&key(f * 5 + k), b"ingested").unwrap();
            }
            st.flush().unwrap();
            let path = PathBuf::from(format!("/db/in-{f}.sst"));
            mem.set_contents(&path, file_bytes(&newest_file(&st)));
            t.ingest(&path, &IngestOptions::default()).unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        reader.join().unwrap();
        writers
            .into_iter()
            .map(|w| w.join().unwrap())
            .sum::<usize>()
    });
    let all = contents(&t);
    assert_eq!(all.len(), written + 40);
    assert!((0..40).all(|k| all.get(&key(k)).map(Vec::as_slice) == Some(b"ingested".as_slice())));
}
