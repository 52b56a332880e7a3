//! The table description the store needs: key columns, clustering order, column types and the
//! per-table options that change how data is kept (TTL, gc grace, compaction, compression).
//!
//! This is "schema-lite": no name resolution. Column ids are assigned in declaration order and
//! stay stable for the life of the table's data: ids are what the on-disk keys carry, so a column
//! added by [`SchemaChange::AddColumn`] gets the next unused id and a dropped column's id is
//! never reused (its slot stays, empty).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The CQL type of a column: the one definition in `ilion-types`.
pub use ilion_types::CqlType;

/// The type of the element key (cell path) of a multi-cell column of type `ty`.
pub(crate) fn element_key_type(ty: &CqlType) -> Option<ElementKey<'_>> {
    match ty {
        CqlType::List { frozen: false, .. } => Some(ElementKey::Typed(&CqlType::Timeuuid)),
        CqlType::Set {
            element,
            frozen: false,
        } => Some(ElementKey::Typed(element)),
        CqlType::Map {
            key, frozen: false, ..
        } => Some(ElementKey::Typed(key)),
        CqlType::Udt(u) if !u.frozen => Some(ElementKey::FieldIndex),
        _ => None,
    }
}

/// How the element keys of a multi-cell column are encoded.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ElementKey<'a> {
    Typed(&'a CqlType),
    /// A UDT field: the path is the field index as a big-endian u16.
    FieldIndex,
}

/// Clustering order of one clustering column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

/// The role of a column in its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ColumnKind {
    PartitionKey,
    Clustering(Order),
    Static,
    Regular,
}

/// Index of a static or regular column; what storage keys carry.
pub type ColumnId = u16;

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub ty: CqlType,
    pub kind: ColumnKind,
}

/// Compaction strategy of a table (Cassandra's `compaction = {'class': ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CompactionStrategy {
    /// SizeTieredCompactionStrategy: merge similar-sized files; good for write-heavy tables.
    SizeTiered {
        min_threshold: usize,
        max_threshold: usize,
    },
    /// LeveledCompactionStrategy: bounded read amplification at the cost of more rewriting.
    Leveled { sstable_size_mb: u64 },
    /// TimeWindowCompactionStrategy: files grouped by the window their newest write timestamp
    /// falls in, size-tiered within the newest window, one file per older window; for TTL'd
    /// time series.
    TimeWindow {
        window_seconds: u64,
        /// Units of the write timestamps per second (`timestamp_resolution`): 1_000_000 for
        /// MICROSECONDS (the default), 1_000 for MILLISECONDS, 1 for SECONDS, 10^9 for
        /// NANOSECONDS.
        #[serde(default = "micros_per_second")]
        timestamps_per_second: u64,
        #[serde(default = "default_min_threshold")]
        min_threshold: usize,
        #[serde(default = "default_max_threshold")]
        max_threshold: usize,
    },
}

fn micros_per_second() -> u64 {
    1_000_000
}
fn default_min_threshold() -> usize {
    4
}
fn default_max_threshold() -> usize {
    32
}

/// Single-file tombstone compactions and the search for fully expired files: the compaction
/// sub-options every Cassandra strategy takes (`tombstone_threshold`,
/// `tombstone_compaction_interval`, `unchecked_tombstone_compaction`) and TWCS's
/// `expired_sstable_check_frequency_seconds` (the other strategies use its default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TombstoneCompaction {
    /// A file whose estimated share of purgeable tombstones and expired cells is above this
    /// is compacted alone when nothing else is to do. Default 0.2.
    pub threshold: f64,
    /// Seconds after a file was written before it may be compacted alone. Default 86400.
    pub interval_seconds: u64,
    /// Compact a file alone even when others overlap it. Default false.
    pub unchecked: bool,
    /// Seconds between searches for fully expired files to drop whole. Default 600.
    pub expired_check_seconds: u64,
}

impl Default for TombstoneCompaction {
    fn default() -> Self {
        TombstoneCompaction {
            threshold: 0.2,
            interval_seconds: 86_400,
            unchecked: false,
            expired_check_seconds: 600,
        }
    }
}

