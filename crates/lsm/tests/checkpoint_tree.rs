//! `Tree::checkpoint`: one tree's files hard-linked into a directory, which `Tree::ingest`
//! adds back to a tree of another database.

use std::path::Path;
use std::sync::Arc;

use ilion_lsm::vfs::MemVfs;
use ilion_lsm::{Db, IngestOptions, SyncMode, Vfs};

fn open(vfs: Arc<dyn Vfs>, dir: &str) -> Db {
    Db::builder()
        .sync_mode(SyncMode::Batch)
        .open_with_vfs(vfs, Path::new(dir))
        .unwrap()
}

#[test]
fn a_tree_checkpoint_holds_its_flushed_and_unflushed_data_and_ingests_elsewhere() {
    let vfs: Arc<dyn Vfs> = Arc::new(MemVfs::new());
    let db = open(vfs.clone(), "/a");
    let t = db.tree("t").unwrap();
    let other = db.tree("other").unwrap();
    for i in 0..20u32 {
        t.put(format!("k{i:02}").as_bytes(), b"v").unwrap();
        other.put(format!("k{i:02}").as_bytes(), b"x").unwrap();
        if i == 9 {
            db.flush().unwrap();
        }
    }
    let files = t.checkpoint(Path::new("/snap")).unwrap();
    assert_eq!(files.len(), 2, "one flushed file, one from the memtable");
    let mut listed = vfs.list_dir(Path::new("/snap")).unwrap();
    listed.sort();
    let mut names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(listed, names, "only this tree's files");
    // A write after the checkpoint is not in it.
    t.put(b"later", b"v").unwrap();

    let restored = open(vfs.clone(), "/b");
    let r = restored.tree("t").unwrap();
    for (name, _) in &files {
        r.ingest(&Path::new("/snap").join(name), &IngestOptions::default())
            .unwrap();
    }
    assert_eq!(r.iter().count(), 20);
    assert_eq!(r.get(b"k19").unwrap(), Some(b"v".to_vec()));
    assert_eq!(r.get(b"later").unwrap(), None);
}
