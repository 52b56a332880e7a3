//! Fault injection through `FaultyVfs`: failed and torn writes, failed fsyncs. No acknowledged
//! write is lost, nothing damaged is served, and a failed sync stops writes for good.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ilion_lsm::vfs::{FaultyVfs, MemVfs};
use ilion_lsm::{CompactionConfig, Db, Error, SyncMode, TreeOptions};

fn open(vfs: Arc<dyn ilion_lsm::Vfs>) -> ilion_lsm::Result<Db> {
    Db::builder()
        .memtable_size(8 << 10)
        .block_size(512)
        .sync_mode(SyncMode::Batch)
        .log_segment_size(16 << 10)
        .default_tree_options(TreeOptions {
            compaction: CompactionConfig::Leveled {
                l0_trigger: 2,
                level_size_multiplier: 2,
                base_level_bytes: 16 << 10,
                target_file_size: 4 << 10,
            },
            ..TreeOptions::default()
        })
        .open_with_vfs(vfs, Path::new("/db"))
}

fn value(i: u32) -> Vec<u8> {
    format!("v{i}-").repeat(1 + (i % 9) as usize).into_bytes()
}

#[test]
fn random_write_and_sync_failures_lose_no_acknowledged_write() {
    for seed in 0..40u64 {
        let mem = MemVfs::strict();
        let faulty = FaultyVfs::new(mem.clone());
        faulty.torn_writes(true);
        let db = open(Arc::new(faulty.clone())).unwrap();
        let t = db.tree("t").unwrap();
        faulty.random_failures(seed, 300);
        let mut acked = BTreeMap::new();
        let mut failed_at = None;
        for i in 0..600u32 {
            let k = format!("key{:05}", (i * 7919) % 1000).into_bytes();
            match t.put(&k, &value(i)) {
                Ok(()) => {
                    assert!(
                        failed_at.is_none(),
                        "seed {seed}: a write succeeded after a failure"
                    );
                    acked.insert(k, value(i));
                }
                Err(e) => {
                    if failed_at.is_some() {
                        assert!(
                            matches!(e, Error::WritesStopped { .. }),
                            "seed {seed}: later failures are the sticky error, got {e:?}"
                        );
                    }
                    failed_at.get_or_insert(i);
                }
            }
            // Reads never serve damaged data, whatever happened to the writes.
            if i % 50 == 0 {
                for r in t.iter() {
                    match r {
                        Ok((k, v)) => {
                            assert!(v.starts_with(b"v"), "seed {seed}: bad value for {k:?}")
                        }
                        Err(e) => panic!("seed {seed}: reading after a write failure failed: {e}"),
                    }
                }
            }
        }
        drop(t);
        drop(db);
        faulty.heal();
        mem.crash();
        let db = open(Arc::new(mem.clone()))
            .unwrap_or_else(|e| panic!("seed {seed}: reopen failed: {e}"));
        let t = db.tree("t").unwrap();
        for (k, v) in &acked {
            assert_eq!(
                t.get(k).unwrap().as_ref(),
                Some(v),
                "seed {seed}: acknowledged write of {k:?} lost"
            );
        }
        for r in t.iter() {
            let (k, v) = r.unwrap();
            let i = std::str::from_utf8(&v).unwrap().split('-').next().unwrap()[1..]
                .parse::<u32>()
                .unwrap();
            assert_eq!(v, value(i), "seed {seed}: damaged value under {k:?}");
        }
    }
}

#[test]
fn after_a_failed_fsync_every_write_fails_with_the_sticky_error_but_reads_work() {
    let faulty = FaultyVfs::new(MemVfs::new());
    let db = open(Arc::new(faulty.clone())).unwrap();
    let t = db.tree("t").unwrap();
    t.put(b"before", b"1").unwrap();
    faulty.fail_nth_sync(1);
    assert!(t.put(b"during", b"2").is_err());
    faulty.heal();
    for _ in 0..3 {
        assert!(matches!(
            t.put(b"after", b"3"),
            Err(Error::WritesStopped { .. })
        ));
    }
    assert!(matches!(db.flush(), Err(Error::WritesStopped { .. })));
    assert_eq!(t.get(b"before").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn a_damaged_commit_log_record_before_valid_ones_is_reported_with_file_and_offset() {
    let mem = MemVfs::new();
    let db = open(Arc::new(mem.clone())).unwrap();
    let t = db.tree("t").unwrap();
    for i in 0..20u32 {
        t.put(&i.to_be_bytes(), &value(i)).unwrap();
    }
    drop(t);
    drop(db);
    let seg = Path::new("/db/wal-0000000001.log");
    let mut bytes = mem.contents(seg).unwrap();
    let at = 24 + 30; // inside the first record's payload
    bytes[at] ^= 0xff;
    mem.set_contents(seg, bytes);
    match open(Arc::new(mem.clone())) {
        Err(Error::ChecksumMismatch { file, offset, .. }) => {
            assert_eq!(file, seg);
            assert_eq!(offset, 24);
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
}

#[test]
fn a_torn_log_tail_is_cut_and_the_database_opens() {
    let mem = MemVfs::new();
    let db = open(Arc::new(mem.clone())).unwrap();
    let t = db.tree("t").unwrap();
    for i in 0..20u32 {
        t.put(&i.to_be_bytes(), &value(i)).unwrap();
    }
    drop(t);
    drop(db);
    let seg = Path::new("/db/wal-0000000001.log");
    let bytes = mem.contents(seg).unwrap();
    mem.set_contents(seg, bytes[..bytes.len() - 3].to_vec());
    let db = open(Arc::new(mem.clone())).unwrap();
    let t = db.tree("t").unwrap();
    assert_eq!(t.get(&18u32.to_be_bytes()).unwrap(), Some(value(18)));
    assert_eq!(t.get(&19u32.to_be_bytes()).unwrap(), None);
}

#[test]
fn garbage_in_place_of_the_manifest_is_an_error_not_a_panic() {
    let mem = MemVfs::new();
    drop(open(Arc::new(mem.clone())).unwrap());
    for junk in [&b""[..], b"ILMF", &[0xff; 64]] {
        mem.set_contents(Path::new("/db/MANIFEST"), junk.to_vec());
        assert!(open(Arc::new(mem.clone())).is_err());
    }
}