impl TombstoneCompaction {
    /// The tombstone sub-options of a CQL `compaction = {...}` map (validated with the
    /// strategy by [`CompactionStrategy::from_cql_options`]).
    pub fn from_cql_options(options: &BTreeMap<String, String>) -> Result<TombstoneCompaction> {
        const O: &str = "compaction";
        let d = TombstoneCompaction::default();
        let threshold: f64 = number(options, "tombstone_threshold", O, d.threshold)?;
        if !(threshold >= 0.0 && threshold.is_finite()) {
            return Err(Error::InvalidOption {
                option: O,
                reason: format!(
                    "tombstone_threshold must be greater than 0, but was {threshold:.6}"
                ),
            });
        }
        let interval_seconds = seconds(
            options,
            "tombstone_compaction_interval",
            86_400,
            "must be greater than 0",
        )?;
        let unchecked = match options.get("unchecked_tombstone_compaction") {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                return Err(Error::InvalidOption {
                    option: O,
                    reason: format!(
                        "'unchecked_tombstone_compaction' should be either 'true' or 'false', not '{v}'"
                    ),
                });
            }
        };
        let expired_check_seconds = seconds(
            options,
            "expired_sstable_check_frequency_seconds",
            600,
            "must not be negative",
        )?;
        Ok(TombstoneCompaction {
            threshold,
            interval_seconds,
            unchecked,
            expired_check_seconds,
        })
    }
}

/// A non-negative whole number of seconds, sub-option `key` of the `compaction` map.
fn seconds(options: &BTreeMap<String, String>, key: &str, default: i64, rule: &str) -> Result<u64> {
    let v: i64 = number(options, key, "compaction", default)?;
    u64::try_from(v).map_err(|_| Error::InvalidOption {
        option: "compaction",
        reason: format!("{key} {rule}, but was {v}"),
    })
}

/// Sub-options every strategy takes.
const COMMON_OPTIONS: &[&str] = &[
    "class",
    "enabled",
    "min_threshold",
    "max_threshold",
    "tombstone_threshold",
    "tombstone_compaction_interval",
    "unchecked_tombstone_compaction",
];

/// Cassandra sub-options this store knows but does not implement: refused rather than stored
/// and ignored.
const UNSUPPORTED_OPTIONS: &[&str] = &[
    "only_purge_repaired_tombstones",
    "log_all",
    "provide_overlapping_tombstones",
    "bucket_low",
    "bucket_high",
    "min_sstable_size",
    "fanout_size",
    "single_sstable_uplevel",
];

/// Refuses sub-options `class` (a short class name) does not take.
fn check_sub_options(options: &BTreeMap<String, String>, class: &str, own: &[&str]) -> Result<()> {
    let bad = |reason: String| {
        Err(Error::InvalidOption {
            option: "compaction",
            reason,
        })
    };
    if let Some(k) = options
        .keys()
        .find(|k| UNSUPPORTED_OPTIONS.contains(&k.as_str()))
    {
        return bad(format!(
            "compaction option '{k}' of {class} is not supported by Ilion"
        ));
    }
    let unknown: Vec<&str> = options
        .keys()
        .map(String::as_str)
        .filter(|k| !COMMON_OPTIONS.contains(k) && !own.contains(k))
        .collect();
    if !unknown.is_empty() {
        return bad(format!(
            "Properties specified [{}] are not understood by {class}",
            unknown.join(", ")
        ));
    }
    match options.get("enabled").map(|v| v.to_ascii_lowercase()) {
        None => {}
        Some(v) if v == "true" => {}
        Some(v) if v == "false" => {
            return bad(
                "compaction 'enabled': 'false' is not supported by Ilion (background compaction cannot be turned off per table)"
                    .to_owned(),
            );
        }
        Some(v) => {
            return bad(format!(
                "enabled should either be 'true' or 'false', not {v}"
            ));
        }
    }
    Ok(())
}

impl Default for CompactionStrategy {
    /// Size-tiered with Cassandra's thresholds (4, 32), like Cassandra's default.
    fn default() -> Self {
        CompactionStrategy::SizeTiered {
            min_threshold: 4,
            max_threshold: 32,
        }
    }
}

/// A Java class name's last component (`org.apache...SizeTieredCompactionStrategy` or the short
/// name).
fn short_class(options: &BTreeMap<String, String>, option: &'static str) -> Result<String> {
    let class = options.get("class").ok_or_else(|| Error::InvalidOption {
        option,
        reason: "missing sub-option 'class'".to_owned(),
    })?;
    Ok(class.rsplit('.').next().unwrap_or(class).to_owned())
}

fn number<T: std::str::FromStr>(
    options: &BTreeMap<String, String>,
    key: &str,
    option: &'static str,
    default: T,
) -> Result<T> {
    match options.get(key) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| Error::InvalidOption {
            option,
            reason: format!("{key} = '{v}' is not a valid number"),
        }),
    }
}

