//! Writers, readers, snapshot scans and background flush/compaction all at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ilion_lsm::{CompactionConfig, Db, SyncMode, TreeOptions, WriteBatch};

#[test]
fn concurrent_writers_readers_and_compaction_agree_on_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::builder()
        .memtable_size(32 << 10)
        .block_size(1024)
        .sync_mode(SyncMode::Batch)
        .default_tree_options(TreeOptions {
            compaction: CompactionConfig::Leveled {
                l0_trigger: 2,
                level_size_multiplier: 4,
                base_level_bytes: 64 << 10,
                target_file_size: 16 << 10,
            },
            ..TreeOptions::default()
        })
        .open(dir.path())
        .unwrap();
    let (a, b) = (db.tree("a").unwrap(), db.tree("b").unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    const WRITERS: u32 = 4;
    const PER_WRITER: u32 = 1500;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (db, a, b) = (db.clone(), a.clone(), b.clone());
            std::thread::spawn(move || {
                for i in 0..PER_WRITER {
                    let k = format!("w{w}-{i:06}").into_bytes();
                    let v = format!("{w}:{i}:").repeat(4).into_bytes();
                    // The same key goes to both trees in one batch: readers must never see
                    // one without the other at a snapshot.
                    let mut batch = WriteBatch::new();
                    batch.put(&a, &k, &v);
                    batch.put(&b, &k, &v);
                    db.write(batch).unwrap();
                    if i % 10 == 0 {
                        a.delete(&k).unwrap();
                        b.delete(&k).unwrap();
                    }
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, a, b, stop) = (db.clone(), a.clone(), b.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rounds = 0;
                while !stop.load(Ordering::Relaxed) || rounds == 0 {
                    let snap = db.snapshot();
                    let in_a: Vec<_> = snap
                        .range(&a, &b"w"[..]..&b"x"[..])
                        .map(|r| r.unwrap())
                        .collect();
                    for (k, v) in &in_a {
                        let other = snap.get(&b, k).unwrap();
                        // b may already have the delete of a key a still shows (two writes),
                        // but a batch is never half applied.
                        if let Some(o) = other {
                            assert_eq!(&o, v);
                        }
                    }
                    let sorted = in_a.windows(2).all(|w| w[0].0 < w[1].0);
                    assert!(sorted, "scan out of order");
                    rounds += 1;
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    a.compact_range(None, None).unwrap();
    for w in 0..WRITERS {
        for i in 0..PER_WRITER {
            let k = format!("w{w}-{i:06}").into_bytes();
            let want = (i % 10 != 0).then(|| format!("{w}:{i}:").repeat(4).into_bytes());
            assert_eq!(a.get(&k).unwrap(), want);
            assert_eq!(b.get(&k).unwrap(), want);
        }
    }
    let count = a.iter().count() as u32;
    assert_eq!(count, WRITERS * PER_WRITER * 9 / 10);
    let rev = a.iter().rev().count() as u32;
    assert_eq!(rev, count);
    let s = db.stats();
    assert!(
        s.trees
            .iter()
            .any(|t| t.levels.iter().skip(1).any(|l| l.files > 0)),
        "{s:?}"
    );
}
