//! Table writer/reader tests against a sorted-vector model, and damaged-file tests.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use proptest::prelude::*;

use super::footer::{COMPRESSION_LZ4, TRAILER_LEN, trailer};
use super::*;
use crate::cache::BlockCache;
use crate::key::{self, Kind, MAX_SEQ};
use crate::vfs::{StdVfs, Vfs};

type Entry = (Vec<u8>, Vec<u8>);

fn opts(block_size: usize, compression: Compression, bloom: u32) -> TableOptions {
    TableOptions {
        block_size,
        compression,
        bloom_bits_per_key: bloom,
    }
}

/// Writes `entries` (sorted, internal keys) and returns the path and meta.
fn write(dir: &Path, name: &str, entries: &[Entry], o: &TableOptions) -> (PathBuf, TableMeta) {
    let path = dir.join(name);
    let file = StdVfs.create(&path).unwrap();
    let mut w = TableWriter::new(file, path.clone(), o);
    for (k, v) in entries {
        w.add(k, v).unwrap();
    }
    let meta = w.finish().unwrap();
    (path, meta)
}

fn open(path: &Path) -> Result<Arc<Table>, Error> {
    Table::open(&StdVfs, path, 7, Arc::new(BlockCache::new(1 << 20))).map(Arc::new)
}

/// A file held in memory, so damaged-file tests need no disk round trip per variant.
#[derive(Debug)]
struct VecFile(Vec<u8>);

impl crate::vfs::ReadableFile for VecFile {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

fn open_bytes(path: &Path, bytes: Vec<u8>) -> Result<Arc<Table>, Error> {
    Table::from_file(
        Arc::new(VecFile(bytes)),
        path,
        7,
        Arc::new(BlockCache::new(1 << 20)),
    )
    .map(Arc::new)
}

fn sort(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.sort_by(|a, b| key::compare(&a.0, &b.0));
    entries.dedup_by(|a, b| key::compare(&a.0, &b.0) == Ordering::Equal);
    entries
}

fn points(entries: &[Entry]) -> Vec<Entry> {
    entries
        .iter()
        .filter(|(k, _)| key::parse(k).unwrap().kind != Kind::RangeDelete)
        .cloned()
        .collect()
}

fn scan_forward(t: &Arc<Table>) -> Result<Vec<Entry>, Error> {
    let mut it = t.iter();
    it.seek_to_first();
    let mut out = Vec::new();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.next();
    }
    it.status().map(|()| out)
}

fn scan_backward(t: &Arc<Table>) -> Result<Vec<Entry>, Error> {
    let mut it = t.iter();
    it.seek_to_last();
    let mut out = Vec::new();
    while it.valid() {
        out.push((it.key().to_vec(), it.value().to_vec()));
        it.prev();
    }
    it.status().map(|()| out)
}

/// The model's answer to `get`.
fn model_get(points: &[Entry], user: &[u8], snapshot: u64) -> Option<Entry> {
    points
        .iter()
        .find(|(k, _)| {
            let p = key::parse(k).unwrap();
            p.user_key == user && p.seq <= snapshot
        })
        .cloned()
}

fn entry_strategy() -> impl Strategy<Value = Vec<Entry>> {
    let one = (
        proptest::collection::vec(0u8..4, 0..6),
        0u64..40,
        0u8..10,
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(0u8..4, 0..6),
    )
        .prop_map(|(user, seq, kind, value, end)| {
            let kind = match kind {
                0 | 1 => Kind::Delete,
                2 => Kind::Merge,
                3 => Kind::RangeDelete,
                _ => Kind::Put,
            };
            let value = if kind == Kind::RangeDelete {
                end
            } else {
                value
            };
            (key::encode(&user, seq, kind), value)
        });
    proptest::collection::vec(one, 0..300).prop_map(sort)
}