impl CompactionStrategy {
    /// The strategy of a CQL `compaction = {...}` map (`class` plus Cassandra's sub-options:
    /// `min_threshold`/`max_threshold`, `sstable_size_in_mb`, `compaction_window_unit`,
    /// `compaction_window_size` and `timestamp_resolution`; the tombstone sub-options are read
    /// by [`TombstoneCompaction::from_cql_options`]). Sub-options a strategy does not take, or
    /// that this store does not implement, are refused, and so is UnifiedCompactionStrategy
    /// (Cassandra 5.0), which this store does not implement.
    pub fn from_cql_options(options: &BTreeMap<String, String>) -> Result<CompactionStrategy> {
        const O: &str = "compaction";
        let bad = |reason: String| Error::InvalidOption { option: O, reason };
        let class = short_class(options, O)?;
        let thresholds = || -> Result<(usize, usize)> {
            let min: i64 = number(options, "min_threshold", O, 4)?;
            let max: i64 = number(options, "max_threshold", O, 32)?;
            if min < 2 {
                return Err(bad(format!(
                    "min_threshold value ({min}) must be bigger or equal to 2"
                )));
            }
            if max < min {
                return Err(bad(format!(
                    "max_threshold value ({max}) must be bigger or equal to min_threshold ({min})"
                )));
            }
            Ok((
                usize::try_from(min).unwrap_or(usize::MAX),
                usize::try_from(max).unwrap_or(usize::MAX),
            ))
        };
        TombstoneCompaction::from_cql_options(options)?;
        let strategy = match class.as_str() {
            "SizeTieredCompactionStrategy" => {
                check_sub_options(options, &class, &[])?;
                let (min_threshold, max_threshold) = thresholds()?;
                CompactionStrategy::SizeTiered {
                    min_threshold,
                    max_threshold,
                }
            }
            "LeveledCompactionStrategy" => {
                check_sub_options(options, &class, &["sstable_size_in_mb"])?;
                let mb: i64 = number(options, "sstable_size_in_mb", O, 160)?;
                let sstable_size_mb =
                    u64::try_from(mb).ok().filter(|m| *m > 0).ok_or_else(|| {
                        bad(format!(
                            "sstable_size_in_mb must be larger than 0, but was {mb}"
                        ))
                    })?;
                CompactionStrategy::Leveled { sstable_size_mb }
            }
            "TimeWindowCompactionStrategy" => {
                check_sub_options(
                    options,
                    &class,
                    &[
                        "compaction_window_unit",
                        "compaction_window_size",
                        "timestamp_resolution",
                        "expired_sstable_check_frequency_seconds",
                        "unsafe_aggressive_sstable_expiration",
                    ],
                )?;
                let unit = match options.get("compaction_window_unit").map(String::as_str) {
                    None | Some("DAYS") => 86_400,
                    Some("HOURS") => 3_600,
                    Some("MINUTES") => 60,
                    Some(other) => {
                        return Err(bad(format!(
                            "{other} is not valid for compaction_window_unit"
                        )));
                    }
                };
                let timestamps_per_second =
                    match options.get("timestamp_resolution").map(String::as_str) {
                        None | Some("MICROSECONDS") => 1_000_000,
                        Some("MILLISECONDS") => 1_000,
                        Some("SECONDS") => 1,
                        Some("NANOSECONDS") => 1_000_000_000,
                        Some(other) => {
                            return Err(bad(format!(
                                "{other} is not valid for timestamp_resolution"
                            )));
                        }
                    };
                let size: i64 = number(options, "compaction_window_size", O, 1)?;
                if size < 1 {
                    return Err(bad(format!(
                        "{size} must be greater than 1 for compaction_window_size"
                    )));
                }
                match options
                    .get("unsafe_aggressive_sstable_expiration")
                    .map(|v| v.to_ascii_lowercase())
                    .as_deref()
                {
                    None | Some("false") => {}
                    Some("true") => {
                        return Err(bad(
                            "unsafe_aggressive_sstable_expiration is requested but not allowed: Ilion drops a file whole only when no overlapping data can need it"
                                .to_owned(),
                        ));
                    }
                    Some(v) => {
                        return Err(bad(format!(
                            "unsafe_aggressive_sstable_expiration is not 'true' or 'false' ({v})"
                        )));
                    }
                }
                let (min_threshold, max_threshold) = thresholds()?;
                CompactionStrategy::TimeWindow {
                    window_seconds: u64::try_from(size).unwrap_or(1).saturating_mul(unit),
                    timestamps_per_second,
                    min_threshold,
                    max_threshold,
                }
            }
            "UnifiedCompactionStrategy" => {
                return Err(bad(
                    "Unable to find compaction strategy class 'UnifiedCompactionStrategy': Ilion does not implement the unified compaction strategy of Cassandra 5.0; use SizeTieredCompactionStrategy, LeveledCompactionStrategy or TimeWindowCompactionStrategy"
                        .to_owned(),
                ));
            }
            other => {
                return Err(bad(format!(
                    "unsupported compaction strategy class '{other}'"
                )));
            }
        };
        Ok(strategy)
    }
}

