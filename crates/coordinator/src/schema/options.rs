//! Table parameters (`WITH comment = ... AND compaction = {...}`) and keyspace replication,
//! validated as Cassandra validates them and stored as `system_schema` shows them.

use std::collections::BTreeMap;

use ilion_cql::language::ast::{Literal, Property, PropertyValue};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The parameters of a table, with Cassandra 4.1's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableParams {
    pub additional_write_policy: String,
    pub bloom_filter_fp_chance: f64,
    pub caching: BTreeMap<String, String>,
    pub cdc: bool,
    pub comment: String,
    pub compaction: BTreeMap<String, String>,
    pub compression: BTreeMap<String, String>,
    pub crc_check_chance: f64,
    pub default_time_to_live: i32,
    pub gc_grace_seconds: i32,
    pub max_index_interval: i32,
    pub memtable_flush_period_in_ms: i32,
    pub min_index_interval: i32,
    pub read_repair: String,
    pub speculative_retry: String,
    /// When compaction may purge tombstones (ScyllaDB's option, an Ilion extension):
    /// `{'mode': 'repair', 'propagation_delay_in_seconds': N}` (the default) purges a
    /// tombstone only once its range was repaired after the delete; `{'mode': 'timeout'}` is
    /// Cassandra's `gc_grace_seconds` rule (docs/repair.md). A table saved before the option
    /// existed keeps Cassandra's rule.
    #[serde(default = "timeout_tombstone_gc")]
    pub tombstone_gc: BTreeMap<String, String>,
}

/// `tombstone_gc` when a table does not set it: deletes never come back.
pub(crate) fn default_tombstone_gc() -> BTreeMap<String, String> {
    map(&[
        ("mode", "repair"),
        ("propagation_delay_in_seconds", DEFAULT_PROPAGATION_DELAY),
    ])
}

/// Cassandra's rule, what a table saved before `tombstone_gc` existed was created with.
fn timeout_tombstone_gc() -> BTreeMap<String, String> {
    map(&[("mode", "timeout")])
}

/// How long a repair's start is moved back, by default, for writes still in flight when it
/// started: Cassandra's default hint window (3 h), the longest a hint waits, since a hint
/// held by a node that was down during the repair arrives later.
const DEFAULT_PROPAGATION_DELAY: &str = "10800";

/// A `tombstone_gc` map, validated, with its defaults filled in.
fn tombstone_gc(given: BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in given {
        match k.as_str() {
            "mode" => {
                let mode = v.to_ascii_lowercase();
                if mode != "timeout" && mode != "repair" {
                    return Err(Error::config(format!(
                        "Invalid tombstone_gc mode '{v}': Ilion supports 'timeout' (gc_grace_seconds) and 'repair'"
                    )));
                }
                out.insert(k, mode);
            }
            "propagation_delay_in_seconds" => {
                if v.parse::<u32>().is_err() {
                    return Err(Error::config(format!(
                        "Invalid tombstone_gc propagation_delay_in_seconds '{v}': expected a whole number of seconds"
                    )));
                }
                out.insert(k, v);
            }
            other => {
                return Err(Error::config(format!(
                    "Unknown tombstone_gc option '{other}': expected mode or propagation_delay_in_seconds"
                )));
            }
        }
    }
    out.entry("mode".to_owned())
        .or_insert_with(|| "repair".to_owned());
    if out.get("mode").map(String::as_str) == Some("repair") {
        out.entry("propagation_delay_in_seconds".to_owned())
            .or_insert_with(|| DEFAULT_PROPAGATION_DELAY.to_owned());
    } else if out.contains_key("propagation_delay_in_seconds") {
        return Err(Error::config(
            "tombstone_gc propagation_delay_in_seconds applies only to mode 'repair'",
        ));
    }
    Ok(out)
}