fn compression_strategy() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Zstd(1)),
        Just(Compression::Lz4),
        Just(Compression::Snappy),
        Just(Compression::Deflate(6))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn a_written_table_reads_back_like_the_model(
        entries in entry_strategy(),
        block_size in 32usize..2048,
        compression in compression_strategy(),
        bloom in prop_oneof![Just(0u32), Just(10u32)],
        probes in proptest::collection::vec(
            (proptest::collection::vec(0u8..4, 0..6), 0u64..45, any::<bool>()), 30),
        walk in proptest::collection::vec(any::<bool>(), 0..60),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (path, meta) = write(dir.path(), "t.sst", &entries, &opts(block_size, compression, bloom));
        let t = open(&path).unwrap();
        let pts = points(&entries);

        // Meta agrees with what the writer returned, except the file size it learns on open.
        prop_assert_eq!(t.meta(), &meta);
        prop_assert_eq!(meta.entry_count, entries.len() as u64);
        if let Some((first, _)) = entries.first() {
            prop_assert_eq!(&meta.smallest, first);
        }
        for (k, v) in &entries {
            prop_assert!(key::compare(k, &meta.largest) != Ordering::Greater);
            let p = key::parse(k).unwrap();
            prop_assert!(p.seq >= meta.min_seq && p.seq <= meta.max_seq);
            if p.kind == Kind::RangeDelete {
                let end = key::encode(v, MAX_SEQ, Kind::RangeDelete);
                prop_assert!(key::compare(&end, &meta.largest) != Ordering::Greater);
            }
        }

        // Range deletions come back in order.
        let rds: Vec<RangeTombstone> = entries.iter().filter_map(|(k, v)| {
            let p = key::parse(k).unwrap();
            (p.kind == Kind::RangeDelete).then(|| RangeTombstone {
                start: p.user_key.to_vec(), end: v.clone(), seq: p.seq })
        }).collect();
        prop_assert_eq!(t.range_deletes(), &rds[..]);

        prop_assert_eq!(scan_forward(&t).unwrap(), pts.clone());
        let mut rev = pts.clone();
        rev.reverse();
        prop_assert_eq!(scan_backward(&t).unwrap(), rev);

        for (user, snap, forward) in &probes {
            // Point reads.
            prop_assert_eq!(t.get(user, *snap).unwrap(), model_get(&pts, user, *snap));
            let all: Vec<Entry> = pts.iter().filter(|(k, _)| {
                let p = key::parse(k).unwrap();
                p.user_key == &user[..] && p.seq <= *snap
            }).cloned().collect();
            prop_assert_eq!(t.get_all(user, *snap).unwrap(), all);

            // Seeks in both directions.
            let target = key::encode(user, *snap, Kind::Put);
            let mut it = t.iter();
            let pos = if *forward {
                it.seek(&target);
                let i = pts.partition_point(|(k, _)| key::compare(k, &target) == Ordering::Less);
                (i < pts.len()).then_some(i)
            } else {
                it.seek_for_prev(&target);
                let i = pts.partition_point(|(k, _)| key::compare(k, &target) != Ordering::Greater);
                i.checked_sub(1)
            };
            match pos {
                Some(i) => {
                    prop_assert!(it.valid());
                    prop_assert_eq!(it.key(), &pts[i].0[..]);
                    prop_assert_eq!(it.value(), &pts[i].1[..]);
                    // A random walk of next/prev from there.
                    let mut i = i as isize;
                    for &step in &walk {
                        if !it.valid() { break; }
                        if step { it.next(); i += 1; } else { it.prev(); i -= 1; }
                        if i < 0 || i as usize >= pts.len() {
                            prop_assert!(!it.valid());
                        } else {
                            prop_assert!(it.valid());
                            prop_assert_eq!(it.key(), &pts[i as usize].0[..]);
                        }
                    }
                }
                None => prop_assert!(!it.valid()),
            }
            prop_assert!(it.status().is_ok());
        }
    }
}

/// A table with several blocks of both kinds of keys, plus its entries.
fn sample(n: usize) -> Vec<Entry> {
    let mut e = Vec::new();
    for i in 0..n {
        let user = format!("user{:04}", i / 2).into_bytes();
        let kind = if i % 7 == 3 { Kind::Delete } else { Kind::Put };
        e.push((
            key::encode(&user, (1000 - i) as u64, kind),
            format!("value-{i}-").repeat(3).into_bytes(),
        ));
    }
    e.push((
        key::encode(b"user0003", 5000, Kind::RangeDelete),
        b"user0009".to_vec(),
    ));
    sort(e)
}

fn names_file(e: &Error, path: &Path) -> bool {
    match e {
        Error::ChecksumMismatch { file, .. }
        | Error::Corruption { file, .. }
        | Error::UnsupportedVersion { file, .. } => file == path,
        _ => false,
    }
}

type Everything = (Vec<Entry>, Vec<Entry>, Vec<Option<Entry>>);

