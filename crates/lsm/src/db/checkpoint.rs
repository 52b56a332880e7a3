//! Checkpoints: a consistent copy of the database in another directory.

use std::path::Path;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result};
use crate::manifest;

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
