//! Partition digests for repair: what a replica stores of one partition, hashed so that two
//! replicas holding the same data give the same digest whatever their files look like.
//!
//! The digest covers exactly what [`Table::stream_page`](crate::Table::stream_page) would send
//! of the partition (the reconciled state: partition, range, row and cell deletions, row
//! markers, cells with their TTL and expiry, counter shards; entries shadowed by a wider
//! deletion left out), so a repair that finds two digests different and streams the partition
//! makes them equal. Column ids are local to a replica, so cells are hashed by column name,
//! in name order; everything else is hashed in the store's order (token, key, clustering), which
//! is the same on every replica. A mutation's `now` (when a write was made) is not stored and
//! not hashed.
//!
//! Tombstones that compaction may already purge (local deletion time at or before
//! `purge_before`) are left out: one replica may have dropped them and another not yet, and
//! that difference is not one repair should stream.

use xxhash_rust::xxh3::Xxh3;

use crate::cell::{Deletion, Ttl};
use crate::mutation::{Bound, CellOp, CellWrite, Liveness, Mutation};
use crate::schema::TableSchema;

/// One partition's digest, with its token (the order and the leaf it falls in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionDigest {
    pub token: i64,
    /// XXH3-128 of the partition's canonical form.
    pub digest: u128,
}

/// Tags that keep the parts of the canonical form apart.
mod tag {
    pub const PARTITION_DELETION: u8 = 1;
    pub const RANGE_DELETION: u8 = 2;
    pub const STATIC: u8 = 3;
    pub const ROW: u8 = 4;
    pub const MARKER: u8 = 5;
    pub const ROW_DELETION: u8 = 6;
    pub const SET: u8 = 7;
    pub const DELETE: u8 = 8;
    pub const DELETE_COLLECTION: u8 = 9;
    pub const COUNTER: u8 = 10;
    pub const INCREMENT: u8 = 11;
    pub const UNBOUNDED: u8 = 12;
    pub const INCLUSIVE: u8 = 13;
    pub const EXCLUSIVE: u8 = 14;
    pub const NO_TTL: u8 = 15;
    pub const TTL: u8 = 16;
    pub const EXPIRED: u8 = 17;
}

struct Canonical<'a> {
    h: Xxh3,
    schema: &'a TableSchema,
    now: i64,
    purge_before: i64,
}

impl Canonical<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.h.update(&(b.len() as u64).to_le_bytes());
        self.h.update(b);
    }

    fn i64(&mut self, v: i64) {
        self.h.update(&v.to_le_bytes());
    }

    fn tag(&mut self, t: u8) {
        self.h.update(&[t]);
    }

    /// Whether a tombstone is old enough that compaction may have dropped it already
    /// (the purge rule's `local deletion time < now - gc_grace_seconds`).
    fn purgeable(&self, d: &Deletion) -> bool {
        d.local_deletion_time < self.purge_before
    }

    /// The deletion a cell stands for: a tombstone, or an expired cell (one replica may
    /// still hold its value and another only the expired marker compaction left; they are
    /// the same thing, deleted at its write time, as the purge rule counts it).
    fn cell_deletion(&self, op: &CellOp) -> Option<Deletion> {
        match op {
            CellOp::Delete(d) | CellOp::DeleteCollection(d) => Some(*d),
            CellOp::Set {
                timestamp,
                ttl: Some(t),
                ..
            } if *t != Ttl::NONE && t.local_expiry <= self.now => Some(Deletion::new(
                *timestamp,
                t.local_expiry - i64::from(t.seconds),
            )),
            _ => None,
        }
    }

    fn deletion(&mut self, t: u8, d: &Deletion) {
        self.tag(t);
        self.i64(d.timestamp);
        self.i64(d.local_deletion_time);
    }

    fn ttl(&mut self, ttl: Option<Ttl>) {
        match ttl {
            // No TTL, whichever way it is spelled, is one thing.
            None => self.tag(tag::NO_TTL),
            Some(t) if t == Ttl::NONE => self.tag(tag::NO_TTL),
            Some(t) => {
                self.tag(tag::TTL);
                self.i64(i64::from(t.seconds));
                self.i64(t.local_expiry);
            }
        }
    }

    fn bound(&mut self, b: &Bound) {
        match b {
            Bound::Unbounded => self.tag(tag::UNBOUNDED),
            Bound::Inclusive(v) | Bound::Exclusive(v) => {
                self.tag(if matches!(b, Bound::Inclusive(_)) {
                    tag::INCLUSIVE
                } else {
                    tag::EXCLUSIVE
                });
                self.i64(v.len() as i64);
                for c in v {
                    self.bytes(c);
                }
            }
        }
    }

    fn marker(&mut self, m: &Liveness) {
        self.tag(tag::MARKER);
        self.i64(m.timestamp);
        self.ttl(m.ttl);
    }

    /// Cells in column-name order (then path order): ids differ between replicas.
    fn cells(&mut self, cells: &[CellWrite]) {
        let schema = self.schema;
        let mut named: Vec<(&str, &CellWrite)> = cells
            .iter()
            .filter(|c| {
                !self
                    .cell_deletion(&c.op)
                    .is_some_and(|d| self.purgeable(&d))
            })
            .map(|c| {
                let name = schema
                    .cell_column(c.column)
                    .map_or("", |col| col.name.as_str());
                (name, c)
            })
            .collect();
        named.sort_by(|(a, x), (b, y)| a.cmp(b).then_with(|| x.path.cmp(&y.path)));
        for (name, c) in named {
            self.bytes(name.as_bytes());
            match &c.path {
                Some(p) => self.bytes(p),
                None => self.tag(0),
            }
            match &c.op {
                CellOp::Set { timestamp, ttl, .. } if self.cell_deletion(&c.op).is_some() => {
                    self.tag(tag::EXPIRED);
                    self.i64(*timestamp);
                    self.ttl(*ttl);
                }
                CellOp::Set {
                    timestamp,
                    value,
                    ttl,
                } => {
                    self.tag(tag::SET);
                    self.i64(*timestamp);
                    self.bytes(value);
                    self.ttl(*ttl);
                }
                CellOp::Delete(d) => self.deletion(tag::DELETE, d),
                CellOp::DeleteCollection(d) => self.deletion(tag::DELETE_COLLECTION, d),
                CellOp::Counter { timestamp, shards } => {
                    self.tag(tag::COUNTER);
                    self.i64(*timestamp);
                    self.i64(shards.len() as i64);
                    for s in shards {
                        self.h.update(&s.id);
                        self.i64(s.clock);
                        self.i64(s.value);
                    }
                }
                CellOp::Increment { timestamp, delta } => {
                    self.tag(tag::INCREMENT);
                    self.i64(*timestamp);
                    self.i64(*delta);
                }
            }
        }
    }
}

