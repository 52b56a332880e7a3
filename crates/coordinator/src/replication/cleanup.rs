//! Cleanup (`ilion cleanup [KEYSPACE]`): after nodes joined, each old owner still stores the
//! rows of the ranges it gave away; cleanup deletes every partition of a range this node is
//! no replica of, then compacts, so the disk space comes back (Cassandra's `nodetool
//! cleanup`). Refused while the ring changes: a range being handed over must stay where it is.

use ilion_ring::Token;

use super::Replication;
use crate::data::storage_error;
use crate::schema::is_system_keyspace;
use crate::{Error, Result};

/// What a cleanup dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Tables cleaned.
    pub tables: usize,
    /// Token ranges (pieces that never wrap) whose partitions were deleted, over all tables.
    pub ranges: usize,
}

impl Replication {
    /// Deletes, in `keyspace` (or every user keyspace), the partitions of the ranges this node
    /// does not replicate, and compacts the tables.
    pub fn cleanup(&self, keyspace: Option<&str>) -> Result<Cleaned> {
        self.cleanup_with_progress(keyspace, |_, _| {})
    }

    /// [`cleanup`](Self::cleanup), telling `progress` the tables cleaned and the tables to
    /// clean: once when the work is planned (0 cleaned), then after each table.
    pub fn cleanup_with_progress(
        &self,
        keyspace: Option<&str>,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Cleaned> {
        let topo = self.topology();
        if !topo.changes.is_empty() {
            return Err(Error::invalid(
                "Node is involved in cluster membership changes. Not safe to run cleanup.",
            ));
        }
        let Some(local) = topo.local else {
            return Err(Error::invalid(
                "this node owns no range yet: nothing to clean up",
            ));
        };
        let schema = self.schema.read().clone();
        // User keyspaces and the replicated system ones (system_auth): a lowered
        // replication factor leaves copies to drop there too.
        let keyspaces: Vec<_> = match keyspace {
            Some(name) => match schema.replicated_system.get(name) {
                Some(ks) => vec![ks.clone()],
                None => vec![schema.keyspace(name)?.clone()],
            },
            None => schema
                .keyspaces
                .values()
                .filter(|k| !is_system_keyspace(&k.name))
                .chain(schema.replicated_system.values())
                .cloned()
                .collect(),
        };
        let ring: Vec<Token> = topo.meta.ring().iter().map(|&(t, _)| t).collect();
        let mut cleaned = Cleaned::default();
        let total = keyspaces.iter().map(|k| k.tables.len()).sum();
        progress(0, total);
        for ks in &keyspaces {
            let placement = topo.placement(ks)?;
            // Ranges (previous token, token] this node does not replicate, as store pieces.
            let mut drop = Vec::new();
            for (i, &end) in ring.iter().enumerate() {
                if placement.map.replicas(end).contains(&local) {
                    continue;
                }
                let start = match i.checked_sub(1) {
                    Some(p) => ring.get(p).copied().unwrap_or(end),
                    None => ring.last().copied().unwrap_or(end),
                };
                let (l, r) = (start.value(), end.value());
                if l < r {
                    drop.push((Some(l), Some(r)));
                } else if l > r {
                    drop.push((Some(l), None));
                    drop.push((None, Some(r)));
                }
            }
            for name in ks.tables.keys() {
                let table = self
                    .local
                    .store
                    .table(&ks.name, name)
                    .map_err(storage_error)?;
                for (start, end) in &drop {
                    table
                        .delete_token_range(*start, *end)
                        .map_err(storage_error)?;
                }
                table.compact().map_err(storage_error)?;
                cleaned.tables += 1;
                cleaned.ranges += drop.len();
                progress(cleaned.tables, total);
            }
        }
        tracing::info!(
            tables = cleaned.tables,
            ranges = cleaned.ranges,
            "cleanup finished"
        );
        Ok(cleaned)
    }
}
