//! `Db::drop_tree`: a dropped tree is gone (files, manifest entry, memtable, commit log records)
//! across reopen and crashes, its handles fail, and its name can be reused for a fresh tree.

use std::path::Path;
use std::sync::Arc;

use ilion_lsm::vfs::{FaultyVfs, MemVfs};
use ilion_lsm::{Db, Error, SyncMode, Vfs};

fn open(vfs: Arc<dyn Vfs>) -> Db {
    Db::builder()
        .memtable_size(1 << 20)
        .sync_mode(SyncMode::Batch)
        .open_with_vfs(vfs, Path::new("/db"))
        .unwrap()
}

fn tables(vfs: &MemVfs) -> Vec<String> {
    let mut names: Vec<String> = vfs
        .list_dir(Path::new("/db"))
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".sst"))
        .collect();
    names.sort();
    names
}

/// Writes keys to `t` and `keep`: half flushed to table files, half only in the commit log.
fn fill(db: &Db) {
    let t = db.tree("t").unwrap();
    let keep = db.tree("keep").unwrap();
    for i in 0..50u32 {
        t.put(format!("k{i:03}").as_bytes(), b"old").unwrap();
        keep.put(format!("k{i:03}").as_bytes(), b"kept").unwrap();
        if i == 24 {
            db.flush().unwrap();
        }
    }
}

fn assert_keep_intact(db: &Db) {
    let keep = db.tree("keep").unwrap();
    assert_eq!(keep.iter().count(), 50);
    assert_eq!(keep.get(b"k049").unwrap(), Some(b"kept".to_vec()));
}

#[test]
fn a_dropped_tree_is_gone_after_reopen_and_its_log_records_are_not_replayed() {
    let vfs = MemVfs::new();
    let db = open(Arc::new(vfs.clone()));
    fill(&db);
    db.drop_tree("t").unwrap();
    assert!(!db.tree_names().contains(&"t".to_owned()));
    db.close().unwrap();

    let db = open(Arc::new(vfs.clone()));
    assert!(
        !db.tree_names().contains(&"t".to_owned()),
        "{:?}",
        db.tree_names()
    );
    let t = db.tree("t").unwrap();
    assert_eq!(
        t.iter().count(),
        0,
        "neither flushed nor logged data comes back"
    );
    assert_eq!(t.get(b"k000").unwrap(), None);
    assert_keep_intact(&db);
}

#[test]
fn a_tree_recreated_after_a_drop_is_empty_and_keeps_its_own_data_across_reopen() {
    let vfs = MemVfs::new();
    let db = open(Arc::new(vfs.clone()));
    fill(&db);
    let old = db.tree("t").unwrap();
    db.drop_tree("t").unwrap();

    let t = db.tree("t").unwrap();
    assert_eq!(t.iter().count(), 0);
    assert_eq!(t.get(b"k000").unwrap(), None);
    t.put(b"new", b"1").unwrap();
    assert_eq!(
        old.get(b"new").map_err(|e| e.to_string()),
        Err(Error::TreeDropped("t".into()).to_string())
    );
    drop((t, old));
    db.close().unwrap();

    let db = open(Arc::new(vfs.clone()));
    let t = db.tree("t").unwrap();
    let keys: Vec<Vec<u8>> = t.iter().map(|r| r.unwrap().0).collect();
    assert_eq!(keys, vec![b"new".to_vec()]);
    assert_eq!(db.tree_names().iter().filter(|n| *n == "t").count(), 1);
    assert_keep_intact(&db);
}

#[test]
fn handles_to_a_dropped_tree_return_an_error_on_every_use() {
    let db = open(Arc::new(MemVfs::new()));
    fill(&db);
    let t = db.tree("t").unwrap();
    db.drop_tree("t").unwrap();
    assert!(matches!(t.get(b"k000"), Err(Error::TreeDropped(n)) if n == "t"));
    assert!(matches!(t.put(b"a", b"b"), Err(Error::TreeDropped(_))));
    assert!(matches!(t.delete(b"a"), Err(Error::TreeDropped(_))));
    assert!(matches!(
        t.delete_range(b"a", b"b"),
        Err(Error::TreeDropped(_))
    ));
    assert!(matches!(t.flush(), Err(Error::TreeDropped(_))));
    assert!(matches!(
        t.compact_range(None, None),
        Err(Error::TreeDropped(_))
    ));
    let mut it = t.iter();
    assert!(matches!(it.next(), Some(Err(Error::TreeDropped(_)))));
    assert!(it.next().is_none());
    assert!(matches!(
        t.iter().next_back(),
        Some(Err(Error::TreeDropped(_)))
    ));
    assert!(matches!(
        db.snapshot().get(&t, b"k000"),
        Err(Error::TreeDropped(_))
    ));
    let mut batch = ilion_lsm::WriteBatch::new();
    batch.put(&t, b"a", b"b");
    assert!(matches!(db.write(batch), Err(Error::TreeDropped(_))));
    assert!(matches!(db.drop_tree("t"), Err(Error::UnknownTree(_))));
    assert_keep_intact(&db);
}

#[test]
fn a_dropped_trees_files_are_deleted() {
    let vfs = MemVfs::new();
    let db = open(Arc::new(vfs.clone()));
    let keep = db.tree("keep").unwrap();
    keep.put(b"a", b"1").unwrap();
    keep.flush().unwrap();
    let before = tables(&vfs);
    let t = db.tree("t").unwrap();
    for i in 0..20u32 {
        t.put(format!("k{i:03}").as_bytes(), b"v").unwrap();
        if i % 5 == 4 {
            t.flush().unwrap();
        }
    }
    assert!(tables(&vfs).len() > before.len());
    db.drop_tree("t").unwrap();
    assert_eq!(tables(&vfs), before, "only the kept tree's file is left");
    assert_eq!(keep.get(b"a").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn a_drop_survives_a_crash() {
    let vfs = MemVfs::strict();
    let db = open(Arc::new(vfs.clone()));
    fill(&db);
    db.drop_tree("t").unwrap();
    vfs.crash();
    drop(db);

    let db = open(Arc::new(vfs.clone()));
    assert!(!db.tree_names().contains(&"t".to_owned()));
    assert_eq!(db.tree("t").unwrap().iter().count(), 0);
    assert_keep_intact(&db);
}

#[test]
fn a_crash_at_any_sync_of_a_drop_leaves_the_whole_tree_or_nothing() {
    let mut outcomes = (0, 0);
    for n in 0..6u64 {
        let mem = MemVfs::strict();
        let faulty = FaultyVfs::new(mem.clone());
        let db = open(Arc::new(faulty.clone()));
        fill(&db);
        faulty.fail_syncs_after(n);
        let dropped = db.drop_tree("t");
        mem.crash();
        drop(db);

        let db = open(Arc::new(mem.clone()));
        if db.tree_names().contains(&"t".to_owned()) {
            assert!(dropped.is_err(), "sync {n}: an acknowledged drop came back");
            let t = db.tree("t").unwrap();
            assert_eq!(t.iter().count(), 50, "sync {n}: the tree is whole");
            outcomes.0 += 1;
        } else {
            assert_eq!(db.tree("t").unwrap().iter().count(), 0, "sync {n}");
            outcomes.1 += 1;
        }
        assert_keep_intact(&db);
    }
    assert!(
        outcomes.0 > 0 && outcomes.1 > 0,
        "both outcomes were exercised: {outcomes:?}"
    );
}