impl Compression {
    /// The compression of a CQL `compression = {...}` map: `enabled: false` (or an empty
    /// `class`) is none, LZ4Compressor is LZ4, ZstdCompressor is zstd at `compression_level`
    /// (default 3), SnappyCompressor is Snappy, DeflateCompressor is deflate at level 6 (as
    /// Cassandra's), NoopCompressor is none.
    pub fn from_cql_options(options: &BTreeMap<String, String>) -> Result<Compression> {
        const O: &str = "compression";
        if options.get("enabled").is_some_and(|v| v == "false")
            || options.get("class").is_some_and(String::is_empty)
        {
            return Ok(Compression::None);
        }
        Ok(match short_class(options, O)?.as_str() {
            "LZ4Compressor" => Compression::Lz4,
            "SnappyCompressor" => Compression::Snappy,
            "DeflateCompressor" => Compression::Deflate,
            "NoopCompressor" => Compression::None,
            "ZstdCompressor" => Compression::Zstd(number(options, "compression_level", O, 3)?),
            other => {
                return Err(Error::InvalidOption {
                    option: O,
                    reason: format!("unsupported compression class '{other}'"),
                });
            }
        })
    }
}

/// Block compression of a table's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Compression {
    None,
    /// zstd at the given level (1..=22): smaller files than LZ4, slower to write and read.
    Zstd(i32),
    /// LZ4 (Cassandra's LZ4Compressor).
    Lz4,
    /// Cassandra's default, LZ4Compressor: the same as [`Compression::Lz4`].
    #[default]
    Default,
    /// Snappy (Cassandra's SnappyCompressor).
    Snappy,
    /// Deflate at level 6 (Cassandra's DeflateCompressor).
    Deflate,
}

impl Compression {
    /// The data block size of a CQL `compression = {...}` map: `chunk_length_in_kb` (default
    /// 16, Cassandra's) KiB when the table compresses, `None` (the engine's default block size)
    /// when it does not. Refused unless a power of two from 1 to 4096.
    pub fn block_size(options: &BTreeMap<String, String>) -> Result<Option<u32>> {
        if Compression::from_cql_options(options)? == Compression::None {
            return Ok(None);
        }
        let kb: i64 = number(options, "chunk_length_in_kb", "compression", 16)?;
        if kb <= 0 {
            return Err(Error::InvalidOption {
                option: "compression",
                reason: format!("Invalid negative or null chunk_length_in_kb ({kb})"),
            });
        }
        let kb = u32::try_from(kb)
            .ok()
            .filter(|k| k.is_power_of_two() && *k <= 4096);
        match kb {
            Some(kb) => Ok(Some(kb * 1024)),
            None => Err(Error::InvalidOption {
                option: "compression",
                reason: "chunk_length_in_kb must be a power of 2 no larger than 4096".to_owned(),
            }),
        }
    }
}

/// Bloom filter bits per key for a false-positive chance `p` (`bloom_filter_fp_chance`): the
/// optimum `-ln p / ln² 2`, rounded up, at most 64; 0 (no filter) for `p >= 1`, as Cassandra
/// builds no filter then.
pub fn bloom_bits_for(p: f64) -> u32 {
    if p.is_nan() || p <= 0.0 {
        return 64;
    }
    if p >= 1.0 {
        return 0;
    }
    let bits = (-p.ln() / (std::f64::consts::LN_2 * std::f64::consts::LN_2)).ceil();
    if bits >= 64.0 { 64 } else { bits as u32 }
}

/// When compaction may purge a tombstone (ScyllaDB's `tombstone_gc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TombstoneGc {
    /// Cassandra's rule: once `gc_grace_seconds` have passed since the delete.
    #[default]
    Timeout,
    /// Only once the range holding it was repaired after the delete (the repair's start
    /// minus `propagation_delay_seconds`, for writes still in flight when it started), so a
    /// delete never comes back; never while the range was not repaired.
    Repair { propagation_delay_seconds: u32 },
}

/// Per-table options that change what storage does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableOptions {
    /// Seconds a tombstone is kept before compaction may purge it. Default 864000 (10 days,
    /// Cassandra's): long enough for repair to spread every deletion before it is forgotten.
    pub gc_grace_seconds: u32,
    /// TTL applied to cells written without one. 0 (default) = none.
    pub default_time_to_live: u32,
    pub compaction: CompactionStrategy,
    pub compression: Compression,
    /// When tombstones may be purged.
    #[serde(default)]
    pub tombstone_gc: TombstoneGc,
    /// Single-file tombstone compactions and fully expired files.
    #[serde(default)]
    pub tombstone_compaction: TombstoneCompaction,
    /// Data block size of the table's files in bytes (`chunk_length_in_kb`); `None`: the
    /// engine's default.
    #[serde(default)]
    pub block_size: Option<u32>,
    /// Bloom filter bits per key (from `bloom_filter_fp_chance`, see [`bloom_bits_for`]);
    /// `None`: the engine's default (10).
    #[serde(default)]
    pub bloom_bits_per_key: Option<u32>,
    /// Flush the table's memtable this often when it holds data (`memtable_flush_period_in_ms`);
    /// 0 (default): only when full or asked.
    #[serde(default)]
    pub memtable_flush_period_ms: u32,
    /// Whether writes go through the commit log (the keyspace's `durable_writes`). Default
    /// true; false: unflushed writes are lost in a crash.
    #[serde(default = "yes")]
    pub durable_writes: bool,
}