/// The storage rule of a validated `tombstone_gc` map.
pub(crate) fn storage_tombstone_gc(m: &BTreeMap<String, String>) -> ilion_storage::TombstoneGc {
    match m.get("mode").map(String::as_str) {
        Some("repair") => ilion_storage::TombstoneGc::Repair {
            propagation_delay_seconds: m
                .get("propagation_delay_in_seconds")
                .and_then(|d| d.parse().ok())
                .unwrap_or(10_800),
        },
        _ => ilion_storage::TombstoneGc::Timeout,
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

const STCS: &str = "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy";

impl Default for TableParams {
    fn default() -> Self {
        TableParams {
            additional_write_policy: "99p".to_owned(),
            bloom_filter_fp_chance: 0.01,
            caching: map(&[("keys", "ALL"), ("rows_per_partition", "NONE")]),
            cdc: false,
            comment: String::new(),
            compaction: map(&[
                ("class", STCS),
                ("max_threshold", "32"),
                ("min_threshold", "4"),
            ]),
            compression: map(&[
                ("chunk_length_in_kb", "16"),
                ("class", "org.apache.cassandra.io.compress.LZ4Compressor"),
            ]),
            crc_check_chance: 1.0,
            default_time_to_live: 0,
            gc_grace_seconds: 864_000,
            max_index_interval: 2048,
            memtable_flush_period_in_ms: 0,
            min_index_interval: 128,
            read_repair: "BLOCKING".to_owned(),
            speculative_retry: "99p".to_owned(),
            tombstone_gc: default_tombstone_gc(),
        }
    }
}

fn literal_text(v: &PropertyValue) -> Option<String> {
    match v {
        PropertyValue::Literal(Literal::String(s)) => Some(s.clone()),
        PropertyValue::Literal(Literal::Integer(s) | Literal::Float(s)) => Some(s.clone()),
        PropertyValue::Literal(Literal::Boolean(b)) => Some(b.to_string()),
        PropertyValue::Word(w) => Some(w.clone()),
        _ => None,
    }
}

fn literal_map(name: &str, v: &PropertyValue) -> Result<BTreeMap<String, String>> {
    let PropertyValue::Map(pairs) = v else {
        return Err(Error::config(format!(
            "Invalid value for property '{name}': expected a map"
        )));
    };
    pairs
        .iter()
        .map(|(k, v)| {
            let text = |l: &Literal| match l {
                Literal::String(s) | Literal::Integer(s) | Literal::Float(s) => Ok(s.clone()),
                Literal::Boolean(b) => Ok(b.to_string()),
                _ => Err(Error::config(format!(
                    "Invalid value in map property '{name}'"
                ))),
            };
            Ok((text(k)?, text(v)?))
        })
        .collect()
}

fn parse_num<T: std::str::FromStr>(name: &str, v: &PropertyValue) -> Result<T> {
    literal_text(v).and_then(|s| s.parse().ok()).ok_or_else(|| {
        Error::config(format!(
            "Invalid value for property '{name}': expected a number"
        ))
    })
}

fn parse_bool(name: &str, v: &PropertyValue) -> Result<bool> {
    match literal_text(v).map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        _ => Err(Error::config(format!(
            "Invalid value for property '{name}': expected a boolean"
        ))),
    }
}

/// Expands a short compaction class name to the full Java class name.
fn compaction_class(name: &str) -> Result<String> {
    let short = name.rsplit('.').next().unwrap_or(name);
    match short {
        "SizeTieredCompactionStrategy"
        | "LeveledCompactionStrategy"
        | "TimeWindowCompactionStrategy"
        | "UnifiedCompactionStrategy" => Ok(format!("org.apache.cassandra.db.compaction.{short}")),
        _ => Err(Error::config(format!(
            "Unable to find compaction strategy class '{name}'"
        ))),
    }
}

fn compression_class(name: &str) -> Result<String> {
    let short = name.rsplit('.').next().unwrap_or(name);
    match short {
        "LZ4Compressor" | "ZstdCompressor" | "SnappyCompressor" | "DeflateCompressor"
        | "NoopCompressor" => Ok(format!("org.apache.cassandra.io.compress.{short}")),
        _ => Err(Error::config(format!(
            "Could not create Compression for type {name}"
        ))),
    }
}

impl TableParams {
    /// Applies `WITH` properties; unknown names and bad values are errors.
    pub(crate) fn apply(&mut self, properties: &[Property]) -> Result<()> {
        for p in properties {
            let name = p.name.as_str();
            let v = &p.value;
            match name {
                "additional_write_policy" => {
                    self.additional_write_policy = literal_text(v).unwrap_or_default();
                }
                "bloom_filter_fp_chance" => {
                    let f: f64 = parse_num(name, v)?;
                    if !(f > 0.0 && f <= 1.0) {
                        return Err(Error::config(format!(
                            "bloom_filter_fp_chance must be larger than 0 and less than or equal to 1.0 (got {f})"
                        )));
                    }
                    self.bloom_filter_fp_chance = f;
                }
                "caching" => self.caching = literal_map(name, v)?,
                "cdc" => self.cdc = parse_bool(name, v)?,
                "comment" => self.comment = literal_text(v).unwrap_or_default(),
                "compaction" => {
                    let mut m = literal_map(name, v)?;
                    let class = m.get("class").cloned().ok_or_else(|| {
                        Error::config("Missing sub-option 'class' for the 'compaction' option.")
                    })?;
                    m.insert("class".to_owned(), compaction_class(&class)?);
                    if m.get("class").map(String::as_str) == Some(STCS) {
                        m.entry("max_threshold".to_owned())
                            .or_insert_with(|| "32".to_owned());
                        m.entry("min_threshold".to_owned())
                            .or_insert_with(|| "4".to_owned());
                    }
                    self.compaction = m;
                }
                "compression" => {
                    let mut m = literal_map(name, v)?;
                    if m.get("enabled").map(String::as_str) == Some("false") {
                        m = map(&[("enabled", "false")]);
                    } else {
                        let class = m
                            .remove("class")
                            .or_else(|| m.remove("sstable_compression"))
                            .unwrap_or_else(|| "LZ4Compressor".to_owned());
                        m.insert("class".to_owned(), compression_class(&class)?);
                        m.entry("chunk_length_in_kb".to_owned())
                            .or_insert_with(|| "16".to_owned());
                    }
                    self.compression = m;
                }
                "crc_check_chance" => self.crc_check_chance = parse_num(name, v)?,
                "default_time_to_live" => {
                    let ttl: i32 = parse_num(name, v)?;
                    if ttl < 0 {
                        return Err(Error::config(
                            "default_time_to_live must be greater than or equal to 0",
                        ));
                    }
                    self.default_time_to_live = ttl;
                }
                "gc_grace_seconds" => {
                    let g: i32 = parse_num(name, v)?;
                    if g < 0 {
                        return Err(Error::config(
                            "gc_grace_seconds must be greater than or equal to 0",
                        ));
                    }
                    self.gc_grace_seconds = g;
                }
                "max_index_interval" => self.max_index_interval = parse_num(name, v)?,
                "memtable_flush_period_in_ms" => {
                    self.memtable_flush_period_in_ms = parse_num(name, v)?
                }
                "min_index_interval" => self.min_index_interval = parse_num(name, v)?,
                "read_repair" => {
                    let s = literal_text(v).unwrap_or_default().to_ascii_uppercase();
                    if s != "BLOCKING" && s != "NONE" {
                        return Err(Error::config(format!("Invalid read_repair strategy {s}")));
                    }
                    self.read_repair = s;
                }
                "speculative_retry" => self.speculative_retry = literal_text(v).unwrap_or_default(),
                "tombstone_gc" => self.tombstone_gc = tombstone_gc(literal_map(name, v)?)?,
                other => {
                    return Err(Error::Syntax {
                        message: format!("Unknown property '{other}'"),
                    });
                }
            }
        }
        if self.min_index_interval > self.max_index_interval || self.min_index_interval < 1 {
            return Err(Error::config(
                "max_index_interval must be greater than min_index_interval",
            ));
        }
        Ok(())
    }
}

/// Keyspace options: `replication` (required on CREATE) and `durable_writes`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyspaceOptions {
    pub replication: Option<BTreeMap<String, String>>,
    pub durable_writes: Option<bool>,
}

