//! Ingest of an external table file into a tree (`ilion-lsm`'s `Tree::ingest`): whatever the
//! bytes, the ingest returns Ok or an error, never panics; after an Ok the tree reads back
//! without error, and after an error it is unchanged.

use std::path::Path;
use std::sync::Arc;

use ilion_lsm::vfs::MemVfs;
use ilion_lsm::{Db, IngestOptions, SyncMode};

const INCOMING: &str = "/db/incoming.sst";

/// `data` after its first byte is either the file itself (first byte even) or, first byte
/// odd, a recipe: two bytes naming a position to damage (0xffff: none), then pairs of
/// (length mod 8, key bytes) making the keys of a valid table that is then damaged there.
pub fn lsm_ingest(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let Some(file) = recipe(rest) else { return };
        file
    };
    let vfs = MemVfs::new();
    let Ok(db) = Db::builder()
        .sync_mode(SyncMode::Batch)
        .open_with_vfs(Arc::new(vfs.clone()), Path::new("/db"))
    else {
        return;
    };
    let Ok(tree) = db.tree("t") else { return };
    if tree.put(b"existing", b"1").is_err() {
        return;
    }
    vfs.set_contents(Path::new(INCOMING), bytes);
    let opts = IngestOptions {
        start: if mode & 2 == 0 {
            Vec::new()
        } else {
            b"b".to_vec()
        },
        end: (mode & 4 != 0).then(|| b"y".to_vec()),
        as_merge_operands: false,
    };
    match tree.ingest(Path::new(INCOMING), &opts) {
        Ok(_) => {
            for r in tree.iter() {
                if let Err(e) = r {
                    panic!("a tree that took a checked file cannot read it back: {e}");
                }
            }
        }
        Err(_) => {
            let all: Vec<_> = tree.iter().collect();
            assert!(
                matches!(all.as_slice(), [Ok((k, v))] if k == b"existing" && v == b"1"),
                "a refused ingest changed the tree: {all:?}"
            );
        }
    }
}

fn recipe(rest: &[u8]) -> Option<Vec<u8>> {
    let (pos, mut rest) = rest.split_at_checked(2)?;
    let pos = u16::from_le_bytes([*pos.first()?, *pos.get(1)?]);
    let mut keys: Vec<Vec<u8>> = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len % 8).min(tail.len());
        let (k, tail) = tail.split_at(n);
        keys.push(k.to_vec());
        rest = tail;
    }
    keys.sort();
    keys.dedup();
    let entries = keys.iter().map(|k| (k.as_slice(), b"value".as_slice()));
    let mut file = ilion_lsm::harness::table_file(entries, 64, None, 10).ok()?;
    if pos != u16::MAX {
        let len = file.len();
        if let Some(b) = file.get_mut(usize::from(pos) % len.max(1)) {
            *b ^= 0x5a;
        }
    }
    Some(file)
}