fn yes() -> bool {
    true
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            gc_grace_seconds: 864_000,
            default_time_to_live: 0,
            compaction: CompactionStrategy::default(),
            compression: Compression::default(),
            tombstone_gc: TombstoneGc::default(),
            tombstone_compaction: TombstoneCompaction::default(),
            block_size: None,
            bloom_bits_per_key: None,
            memtable_flush_period_ms: 0,
            durable_writes: true,
        }
    }
}

/// A validated table description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableSchema {
    keyspace: String,
    name: String,
    columns: Vec<Column>,
    partition_key: Vec<usize>,
    clustering: Vec<usize>,
    /// Static and regular columns by [`ColumnId`]; `None`: a dropped column's retired id.
    cells: Vec<Option<usize>>,
    options: TableOptions,
    /// Dropped column name -> drop timestamp (micros): cells of a column with that name and a
    /// timestamp `<=` it are ignored (Cassandra's `dropped_columns`).
    #[serde(default)]
    dropped_columns: BTreeMap<String, i64>,
}

/// One ALTER TABLE step ([`crate::Store::alter_table`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SchemaChange {
    /// A new regular (or static) column; it gets the next unused [`ColumnId`].
    AddColumn {
        name: String,
        ty: CqlType,
        is_static: bool,
    },
    /// Drops a static or regular column at `timestamp` (micros): its cells are no longer read
    /// and are purged by compaction; a column re-added with the same name ignores cells written
    /// at or before `timestamp`.
    DropColumn { name: String, timestamp: i64 },
    /// New table options (validated as at creation).
    Options(TableOptions),
}

impl TableSchema {
    /// Starts a table description.
    pub fn builder(keyspace: &str, name: &str) -> TableSchemaBuilder {
        TableSchemaBuilder {
            keyspace: keyspace.to_owned(),
            name: name.to_owned(),
            columns: Vec::new(),
            options: TableOptions::default(),
        }
    }
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// `keyspace.name`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.keyspace, self.name)
    }
    pub fn options(&self) -> &TableOptions {
        &self.options
    }
    /// Every column in declaration order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }
    pub fn partition_key_columns(&self) -> impl Iterator<Item = &Column> {
        self.partition_key
            .iter()
            .filter_map(|&i| self.columns.get(i))
    }
    pub fn clustering_columns(&self) -> impl Iterator<Item = &Column> {
        self.clustering.iter().filter_map(|&i| self.columns.get(i))
    }
    pub fn clustering_len(&self) -> usize {
        self.clustering.len()
    }
    /// The static or regular column with this id.
    pub fn cell_column(&self, id: ColumnId) -> Option<&Column> {
        self.cells
            .get(usize::from(id))
            .copied()
            .flatten()
            .and_then(|i| self.columns.get(i))
    }
    /// True when `id` belonged to a column that was dropped (its cells are ignored).
    pub fn is_dropped_id(&self, id: ColumnId) -> bool {
        matches!(self.cells.get(usize::from(id)), Some(None))
    }
    /// Dropped column names and their drop timestamps (micros).
    pub fn dropped_columns(&self) -> &BTreeMap<String, i64> {
        &self.dropped_columns
    }
    /// The drop timestamp shadowing cells of the column named `name`, if it was ever dropped.
    pub(crate) fn dropped_at(&self, name: &str) -> Option<i64> {
        self.dropped_columns.get(name).copied()
    }
    /// Id of the static or regular column named `name`.
    pub fn column_id(&self, name: &str) -> Option<ColumnId> {
        self.cells
            .iter()
            .position(|&i| {
                i.and_then(|i| self.columns.get(i))
                    .is_some_and(|c| c.name == name)
            })
            .and_then(|p| ColumnId::try_from(p).ok())
    }
    /// Number of static and regular column ids, dropped ones included (ids are `0..count`).
    pub fn cell_column_count(&self) -> usize {
        self.cells.len()
    }
    /// This schema after `change`; existing column ids keep their meaning.
    pub(crate) fn altered(&self, change: &SchemaChange) -> Result<TableSchema> {
        let err = |reason| Error::InvalidSchema {
            table: self.qualified_name(),
            reason,
        };
        let mut s = self.clone();
        match change {
            SchemaChange::AddColumn {
                name,
                ty,
                is_static,
            } => {
                if s.columns.iter().any(|c| c.name == *name) {
                    return Err(err("a column with this name exists"));
                }
                if *is_static && s.clustering.is_empty() {
                    return Err(err("static columns need clustering columns"));
                }
                if s.cells.len() >= usize::from(u16::MAX) {
                    return Err(err("too many columns"));
                }
                s.columns.push(Column {
                    name: name.clone(),
                    ty: ty.clone(),
                    kind: if *is_static {
                        ColumnKind::Static
                    } else {
                        ColumnKind::Regular
                    },
                });
                s.cells.push(Some(s.columns.len() - 1));
            }
            SchemaChange::DropColumn { name, timestamp } => {
                let idx = s
                    .columns
                    .iter()
                    .position(|c| c.name == *name)
                    .ok_or_else(|| err("no column with this name"))?;
                if !matches!(
                    s.columns.get(idx).map(|c| c.kind),
                    Some(ColumnKind::Static | ColumnKind::Regular)
                ) {
                    return Err(err("a primary key column cannot be dropped"));
                }
                s.columns.remove(idx);
                let shift = |i: &mut usize| {
                    if *i > idx {
                        *i -= 1;
                    }
                };
                s.partition_key.iter_mut().for_each(shift);
                s.clustering.iter_mut().for_each(shift);
                for slot in &mut s.cells {
                    match slot {
                        Some(i) if *i == idx => *slot = None,
                        Some(i) => shift(i),
                        None => {}
                    }
                }
                let at = s.dropped_columns.entry(name.clone()).or_insert(*timestamp);
                *at = (*at).max(*timestamp);
            }
            SchemaChange::Options(o) => {
                validate_options(&self.qualified_name(), o)?;
                s.options = o.clone();
            }
        }
        Ok(s)
    }

    /// Types and orders of the clustering columns.
    pub(crate) fn clustering_types(&self) -> impl Iterator<Item = (&CqlType, Order)> {
        self.clustering_columns().map(|c| match c.kind {
            ColumnKind::Clustering(o) => (&c.ty, o),
            _ => (&c.ty, Order::Asc),
        })
    }
}