/// Reads and validates `WITH replication = {...} AND durable_writes = ...`. `datacenters` are
/// the data centers the cluster knows (this node's first), those that
/// `NetworkTopologyStrategy`'s `replication_factor` shorthand expands to.
pub(crate) fn keyspace_options(
    keyspace: &str,
    properties: &[Property],
    datacenters: &[String],
) -> Result<KeyspaceOptions> {
    let mut out = KeyspaceOptions {
        replication: None,
        durable_writes: None,
    };
    for p in properties {
        match p.name.as_str() {
            "replication" => {
                out.replication = Some(replication(
                    keyspace,
                    &literal_map("replication", &p.value)?,
                    datacenters,
                )?);
            }
            "durable_writes" => out.durable_writes = Some(parse_bool("durable_writes", &p.value)?),
            other => {
                return Err(Error::Syntax {
                    message: format!("Unknown property '{other}'"),
                });
            }
        }
    }
    Ok(out)
}

/// Validates a replication map with the ring crate (the same code that places replicas), in a
/// topology of the cluster's known datacenters plus every datacenter the map names, and
/// returns it as `system_schema.keyspaces` stores it: NetworkTopologyStrategy's
/// `replication_factor` shorthand becomes one entry per known datacenter (Cassandra 4.0's
/// expansion; datacenters named explicitly keep their own factor). A datacenter the cluster
/// does not know is accepted (Cassandra accepts it with a warning: the datacenter may join
/// later), and logged.
fn replication(
    keyspace: &str,
    given: &BTreeMap<String, String>,
    datacenters: &[String],
) -> Result<BTreeMap<String, String>> {
    let class = given.get("class").map(String::as_str).unwrap_or_default();
    if class.rsplit('.').next() == Some("LocalStrategy") {
        return Err(Error::config(
            "Unable to use given strategy class: LocalStrategy is reserved for internal use.",
        ));
    }
    let mut topology = ilion_ring::TokenMetadata::new();
    let mut dcs: Vec<&str> = Vec::new();
    for dc in datacenters {
        if !dcs.contains(&dc.as_str()) {
            dcs.push(dc);
        }
    }
    if class.rsplit('.').next() == Some("NetworkTopologyStrategy") {
        for dc in given.keys() {
            if dc != "class"
                && !dc.eq_ignore_ascii_case("replication_factor")
                && !dcs.contains(&dc.as_str())
            {
                tracing::warn!(
                    keyspace,
                    datacenter = %dc,
                    "replication names a datacenter this node is not in"
                );
                dcs.push(dc);
            }
        }
    }
    for (i, dc) in dcs.into_iter().enumerate() {
        let n = u128::try_from(i).unwrap_or(u128::MAX).saturating_add(1);
        let token = i64::try_from(i).unwrap_or(i64::MAX);
        topology
            .add_node(
                ilion_ring::NodeId::from_u128(n),
                dc,
                "rack",
                [ilion_ring::Token::from(token)],
            )
            .map_err(|e| Error::server(format!("cannot build the validation topology: {e}")))?;
    }
    let strategy = ilion_ring::ReplicationStrategy::from_replication_map(given, Some(&topology))
        .map_err(|e| Error::config(format!("{e} (keyspace {keyspace})")))?;
    Ok(strategy.replication_map())
}
