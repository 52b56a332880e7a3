//! Statistics a database reports about itself.

pub use crate::cache::CacheStats;

/// Files and bytes in one level of a tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LevelStats {
    pub files: usize,
    pub bytes: u64,
}

/// One tree's shape.
#[derive(Debug, Clone, Default)]
pub struct TreeStats {
    pub name: String,
    /// Level 0 first.
    pub levels: Vec<LevelStats>,
    /// Bytes held by the active and frozen memtables (approximate).
    pub memtable_bytes: u64,
}

/// A snapshot of the database's counters, from [`crate::Db::stats`].
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub trees: Vec<TreeStats>,
    /// Key and value bytes the user wrote since open.
    pub user_bytes_written: u64,
    /// Bytes appended to the commit log since open.
    pub log_bytes_written: u64,
    /// Bytes of table files written by flushes since open.
    pub flush_bytes_written: u64,
    /// Bytes of table files written by compactions since open.
    pub compaction_bytes_written: u64,
    /// Fully expired table files dropped whole, unread, since open.
    pub expired_files_dropped: u64,
    /// (log + flush + compaction bytes) / user bytes.
    pub write_amplification: f64,
    /// Bytes of all table files / bytes in each tree's deepest non-empty level (1.0 when all
    /// data sits in one level; dead versions and overlap above it raise it).
    pub space_amplification: f64,
    /// Bytes of all live table files.
    pub table_bytes: u64,
    /// Block cache hits, misses and size.
    pub cache: CacheStats,
    /// Highest visible sequence number.
    pub last_seq: u64,
}