/// Reads everything a table offers; Ok only if every read succeeded.
fn read_all(t: &Arc<Table>, users: &[Vec<u8>]) -> Result<Everything, Error> {
    let f = scan_forward(t)?;
    let b = scan_backward(t)?;
    let mut g = Vec::new();
    for u in users {
        g.push(t.get(u, MAX_SEQ)?);
    }
    Ok((f, b, g))
}

#[test]
fn flipping_any_byte_gives_an_error_naming_the_file_or_still_correct_data() {
    let dir = tempfile::tempdir().unwrap();
    let entries = sample(60);
    let pts = points(&entries);
    let users: Vec<Vec<u8>> = (0..32)
        .map(|i| format!("user{i:04}").into_bytes())
        .collect();
    for (name, o) in [
        ("plain.sst", opts(256, Compression::None, 10)),
        ("zstd.sst", opts(512, Compression::Zstd(3), 10)),
        ("lz4.sst", opts(512, Compression::Lz4, 10)),
        ("snappy.sst", opts(512, Compression::Snappy, 10)),
        ("deflate.sst", opts(512, Compression::Deflate(6), 10)),
        ("nofilter.sst", opts(256, Compression::None, 0)),
    ] {
        let (path, _) = write(dir.path(), name, &entries, &o);
        let good = std::fs::read(&path).unwrap();
        let expected = read_all(&open(&path).unwrap(), &users).unwrap();
        assert_eq!(expected.0, pts);
        let damaged = dir.path().join(format!("damaged-{name}"));
        for i in 0..good.len() {
            let mut bytes = good.clone();
            bytes[i] ^= 0x10;
            match open_bytes(&damaged, bytes) {
                Err(e) => assert!(names_file(&e, &damaged), "flip at {i}: {e}"),
                Ok(t) => match read_all(&t, &users) {
                    Err(e) => assert!(names_file(&e, &damaged), "flip at {i}: {e}"),
                    Ok(got) => assert!(got == expected, "flip at {i} of {name} served wrong data"),
                },
            }
        }
    }
}

#[test]
fn every_truncation_of_a_table_fails_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(
        dir.path(),
        "t.sst",
        &sample(40),
        &opts(256, Compression::None, 10),
    );
    let good = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.sst");
    for len in 0..good.len() {
        let e = open_bytes(&cut, good[..len].to_vec()).unwrap_err();
        assert!(names_file(&e, &cut), "cut at {len}: {e}");
    }
}

#[test]
fn a_checksum_failure_in_a_data_block_names_the_file_and_block_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(
        dir.path(),
        "t.sst",
        &sample(40),
        &opts(4096, Compression::None, 10),
    );
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[5] ^= 0xff; // inside the first (and only) data block
    std::fs::write(&path, &bytes).unwrap();
    let t = open(&path).unwrap();
    let e = scan_forward(&t).unwrap_err();
    assert!(
        matches!(&e, Error::ChecksumMismatch { file, offset: 0, .. } if file == &path),
        "{e}"
    );
    let mut it = t.iter();
    it.seek_to_first();
    assert!(!it.valid());
    it.seek_to_last();
    assert!(!it.valid(), "errors are sticky");
    assert!(it.status().is_err());
}

#[test]
fn a_newer_format_version_is_reported_as_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(dir.path(), "t.sst", &sample(10), &TableOptions::default());
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 88 + 68] = 9;
    std::fs::write(&path, &bytes).unwrap();
    let e = open(&path).unwrap_err();
    assert!(
        matches!(
            e,
            Error::UnsupportedVersion {
                found: 9,
                supported: 2,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_file_that_is_not_a_table_is_rejected_by_its_magic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.sst");
    std::fs::write(&path, vec![0u8; 500]).unwrap();
    let e = open(&path).unwrap_err();
    assert!(
        matches!(&e, Error::Corruption { offset, .. } if *offset == 500 - 88 + 80),
        "{e}"
    );
}

#[test]
fn an_empty_table_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (path, meta) = write(dir.path(), "t.sst", &[], &TableOptions::default());
    assert_eq!(meta.entry_count, 0);
    let t = open(&path).unwrap();
    assert_eq!(t.meta(), &meta);
    assert!(scan_forward(&t).unwrap().is_empty());
    assert_eq!(t.get(b"a", MAX_SEQ).unwrap(), None);
}

#[test]
fn keys_added_out_of_order_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sst");
    let mut w = TableWriter::new(
        StdVfs.create(&path).unwrap(),
        path.clone(),
        &TableOptions::default(),
    );
    w.add(&key::encode(b"b", 1, Kind::Put), b"").unwrap();
    let e = w.add(&key::encode(b"a", 1, Kind::Put), b"").unwrap_err();
    assert!(matches!(e, Error::Corruption { .. }));
    let e = w.add(&key::encode(b"b", 1, Kind::Put), b"").unwrap_err();
    assert!(
        matches!(e, Error::Corruption { .. }),
        "an equal key is out of order too"
    );
}

