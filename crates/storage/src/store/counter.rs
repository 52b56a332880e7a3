//! Counter increments as their leader applies them (Cassandra's `CounterMutation`): under a
//! lock per counter cell, this node's shard is read, the delta added and the clock advanced,
//! and the resulting shard is written like any cell. The mutation returned carries that shard
//! (an absolute state, not a delta) for the other replicas, which merge it by clock: a replica
//! given the same shard twice, or an older one after a newer, keeps the same value.
//!
//! The locks are striped over the whole process, as Cassandra's: two increments of the same
//! cell always meet on the same stripe, and a mutation takes its stripes in order, so two
//! mutations never wait on each other in a cycle.

use std::sync::{Mutex, MutexGuard};

use crate::cell::CounterShard;
use crate::error::{Error, Result};
use crate::key;
use crate::mutation::{Bound, CellOp, CellWrite, Mutation};
use crate::read::{ReadCommand, Slice};

use super::Table;

/// Lock stripes: enough that unrelated counters rarely share one.
const STRIPES: usize = 1024;

static LOCKS: [Mutex<()>; STRIPES] = [const { Mutex::new(()) }; STRIPES];

/// Where a counter cell sits in a mutation: the static row (`None`) or a row's clustering.
type CellAt = (Option<Vec<Vec<u8>>>, u16, Option<Vec<u8>>);

impl Table {
    /// Applies a mutation whose counter cells are [`CellOp::Increment`]s as the leader of
    /// those increments: each becomes this node's shard (`id`: this node's counter id) with
    /// the current value plus the delta, and a clock past both the current one and
    /// `now_micros`. Everything else in the mutation (deletions) is applied as it is. Returns
    /// the mutation as applied (increments replaced by [`CellOp::Counter`] shards), which is
    /// what the other replicas are sent.
    ///
    /// A counter shadowed by a deletion (of its row, partition, or the cell itself) counts
    /// from zero, as Cassandra's leader reads it.
    pub fn apply_counter(&self, m: &Mutation, id: [u8; 16], now_micros: i64) -> Result<Mutation> {
        let schema = self.schema();
        let p = key::partition(m.token, &m.partition_key);
        let mut stripes = Vec::new();
        let mut stripe_of = |prefix: &[u8], c: &CellWrite| -> Result<()> {
            if matches!(c.op, CellOp::Increment { .. }) {
                let mut k = prefix.to_vec();
                key::cell_suffix(&schema, c.column, c.path.as_deref(), &mut k)?;
                let mut h = xxhash_rust::xxh3::Xxh3::new();
                h.update(schema.qualified_name().as_bytes());
                h.update(&k);
                stripes.push((h.digest() % STRIPES as u64) as usize);
            }
            Ok(())
        };
        let mut static_prefix = p.clone();
        static_prefix.push(key::STATIC);
        for c in &m.static_cells {
            stripe_of(&static_prefix, c)?;
        }
        for row in &m.rows {
            let mut rk = p.clone();
            rk.push(key::ROWS);
            rk.extend_from_slice(&key::full_clustering(&schema, &row.clustering)?);
            rk.push(key::ROW_CELL);
            for c in &row.cells {
                stripe_of(&rk, c)?;
            }
        }
        stripes.sort_unstable();
        stripes.dedup();
        let _guards: Vec<MutexGuard<'_, ()>> = stripes
            .iter()
            .filter_map(|&i| LOCKS.get(i))
            .map(|l| l.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
            .collect();

        // This node's current shard of every counter cell the mutation increments, as stored
        // (deletions applied), updated as the mutation's own increments are applied in order.
        let mut current: Vec<(CellAt, CounterShard)> = Vec::new();
        let blank = CounterShard {
            id,
            clock: 0,
            value: 0,
        };
        let mut read_rows: Vec<Option<Vec<Vec<u8>>>> = Vec::new();
        let mut want = |at: Option<&Vec<Vec<u8>>>| {
            let at = at.cloned();
            if !read_rows.contains(&at) {
                read_rows.push(at);
            }
        };
        if m.static_cells
            .iter()
            .any(|c| matches!(c.op, CellOp::Increment { .. }))
        {
            want(None);
        }
        for row in &m.rows {
            if row
                .cells
                .iter()
                .any(|c| matches!(c.op, CellOp::Increment { .. }))
            {
                want(Some(&row.clustering));
            }
        }
        for at in read_rows {
            let mut cmd = ReadCommand::partition(m.token, m.partition_key.clone());
            match &at {
                Some(c) => {
                    cmd.slice = Slice {
                        start: Bound::Inclusive(c.clone()),
                        end: Bound::Inclusive(c.clone()),
                    };
                }
                None => cmd.limit = Some(1),
            }
            for stored in self.read_raw(&cmd)? {
                // The slice is the one row: its cells are named by the mutation's clustering
                // (the stored form of a value may differ in bytes, never in order).
                let cells: Vec<&CellWrite> = match &at {
                    None => stored.static_cells.iter().collect(),
                    Some(_) => stored.rows.iter().flat_map(|r| &r.cells).collect(),
                };
                for c in cells {
                    let row = at.clone();
                    if let CellOp::Counter { shards, .. } = &c.op
                        && let Some(own) = shards.iter().find(|s| s.id == id)
                    {
                        current.push(((row, c.column, c.path.clone()), *own));
                    }
                }
            }
        }

        let mut out = m.clone();
        let mut next = |at: CellAt, op: &mut CellOp| -> Result<()> {
            let CellOp::Increment { timestamp, delta } = *op else {
                return Ok(());
            };
            let slot = match current.iter().position(|(a, _)| *a == at) {
                Some(i) => i,
                None => {
                    current.push((at, blank));
                    current.len() - 1
                }
            };
            let shard = current
                .get_mut(slot)
                .map(|(_, s)| s)
                .ok_or_else(|| Error::Corruption {
                    table: schema.qualified_name(),
                    reason: "counter slot vanished",
                })?;
            shard.clock = now_micros.max(shard.clock.saturating_add(1));
            shard.value = shard.value.wrapping_add(delta);
            *op = CellOp::Counter {
                timestamp,
                shards: vec![*shard],
            };
            Ok(())
        };
        for c in &mut out.static_cells {
            next((None, c.column, c.path.clone()), &mut c.op)?;
        }
        for row in &mut out.rows {
            for c in &mut row.cells {
                next(
                    (Some(row.clustering.clone()), c.column, c.path.clone()),
                    &mut c.op,
                )?;
            }
        }
        self.apply(&out)?;
        Ok(out)
    }
}
