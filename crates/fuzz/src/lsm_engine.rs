//! Engine-level targets for ilion-lsm: commit log replay and a structured operations target
//! checked against a `BTreeMap` model, both on the in-memory file system.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use ilion_lsm::vfs::MemVfs;
use ilion_lsm::{Db, SyncMode};

const SEGMENT: &str = "/db/wal-0000000001.log";

fn open(vfs: &MemVfs) -> ilion_lsm::Result<Db> {
    Db::builder()
        .memtable_size(4096)
        .sync_mode(SyncMode::Batch)
        .open_with_vfs(Arc::new(vfs.clone()), Path::new("/db"))
}

/// The bytes are a commit log segment (after the first byte: 0 keeps a valid segment header
/// in front of the rest, anything else uses the bytes as the whole file). Recovery must return
/// Ok or an error, never panic; what it recovers must read back without panicking.
pub fn lsm_commitlog(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let vfs = MemVfs::new();
    let Ok(db) = open(&vfs) else { return };
    drop(db);
    let Some(fresh) = vfs.contents(Path::new(SEGMENT)) else {
        return;
    };
    let bytes = if mode == 0 {
        let mut b = fresh.get(..24).unwrap_or_default().to_vec();
        b.extend_from_slice(rest);
        b
    } else {
        rest.to_vec()
    };
    vfs.set_contents(Path::new(SEGMENT), bytes);
    if let Ok(db) = open(&vfs) {
        for name in db.tree_names() {
            if let Ok(t) = db.tree(&name) {
                for r in t.iter() {
                    if r.is_err() {
                        break;
                    }
                }
            }
        }
    }
}

/// Bytes drive a sequence of operations (put, delete, range delete, get, scan, flush, compact,
/// reopen, power cut) against the engine and a `BTreeMap`; any divergence panics.
pub fn lsm_ops(data: &[u8]) {
    let vfs = MemVfs::new();
    let Ok(mut db) = open(&vfs) else { return };
    let Ok(mut tree) = db.tree("t") else { return };
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut it = data.iter().copied();
    let key = |b: u8| vec![b'k', b % 32];
    let mut steps = 0;
    while let Some(op) = it.next() {
        steps += 1;
        if steps > 200 {
            break;
        }
        let a = it.next().unwrap_or(0);
        let b = it.next().unwrap_or(0);
        match op % 9 {
            0 | 1 => {
                let v = vec![b; 1 + (a as usize % 50)];
                tree.put(&key(a), &v).expect("put");
                model.insert(key(a), v);
            }
            2 => {
                tree.delete(&key(a)).expect("delete");
                model.remove(&key(a));
            }
            3 => {
                let (lo, hi) = (key(a), key(b));
                tree.delete_range(&lo, &hi).expect("delete_range");
                if lo < hi {
                    let doomed: Vec<_> = model.range(lo..hi).map(|(k, _)| k.clone()).collect();
                    for k in doomed {
                        model.remove(&k);
                    }
                }
            }
            4 => assert_eq!(tree.get(&key(a)).expect("get"), model.get(&key(a)).cloned()),
            5 => {
                let (x, y) = (a % 32, b % 32);
                let (lo, hi) = (key(x.min(y)), key(x.max(y)));
                let got: Vec<_> = if op & 0x10 == 0 {
                    tree.range(lo.clone()..hi.clone())
                        .map(|r| r.expect("scan"))
                        .collect()
                } else {
                    let mut v: Vec<_> = tree
                        .range(lo.clone()..hi.clone())
                        .rev()
                        .map(|r| r.expect("scan"))
                        .collect();
                    v.reverse();
                    v
                };
                let want: Vec<_> = model
                    .range(lo..hi)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(got, want);
            }
            6 => db.flush().expect("flush"),
            7 => tree.compact_range(None, None).expect("compact"),
            _ => {
                if a % 2 == 0 {
                    vfs.crash();
                }
                drop(tree);
                drop(db);
                db = open(&vfs).expect("reopen");
                tree = db.tree("t").expect("tree");
            }
        }
    }
    let got: Vec<_> = tree.iter().map(|r| r.expect("final scan")).collect();
    let want: Vec<_> = model.into_iter().collect();
    assert_eq!(got, want);
}