/// Builds a [`TableSchema`]; [`TableSchemaBuilder::build`] validates.
#[derive(Debug, Clone)]
pub struct TableSchemaBuilder {
    keyspace: String,
    name: String,
    columns: Vec<Column>,
    options: TableOptions,
}

impl TableSchemaBuilder {
    fn column(mut self, name: &str, ty: CqlType, kind: ColumnKind) -> Self {
        self.columns.push(Column {
            name: name.to_owned(),
            ty,
            kind,
        });
        self
    }
    pub fn partition_key(self, name: &str, ty: CqlType) -> Self {
        self.column(name, ty, ColumnKind::PartitionKey)
    }
    pub fn clustering(self, name: &str, ty: CqlType, order: Order) -> Self {
        self.column(name, ty, ColumnKind::Clustering(order))
    }
    pub fn static_column(self, name: &str, ty: CqlType) -> Self {
        self.column(name, ty, ColumnKind::Static)
    }
    pub fn regular(self, name: &str, ty: CqlType) -> Self {
        self.column(name, ty, ColumnKind::Regular)
    }
    pub fn options(mut self, options: TableOptions) -> Self {
        self.options = options;
        self
    }

    /// Validates: at least one partition key column; key columns of orderable, non-multi-cell
    /// types; unique names; static columns only with clustering columns; options in range.
    pub fn build(self) -> Result<TableSchema> {
        let table = format!("{}.{}", self.keyspace, self.name);
        let err = |reason| {
            Err(Error::InvalidSchema {
                table: table.clone(),
                reason,
            })
        };
        let mut partition_key = Vec::new();
        let mut clustering = Vec::new();
        let mut cells = Vec::new();
        for (i, c) in self.columns.iter().enumerate() {
            if self.columns.iter().take(i).any(|o| o.name == c.name) {
                return err("duplicate column name");
            }
            match c.kind {
                ColumnKind::PartitionKey | ColumnKind::Clustering(_) => {
                    if c.ty.is_multi_cell() {
                        return err("a primary key column cannot be a non-frozen collection");
                    }
                    if !c.ty.is_orderable() {
                        return err("a primary key column cannot be a counter or duration");
                    }
                    if matches!(c.kind, ColumnKind::PartitionKey) {
                        partition_key.push(i);
                    } else {
                        clustering.push(i);
                    }
                }
                ColumnKind::Static | ColumnKind::Regular => cells.push(Some(i)),
            }
        }
        if partition_key.is_empty() {
            return err("a table needs at least one partition key column");
        }
        let has_static = self.columns.iter().any(|c| c.kind == ColumnKind::Static);
        if has_static && clustering.is_empty() {
            return err("static columns need clustering columns");
        }
        if cells.len() > usize::from(u16::MAX) {
            return err("too many columns");
        }
        validate_options(&table, &self.options)?;
        Ok(TableSchema {
            keyspace: self.keyspace,
            name: self.name,
            columns: self.columns,
            partition_key,
            clustering,
            cells,
            options: self.options,
            dropped_columns: BTreeMap::new(),
        })
    }
}

