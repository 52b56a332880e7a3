//! `Builder::compaction_throttle`: compactions write through the throttle (and wait on it when
//! over its rate); flushes do not.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ilion_lsm::vfs::MemVfs;
use ilion_lsm::{Db, SyncMode, Throttle};

fn open(throttle: Arc<Throttle>) -> Db {
    Db::builder()
        .memtable_size(1 << 20)
        .sync_mode(SyncMode::Batch)
        .compaction_throttle(throttle)
        .open_with_vfs(Arc::new(MemVfs::new()), Path::new("/db"))
        .unwrap()
}

/// Writes `files` flushed files of 64 KiB of values each to tree `t`.
fn fill(db: &Db, files: usize) {
    let t = db.tree("t").unwrap();
    for f in 0..files {
        for i in 0..64u32 {
            t.put(format!("k{i:04}").as_bytes(), &vec![f as u8; 1024])
                .unwrap();
        }
        db.flush().unwrap();
    }
}

#[test]
fn a_throttled_major_compaction_waits_for_its_rate() {
    let throttle = Arc::new(Throttle::new(0));
    let db = open(throttle.clone());
    fill(&db, 4);
    assert_eq!(throttle.bytes(), 0, "flushes are not throttled");
    // 64 KiB of output at 128 KiB/s: the first chunk passes, what follows waits.
    throttle.set_rate(128 << 10);
    let started = Instant::now();
    db.tree("t").unwrap().compact_range(None, None).unwrap();
    assert!(throttle.bytes() >= 64 << 10, "{} bytes", throttle.bytes());
    assert!(throttle.throttled() > Duration::ZERO);
    assert!(started.elapsed() >= throttle.throttled());
    let t = db.tree("t").unwrap();
    assert_eq!(t.get(b"k0000").unwrap(), Some(vec![3u8; 1024]));
}

#[test]
fn an_unthrottled_compaction_counts_its_bytes_and_never_waits() {
    let throttle = Arc::new(Throttle::new(0));
    let db = open(throttle.clone());
    fill(&db, 3);
    db.tree("t").unwrap().compact_range(None, None).unwrap();
    assert!(throttle.bytes() >= 64 << 10);
    assert_eq!(throttle.throttled(), Duration::ZERO);
}