/// The digest of partition `m` (as [`Table::stream_page`](crate::Table::stream_page) reads
/// it) of a table described by `schema`, at `now` (seconds since the epoch: which cells have
/// expired), leaving out tombstones whose local deletion time is before `purge_before`
/// (`i64::MIN` keeps every one).
pub fn partition_digest(schema: &TableSchema, m: &Mutation, now: i64, purge_before: i64) -> u128 {
    let mut c = Canonical {
        h: Xxh3::new(),
        schema,
        now,
        purge_before,
    };
    c.i64(m.token);
    c.bytes(&m.partition_key);
    if let Some(d) = m.partition_deletion.filter(|d| !c.purgeable(d)) {
        c.deletion(tag::PARTITION_DELETION, &d);
    }
    for r in &m.range_deletions {
        if c.purgeable(&r.deletion) {
            continue;
        }
        c.tag(tag::RANGE_DELETION);
        c.bound(&r.start);
        c.bound(&r.end);
        c.deletion(tag::RANGE_DELETION, &r.deletion);
    }
    if !m.static_cells.is_empty() {
        c.tag(tag::STATIC);
        c.cells(&m.static_cells);
    }
    for row in &m.rows {
        let deletion = row.deletion.filter(|d| !c.purgeable(d));
        let empty = row.marker.is_none()
            && deletion.is_none()
            && row
                .cells
                .iter()
                .all(|cell| c.cell_deletion(&cell.op).is_some_and(|d| c.purgeable(&d)));
        if empty {
            continue;
        }
        c.tag(tag::ROW);
        c.i64(row.clustering.len() as i64);
        for v in &row.clustering {
            c.bytes(v);
        }
        if let Some(m) = &row.marker {
            c.marker(m);
        }
        if let Some(d) = deletion {
            c.deletion(tag::ROW_DELETION, &d);
        }
        c.cells(&row.cells);
    }
    c.h.digest128()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutation::RangeDeletion;
    use crate::schema::{CqlType, Order, TableSchema};

    fn schema(columns: &[&str]) -> TableSchema {
        let mut b = TableSchema::builder("ks", "t")
            .partition_key("k", CqlType::Int)
            .clustering("c", CqlType::Int, Order::Asc);
        for name in columns {
            b = b.regular(name, CqlType::Text);
        }
        b.build().unwrap()
    }

    fn row(schema: &TableSchema, cells: &[(&str, i64, &str)]) -> Mutation {
        let mut m = Mutation::new(7, vec![0, 0, 0, 1], 100);
        let r = m.row(vec![vec![0, 0, 0, 2]]);
        r.marker = Some(Liveness {
            timestamp: 1,
            ttl: None,
        });
        for (name, ts, v) in cells {
            let id = schema.column_id(name).unwrap();
            r.set(id, *ts, v.as_bytes().to_vec());
        }
        m
    }

    #[test]
    fn cells_are_hashed_by_name_whatever_their_local_ids_and_order() {
        let a = schema(&["x", "y"]);
        let b = schema(&["y", "x"]);
        let ma = row(&a, &[("x", 1, "1"), ("y", 2, "2")]);
        let mb = row(&b, &[("y", 2, "2"), ("x", 1, "1")]);
        assert_ne!(
            a.column_id("x"),
            b.column_id("x"),
            "the two schemas must number x differently for this test to mean anything"
        );
        assert_eq!(
            partition_digest(&a, &ma, 0, i64::MIN),
            partition_digest(&b, &mb, 0, i64::MIN)
        );
    }

    #[test]
    fn every_difference_a_replica_can_have_changes_the_digest() {
        let s = schema(&["x", "y"]);
        let base = row(&s, &[("x", 1, "1")]);
        let d = |m: &Mutation| partition_digest(&s, m, 0, i64::MIN);
        let mut variants = vec![base.clone()];
        variants.push(row(&s, &[("x", 2, "1")])); // timestamp
        variants.push(row(&s, &[("x", 1, "2")])); // value
        variants.push(row(&s, &[("y", 1, "1")])); // column
        let mut m = base.clone();
        m.now = 999; // not stored: must not count
        assert_eq!(d(&m), d(&base));
        let mut m = base.clone();
        m.partition_deletion = Some(Deletion::new(5, 10));
        variants.push(m);
        let mut m = base.clone();
        m.range_deletions.push(RangeDeletion {
            start: Bound::Inclusive(vec![vec![0, 0, 0, 3]]),
            end: Bound::Unbounded,
            deletion: Deletion::new(5, 10),
        });
        variants.push(m);
        let mut m = base.clone();
        m.rows[0].deletion = Some(Deletion::new(5, 10));
        variants.push(m);
        let mut m = base.clone();
        m.rows[0].cells[0].op = CellOp::Set {
            timestamp: 1,
            value: b"1".to_vec(),
            ttl: Some(Ttl {
                seconds: 60,
                local_expiry: 160,
            }),
        };
        variants.push(m);
        let mut m = base.clone();
        m.rows[0].marker = None;
        variants.push(m);
        let digests: std::collections::BTreeSet<u128> = variants.iter().map(d).collect();
        assert_eq!(digests.len(), variants.len(), "two variants hashed alike");
    }

    #[test]
    fn no_ttl_spelled_either_way_is_the_same() {
        let s = schema(&["x"]);
        let mut a = row(&s, &[("x", 1, "1")]);
        let mut b = a.clone();
        a.rows[0].marker = Some(Liveness {
            timestamp: 1,
            ttl: Some(Ttl::NONE),
        });
        b.rows[0].marker = Some(Liveness {
            timestamp: 1,
            ttl: None,
        });
        assert_eq!(
            partition_digest(&s, &a, 0, i64::MIN),
            partition_digest(&s, &b, 0, i64::MIN)
        );
    }

    #[test]
    fn an_expired_cell_is_the_same_with_or_without_its_value() {
        let s = schema(&["x"]);
        let expiring = |value: &[u8]| {
            let mut m = row(&s, &[]);
            m.rows[0].cells.push(CellWrite {
                column: s.column_id("x").unwrap(),
                path: None,
                op: CellOp::Set {
                    timestamp: 1,
                    value: value.to_vec(),
                    ttl: Some(Ttl {
                        seconds: 10,
                        local_expiry: 110,
                    }),
                },
            });
            m
        };
        let (held, compacted) = (expiring(b"v"), expiring(b""));
        assert_ne!(
            partition_digest(&s, &held, 109, i64::MIN),
            partition_digest(&s, &compacted, 109, i64::MIN),
            "still live: the value is data"
        );
        assert_eq!(
            partition_digest(&s, &held, 110, i64::MIN),
            partition_digest(&s, &compacted, 110, i64::MIN)
        );
        // Deleted at its write time (110 - 10): purgeable from then on.
        assert_eq!(
            partition_digest(&s, &held, 200, 101),
            partition_digest(&s, &row(&s, &[]), 200, 101)
        );
    }

    #[test]
    fn purgeable_tombstones_do_not_count() {
        let s = schema(&["x"]);
        let live = row(&s, &[("x", 1, "1")]);
        let mut tombstoned = live.clone();
        tombstoned.rows[0].cells.push(CellWrite {
            column: s.column_id("x").unwrap(),
            path: Some(vec![1]),
            op: CellOp::Delete(Deletion::new(3, 50)),
        });
        // Before gc grace the tombstone is data; once purgeable, one replica may have it
        // and another not.
        assert_ne!(
            partition_digest(&s, &live, 0, 50),
            partition_digest(&s, &tombstoned, 0, 50)
        );
        assert_eq!(
            partition_digest(&s, &live, 0, 51),
            partition_digest(&s, &tombstoned, 0, 51)
        );
    }
}
