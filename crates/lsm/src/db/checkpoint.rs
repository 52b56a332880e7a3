//! Checkpoints: a consistent copy of the database in another directory.

use std::path::Path;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::manifest;
use crate::tree::TreeInner;

use super::DbInner;

impl DbInner {
    pub(super) fn checkpoint(&self, dest: &Path) -> Result<()> {
        self.check_open()?;
        if self.vfs.exists(dest) {
            let names = self.vfs.list_dir(dest).map_err(|e| Error::io(dest, e))?;
            if !names.is_empty() {
                return Err(Error::InvalidOption {
                    option: "checkpoint",
                    reason: format!("{} is not empty", dest.display()),
                });
            }
        }
        self.vfs
            .create_dir_all(dest)
            .map_err(|e| Error::io(dest, e))?;
        let durable = self.log.sync_all()?;
        self.publish(durable);
        // Holding the manifest lock stops installs and log deletions while we copy.
        let m = self.manifest.lock();
        for t in &m.trees {
            for f in t.levels.iter().flatten() {
                let name = manifest::table_name(f.id);
                let to = dest.join(&name);
                self.vfs
                    .hard_link(&self.dir.join(&name), &to)
                    .map_err(|e| Error::io(&to, e))?;
            }
        }
        for name in self.log.segment_names() {
            let from = self.dir.join(&name);
            let to = dest.join(&name);
            let src = self.vfs.open_read(&from).map_err(|e| Error::io(&from, e))?;
            let mut w = self.vfs.create(&to).map_err(|e| Error::io(&to, e))?;
            w.append(src.bytes())
                .and_then(|()| w.sync())
                .map_err(|e| Error::io(&to, e))?;
        }
        let mut copy = m.clone();
        copy.next_file_id = self.next_file_id.load(Ordering::Acquire);
        copy.store(self.vfs.as_ref(), dest)
    }
}

impl DbInner {
    /// Flushes `tree` and hard-links each of its table files into `dest` (created if
    /// missing): the tree's data as of the call. Answers the file names and sizes.
    pub(crate) fn checkpoint_tree(
        &self,
        tree: &TreeInner,
        dest: &Path,
    ) -> Result<Vec<(String, u64)>> {
        self.check_open()?;
        tree.check_live()?;
        self.flush_tree(tree, true)?;
        self.vfs
            .create_dir_all(dest)
            .map_err(|e| Error::io(dest, e))?;
        // The cloned version pins its files: none is deleted while it is linked.
        let version = tree.version.read().clone();
        let mut linked = Vec::new();
        for f in version.levels.iter().flatten() {
            let name = manifest::table_name(f.entry.id);
            let to = dest.join(&name);
            self.vfs
                .hard_link(&self.dir.join(&name), &to)
                .map_err(|e| Error::io(&to, e))?;
            linked.push((name, f.entry.meta.file_size));
        }
        Ok(linked)
    }
}