#[test]
fn compressible_blocks_are_stored_compressed_and_cached_after_the_first_read() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = (0..2000u32)
        .map(|i| {
            (
                key::encode(format!("k{i:06}").as_bytes(), 1, Kind::Put),
                vec![b'x'; 100],
            )
        })
        .collect();
    let (plain, pm) = write(
        dir.path(),
        "p.sst",
        &entries,
        &opts(4096, Compression::None, 10),
    );
    let (zstd, zm) = write(
        dir.path(),
        "z.sst",
        &entries,
        &opts(4096, Compression::Zstd(3), 10),
    );
    assert!(
        zm.file_size * 4 < pm.file_size,
        "{} vs {}",
        zm.file_size,
        pm.file_size
    );
    let cache = Arc::new(BlockCache::new(1 << 20));
    let t = Arc::new(Table::open(&StdVfs, &zstd, 1, Arc::clone(&cache)).unwrap());
    assert_eq!(
        t.get(b"k000500", MAX_SEQ).unwrap().unwrap().1,
        vec![b'x'; 100]
    );
    let after_first = cache.stats();
    assert_eq!((after_first.hits, after_first.misses), (0, 1));
    assert_eq!(
        t.get(b"k000501", MAX_SEQ).unwrap().unwrap().1,
        vec![b'x'; 100]
    );
    assert_eq!(cache.stats().hits, 1);
    // Uncompressed blocks never enter the cache.
    let t = Arc::new(Table::open(&StdVfs, &plain, 2, Arc::clone(&cache)).unwrap());
    assert!(t.get(b"k000500", MAX_SEQ).unwrap().is_some());
    assert_eq!(cache.stats().misses, 1);
}

#[test]
fn table_bloom_false_positive_rate_at_ten_bits_per_key_is_below_three_percent() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = (0..10_000u32)
        .map(|i| {
            (
                key::encode(format!("present{i}").as_bytes(), 1, Kind::Put),
                vec![],
            )
        })
        .collect();
    let entries = sort(entries);
    let (path, _) = write(
        dir.path(),
        "t.sst",
        &entries,
        &opts(4096, Compression::None, 10),
    );
    let t = open(&path).unwrap();
    for (k, _) in &entries {
        assert!(t.may_contain(key::user_key(k)));
    }
    let fp = (0..20_000u32)
        .filter(|i| t.may_contain(format!("absent{i}").as_bytes()))
        .count();
    let rate = fp as f64 / 20_000.0;
    assert!(rate < 0.03, "false positive rate {rate}");
}

#[test]
fn a_table_without_a_filter_may_contain_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(
        dir.path(),
        "t.sst",
        &sample(10),
        &opts(4096, Compression::None, 0),
    );
    let t = open(&path).unwrap();
    assert!(t.may_contain(b"anything"));
    assert_eq!(t.get(b"anything", MAX_SEQ).unwrap(), None);
}

#[test]
fn a_table_cut_short_by_a_power_loss_fails_to_open_and_a_finished_one_survives() {
    use crate::vfs::MemVfs;
    let vfs = MemVfs::new();
    let path = Path::new("t.sst");
    let entries = sample(200);
    let o = opts(256, Compression::None, 10);
    let mut w = TableWriter::new(vfs.create(path).unwrap(), path.to_owned(), &o);
    for (k, v) in &entries {
        w.add(k, v).unwrap();
    }
    assert!(w.estimated_size() > 1000, "several blocks were appended");
    vfs.crash();
    let cache = Arc::new(BlockCache::new(1 << 20));
    let e = Table::open(&vfs, path, 1, Arc::clone(&cache)).unwrap_err();
    assert!(names_file(&e, path), "{e}");
    drop(w);

    let mut w = TableWriter::new(vfs.create(path).unwrap(), path.to_owned(), &o);
    for (k, v) in &entries {
        w.add(k, v).unwrap();
    }
    let meta = w.finish().unwrap();
    vfs.crash();
    let t = Arc::new(Table::open(&vfs, path, 1, cache).unwrap());
    assert_eq!(t.meta(), &meta);
    assert_eq!(scan_forward(&t).unwrap(), points(&entries));
}

