//! The statistics of an open database, gathered from its trees, log and cache.

use std::sync::atomic::Ordering;

use crate::stats::{LevelStats, Stats, TreeStats};

use super::DbInner;

impl DbInner {
    pub(super) fn stats(&self) -> Stats {
        let mut trees = Vec::new();
        let mut total_table = 0u64;
        let mut bottom = 0u64;
        for t in self.trees.read().iter().filter(|t| !t.is_dropped()) {
            let v = t.version.read().clone();
            let ms = t.mem.read().clone();
            let levels: Vec<LevelStats> = v
                .levels
                .iter()
                .map(|l| LevelStats {
                    files: l.len(),
                    bytes: l.iter().map(|f| f.entry.meta.file_size).sum(),
                })
                .collect();
            total_table += levels.iter().map(|l| l.bytes).sum::<u64>();
            bottom += levels
                .iter()
                .rev()
                .find(|l| l.files > 0)
                .map_or(0, |l| l.bytes);
            let memtable_bytes = std::iter::once(&ms.active)
                .chain(ms.frozen.iter().map(|(m, _)| m))
                .map(|m| m.approximate_size() as u64)
                .sum();
            trees.push(TreeStats {
                name: t.name.clone(),
                levels,
                memtable_bytes,
            });
        }
        let user = self.user_bytes.load(Ordering::Relaxed);
        let log = self.log.bytes_written();
        let flush = self.flush_bytes.load(Ordering::Relaxed);
        let compaction = self.compaction_bytes.load(Ordering::Relaxed);
        Stats {
            trees,
            user_bytes_written: user,
            log_bytes_written: log,
            flush_bytes_written: flush,
            compaction_bytes_written: compaction,
            expired_files_dropped: self.expired_files_dropped.load(Ordering::Relaxed),
            write_amplification: if user == 0 {
                0.0
            } else {
                (log + flush + compaction) as f64 / user as f64
            },
            space_amplification: if bottom == 0 {
                0.0
            } else {
                total_table as f64 / bottom as f64
            },
            table_bytes: total_table,
            cache: self.cache.stats(),
            last_seq: self.visible_seq(),
        }
    }
}