fn validate_options(table: &str, options: &TableOptions) -> Result<()> {
    let err = |reason| {
        Err(Error::InvalidSchema {
            table: table.to_owned(),
            reason,
        })
    };
    {
        if options.default_time_to_live > crate::cell::MAX_TTL_SECONDS {
            return err("default_time_to_live exceeds 20 years");
        }
        match options.compaction {
            CompactionStrategy::SizeTiered {
                min_threshold,
                max_threshold,
            } if min_threshold < 2 || max_threshold < min_threshold => {
                return err("size-tiered thresholds need 2 <= min_threshold <= max_threshold");
            }
            CompactionStrategy::Leveled { sstable_size_mb: 0 } => {
                return err("leveled sstable_size_mb must be positive");
            }
            CompactionStrategy::TimeWindow {
                window_seconds,
                timestamps_per_second,
                min_threshold,
                max_threshold,
            } if window_seconds == 0
                || timestamps_per_second == 0
                || min_threshold < 2
                || max_threshold < min_threshold =>
            {
                return err(
                    "time-window needs a positive window and resolution and 2 <= min_threshold <= max_threshold",
                );
            }
            _ => {}
        }
        if let Compression::Zstd(level) = options.compression
            && !(1..=22).contains(&level)
        {
            return err("zstd level must be in 1..=22");
        }
        if options
            .block_size
            .is_some_and(|b| !(256..=(4 << 20)).contains(&b))
        {
            return err("block size must be in 256 B..=4 MiB");
        }
        if options.bloom_bits_per_key.is_some_and(|b| b > 64) {
            return err("bloom filter bits per key must be at most 64");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn cassandra_option_maps_become_strategies_and_compressions() {
        let c = |p: &[(&str, &str)]| CompactionStrategy::from_cql_options(&map(p));
        assert_eq!(
            c(&[
                (
                    "class",
                    "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy"
                ),
                ("min_threshold", "6"),
            ])
            .unwrap(),
            CompactionStrategy::SizeTiered {
                min_threshold: 6,
                max_threshold: 32
            }
        );
        assert_eq!(
            c(&[
                ("class", "LeveledCompactionStrategy"),
                ("sstable_size_in_mb", "80")
            ])
            .unwrap(),
            CompactionStrategy::Leveled {
                sstable_size_mb: 80
            }
        );
        assert_eq!(
            c(&[
                ("class", "TimeWindowCompactionStrategy"),
                ("compaction_window_unit", "HOURS"),
                ("compaction_window_size", "6"),
            ])
            .unwrap(),
            CompactionStrategy::TimeWindow {
                window_seconds: 6 * 3600,
                timestamps_per_second: 1_000_000,
                min_threshold: 4,
                max_threshold: 32,
            }
        );
        assert!(matches!(
            c(&[("class", "Nope")]),
            Err(Error::InvalidOption {
                option: "compaction",
                ..
            })
        ));
        assert!(matches!(
            c(&[
                ("class", "LeveledCompactionStrategy"),
                ("sstable_size_in_mb", "x")
            ]),
            Err(Error::InvalidOption { .. })
        ));
        let z = |p: &[(&str, &str)]| Compression::from_cql_options(&map(p));
        assert_eq!(
            z(&[("class", "org.apache.cassandra.io.compress.LZ4Compressor")]).unwrap(),
            Compression::Lz4
        );
        assert_eq!(
            z(&[("class", "ZstdCompressor"), ("compression_level", "7")]).unwrap(),
            Compression::Zstd(7)
        );
        assert_eq!(
            z(&[("class", "LZ4Compressor"), ("enabled", "false")]).unwrap(),
            Compression::None
        );
        assert!(z(&[]).is_err());
    }

    #[test]
    fn compaction_sub_options_take_effect_or_are_refused_with_a_reason() {
        let c = |p: &[(&str, &str)]| CompactionStrategy::from_cql_options(&map(p));
        let reason = |r: Result<CompactionStrategy>| match r {
            Err(Error::InvalidOption { reason, .. }) => reason,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            c(&[
                ("class", "TimeWindowCompactionStrategy"),
                ("compaction_window_unit", "MINUTES"),
                ("compaction_window_size", "5"),
                ("timestamp_resolution", "MILLISECONDS"),
                ("min_threshold", "6"),
                ("tombstone_threshold", "0.5"),
            ])
            .unwrap(),
            CompactionStrategy::TimeWindow {
                window_seconds: 300,
                timestamps_per_second: 1_000,
                min_threshold: 6,
                max_threshold: 32,
            }
        );
        assert!(
            reason(c(&[("class", "UnifiedCompactionStrategy")]))
                .contains("UnifiedCompactionStrategy")
        );
        assert_eq!(
            reason(c(&[
                ("class", "SizeTieredCompactionStrategy"),
                ("abc", "1")
            ])),
            "Properties specified [abc] are not understood by SizeTieredCompactionStrategy"
        );
        assert_eq!(
            reason(c(&[
                ("class", "LeveledCompactionStrategy"),
                ("compaction_window_size", "4")
            ])),
            "Properties specified [compaction_window_size] are not understood by LeveledCompactionStrategy"
        );
        assert!(
            reason(c(&[
                ("class", "SizeTieredCompactionStrategy"),
                ("bucket_low", "0.3")
            ]))
            .contains("not supported by Ilion")
        );
        assert!(
            reason(c(&[
                ("class", "SizeTieredCompactionStrategy"),
                ("enabled", "false")
            ]))
            .contains("not supported by Ilion")
        );
        assert_eq!(
            reason(c(&[
                ("class", "TimeWindowCompactionStrategy"),
                ("compaction_window_unit", "SECONDS")
            ])),
            "SECONDS is not valid for compaction_window_unit"
        );
        assert_eq!(
            reason(c(&[
                ("class", "TimeWindowCompactionStrategy"),
                ("compaction_window_size", "-8")
            ])),
            "-8 must be greater than 1 for compaction_window_size"
        );
        assert_eq!(
            reason(c(&[
                ("class", "SizeTieredCompactionStrategy"),
                ("min_threshold", "1")
            ])),
            "min_threshold value (1) must be bigger or equal to 2"
        );
        assert_eq!(
            reason(c(&[
                ("class", "SizeTieredCompactionStrategy"),
                ("tombstone_threshold", "-0.4")
            ])),
            "tombstone_threshold must be greater than 0, but was -0.400000"
        );
        assert_eq!(
            reason(c(&[
                ("class", "LeveledCompactionStrategy"),
                ("unchecked_tombstone_compaction", "maybe")
            ])),
            "'unchecked_tombstone_compaction' should be either 'true' or 'false', not 'maybe'"
        );

        let t = |p: &[(&str, &str)]| TombstoneCompaction::from_cql_options(&map(p)).unwrap();
        assert_eq!(t(&[]), TombstoneCompaction::default());
        assert_eq!(
            t(&[
                ("tombstone_threshold", "0.05"),
                ("tombstone_compaction_interval", "60"),
                ("unchecked_tombstone_compaction", "TRUE"),
                ("expired_sstable_check_frequency_seconds", "0"),
            ]),
            TombstoneCompaction {
                threshold: 0.05,
                interval_seconds: 60,
                unchecked: true,
                expired_check_seconds: 0,
            }
        );
    }

    #[test]
    fn every_compressor_chunk_length_and_fp_chance_maps_onto_the_engine() {
        let z = |p: &[(&str, &str)]| Compression::from_cql_options(&map(p)).unwrap();
        assert_eq!(z(&[("class", "SnappyCompressor")]), Compression::Snappy);
        assert_eq!(z(&[("class", "DeflateCompressor")]), Compression::Deflate);
        assert_eq!(z(&[("class", "NoopCompressor")]), Compression::None);
        let b = |p: &[(&str, &str)]| Compression::block_size(&map(p));
        assert_eq!(b(&[("class", "LZ4Compressor")]).unwrap(), Some(16 << 10));
        assert_eq!(
            b(&[("class", "LZ4Compressor"), ("chunk_length_in_kb", "64")]).unwrap(),
            Some(64 << 10)
        );
        assert_eq!(b(&[("enabled", "false")]).unwrap(), None);
        for bad in ["0", "-4", "3", "8192", "x"] {
            assert!(
                b(&[("class", "LZ4Compressor"), ("chunk_length_in_kb", bad)]).is_err(),
                "{bad}"
            );
        }
        assert_eq!(bloom_bits_for(0.01), 10);
        assert_eq!(bloom_bits_for(0.1), 5);
        assert_eq!(bloom_bits_for(0.000_001), 29);
        assert_eq!(bloom_bits_for(1.0), 0);
        assert_eq!(bloom_bits_for(1e-300), 64);
    }
}