/// Entries that fill one compressible data block.
fn one_compressible_block() -> Vec<Entry> {
    (0..30u32)
        .map(|i| {
            (
                key::encode(format!("k{i:06}").as_bytes(), 1, Kind::Put),
                vec![b'x'; 100],
            )
        })
        .collect()
}

#[test]
fn lz4_blocks_are_stored_compressed_read_back_and_cached() {
    let dir = tempfile::tempdir().unwrap();
    let entries: Vec<Entry> = (0..2000u32)
        .map(|i| {
            (
                key::encode(format!("k{i:06}").as_bytes(), 1, Kind::Put),
                vec![b'x'; 100],
            )
        })
        .collect();
    let (_, pm) = write(
        dir.path(),
        "p.sst",
        &entries,
        &opts(4096, Compression::None, 10),
    );
    let (lz4, lm) = write(
        dir.path(),
        "l.sst",
        &entries,
        &opts(4096, Compression::Lz4, 10),
    );
    assert!(
        lm.file_size * 4 < pm.file_size,
        "{} vs {}",
        lm.file_size,
        pm.file_size
    );
    let cache = Arc::new(BlockCache::new(1 << 20));
    let t = Arc::new(Table::open(&StdVfs, &lz4, 1, Arc::clone(&cache)).unwrap());
    assert_eq!(
        t.get(b"k000500", MAX_SEQ).unwrap().unwrap().1,
        vec![b'x'; 100]
    );
    assert_eq!(
        t.get(b"k000501", MAX_SEQ).unwrap().unwrap().1,
        vec![b'x'; 100]
    );
    assert_eq!((cache.stats().hits, cache.stats().misses), (1, 1));
    let got: Vec<Entry> = scan_forward(&t).unwrap();
    assert_eq!(got, entries);
}

/// The first data block of `bytes` (an LZ4 table): its stored length, found by its trailer.
fn first_lz4_block_len(bytes: &[u8]) -> usize {
    (1..bytes.len() - TRAILER_LEN)
        .find(|&n| {
            bytes[n] == COMPRESSION_LZ4
                && bytes[n..n + TRAILER_LEN] == trailer(&bytes[..n], COMPRESSION_LZ4)
        })
        .expect("an lz4 data block at offset 0")
}

#[test]
fn a_forged_lz4_block_with_a_valid_checksum_is_an_error_not_a_panic_or_a_huge_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let entries = one_compressible_block();
    let (path, _) = write(
        dir.path(),
        "l.sst",
        &entries,
        &opts(4096, Compression::Lz4, 0),
    );
    let good = std::fs::read(&path).unwrap();
    let n = first_lz4_block_len(&good);
    let (raw_len, p) = get_varint(&good, 0).unwrap();
    let body = good[p..n].to_vec();
    let users: Vec<Vec<u8>> = vec![b"k000003".to_vec()];

    let mut forged: Vec<Vec<u8>> = Vec::new();
    // Lengths: absurd (bounded before any allocation), too long, too short.
    for len in [1u64 << 29, u64::MAX, raw_len + 1, raw_len - 1] {
        let mut stored = Vec::new();
        put_varint(&mut stored, len);
        let room = n - stored.len();
        stored.extend_from_slice(&body[..room.min(body.len())]);
        stored.resize(n, 0);
        forged.push(stored);
    }
    // Garbage bodies of every pattern under the right length.
    for fill in [0x00u8, 0xff, 0x0f, 0xf0] {
        let mut stored = good[..p].to_vec();
        stored.resize(n, fill);
        forged.push(stored);
    }
    for stored in forged {
        let mut bytes = good.clone();
        bytes[..n].copy_from_slice(&stored);
        bytes[n..n + TRAILER_LEN].copy_from_slice(&trailer(&stored, COMPRESSION_LZ4));
        let damaged = dir.path().join("forged.sst");
        let e = match open_bytes(&damaged, bytes) {
            Err(e) => e,
            Ok(t) => read_all(&t, &users).unwrap_err(),
        };
        assert!(matches!(e, Error::Corruption { .. }), "{e}");
        assert!(names_file(&e, &damaged), "{e}");
    }
}
