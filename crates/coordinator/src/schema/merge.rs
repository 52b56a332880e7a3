//! The schema across nodes: an order-independent merge (see `docs/cluster-schema.md`).
//!
//! Every keyspace, table and user type definition carries the time of its last change
//! ([`History`]); a drop keeps a timestamped tombstone. Merging two schemas takes, per
//! definition, the entry with the higher timestamp (ties broken by the entry itself), so the
//! merge is commutative, associative and idempotent: nodes that have seen the same changes,
//! in any order and through any number of hops, hold the same schema. The materialized
//! keyspaces are a pure function of the history.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use ilion_cql::protocol::{ChangeType, SchemaChange, SchemaTarget};
use serde::{Deserialize, Serialize};

use super::{Keyspace, Schema, Table, UserType, is_system_keyspace};

/// What kind of definition an entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ItemKind {
    Keyspace,
    Table,
    Type,
}

/// The identity of a definition: a keyspace (empty `name`), or a table or type in one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemKey {
    pub kind: ItemKind,
    pub keyspace: String,
    pub name: String,
}

/// A definition as the history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Definition {
    /// A keyspace's own attributes (its tables and types are entries of their own).
    Keyspace {
        durable_writes: bool,
        replication: BTreeMap<String, String>,
    },
    Table(Box<Table>),
    Type(UserType),
}

/// One definition's latest state: live (`definition` set) or dropped (a tombstone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// When the definition last changed (microseconds since the epoch).
    pub at: i64,
    /// For keyspaces: when this incarnation was created. A table or type changed before its
    /// keyspace's creation belongs to an earlier incarnation and is not materialized.
    #[serde(default)]
    pub created: i64,
    /// The definition, or `None` for a drop.
    pub definition: Option<Definition>,
}

impl Entry {
    /// The total order the merge uses: the later change wins; at the same time a drop wins;
    /// then the larger canonical encoding (so any two nodes pick the same entry).
    fn precedence(&self, other: &Entry) -> Ordering {
        self.at
            .cmp(&other.at)
            .then_with(|| self.definition.is_none().cmp(&other.definition.is_none()))
            .then_with(|| self.canonical().cmp(&other.canonical()))
    }

    fn canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Per definition, its latest entry. Serialized as a list of records.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<Record>", into = "Vec<Record>")]
pub struct History {
    entries: BTreeMap<ItemKey, Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    kind: ItemKind,
    keyspace: String,
    #[serde(default)]
    name: String,
    #[serde(flatten)]
    entry: Entry,
}

impl From<Vec<Record>> for History {
    fn from(records: Vec<Record>) -> History {
        let mut h = History::default();
        for r in records {
            h.offer(
                ItemKey {
                    kind: r.kind,
                    keyspace: r.keyspace,
                    name: r.name,
                },
                r.entry,
            );
        }
        h
    }
}

impl From<History> for Vec<Record> {
    fn from(h: History) -> Vec<Record> {
        h.entries
            .into_iter()
            .map(|(k, entry)| Record {
                kind: k.kind,
                keyspace: k.keyspace,
                name: k.name,
                entry,
            })
            .collect()
    }
}

impl History {
    /// Every entry, by definition.
    pub fn entries(&self) -> &BTreeMap<ItemKey, Entry> {
        &self.entries
    }

    /// The latest timestamp recorded.
    pub fn max_at(&self) -> i64 {
        self.entries
            .values()
            .map(|e| e.at)
            .max()
            .unwrap_or(i64::MIN)
    }

    /// Keeps `entry` for `key` if it takes precedence over the one held.
    fn offer(&mut self, key: ItemKey, entry: Entry) {
        match self.entries.get(&key) {
            Some(held) if held.precedence(&entry) != Ordering::Less => {}
            _ => {
                self.entries.insert(key, entry);
            }
        }
    }

    /// The join of two histories: per definition, the entry that takes precedence.
    pub fn join(&self, other: &History) -> History {
        let mut out = self.clone();
        for (k, e) in &other.entries {
            out.offer(k.clone(), e.clone());
        }
        out
    }

    /// The user keyspaces this history describes. A system keyspace's entry holds only the
    /// replication ALTER KEYSPACE gave it ([`History::keyspace_params`]), not a keyspace.
    pub fn materialize(&self) -> BTreeMap<String, Keyspace> {
        let mut out: BTreeMap<String, Keyspace> = BTreeMap::new();
        let mut created: BTreeMap<&str, i64> = BTreeMap::new();
        for (k, e) in &self.entries {
            if is_system_keyspace(&k.keyspace) {
                continue;
            }
            if let (
                ItemKind::Keyspace,
                Some(Definition::Keyspace {
                    durable_writes,
                    replication,
                }),
            ) = (k.kind, &e.definition)
            {
                created.insert(&k.keyspace, e.created);
                out.insert(
                    k.keyspace.clone(),
                    Keyspace {
                        name: k.keyspace.clone(),
                        durable_writes: *durable_writes,
                        replication: replication.clone(),
                        tables: BTreeMap::new(),
                        types: BTreeMap::new(),
                    },
                );
            }
        }
        for (k, e) in &self.entries {
            let Some(ks) = out.get_mut(&k.keyspace) else {
                continue;
            };
            if created.get(k.keyspace.as_str()).is_some_and(|c| e.at < *c) {
                continue;
            }
            match &e.definition {
                Some(Definition::Table(t)) if k.kind == ItemKind::Table => {
                    ks.tables.insert(k.name.clone(), (**t).clone());
                }
                Some(Definition::Type(u)) if k.kind == ItemKind::Type => {
                    ks.types.insert(k.name.clone(), u.clone());
                }
                _ => {}
            }
        }
        out
    }

    /// Records the change from `old` to `new` (the materialized keyspaces before and after a
    /// schema statement) at `now`, or just after the latest recorded change if the clock is
    /// behind it. Returns the timestamp used.
    pub fn record(
        &mut self,
        old: &BTreeMap<String, Keyspace>,
        new: &BTreeMap<String, Keyspace>,
        now: i64,
    ) -> i64 {
        let at = now.max(self.max_at().saturating_add(1));
        let before = definitions(old);
        let after = definitions(new);
        let mut keys: Vec<&ItemKey> = before.keys().chain(after.keys()).collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            let (b, a) = (before.get(key), after.get(key));
            if b == a {
                continue;
            }
            let created = match (key.kind, b) {
                (ItemKind::Keyspace, None) => at,
                _ => self.entries.get(key).map_or(0, |e| e.created),
            };
            self.entries.insert(
                key.clone(),
                Entry {
                    at,
                    created,
                    definition: a.cloned(),
                },
            );
        }
        at
    }

    /// The durable_writes and replication last set on keyspace `name` (for a system keyspace:
    /// by ALTER KEYSPACE), if it has a live entry.
    pub fn keyspace_params(&self, name: &str) -> Option<(bool, &BTreeMap<String, String>)> {
        let key = ItemKey {
            kind: ItemKind::Keyspace,
            keyspace: name.to_owned(),
            name: String::new(),
        };
        match &self.entries.get(&key)?.definition {
            Some(Definition::Keyspace {
                durable_writes,
                replication,
            }) => Some((*durable_writes, replication)),
            _ => None,
        }
    }

    /// Records at `at` the attributes of the system keyspaces of `new` that differ from
    /// `old` (both [`Schema::replicated_system`]).
    pub fn record_system(
        &mut self,
        old: &BTreeMap<String, Keyspace>,
        new: &BTreeMap<String, Keyspace>,
        at: i64,
    ) {
        for ks in new.values() {
            let unchanged = old.get(&ks.name).is_some_and(|o| {
                o.durable_writes == ks.durable_writes && o.replication == ks.replication
            });
            if unchanged {
                continue;
            }
            self.entries.insert(
                ItemKey {
                    kind: ItemKind::Keyspace,
                    keyspace: ks.name.clone(),
                    name: String::new(),
                },
                Entry {
                    at,
                    created: 0,
                    definition: Some(Definition::Keyspace {
                        durable_writes: ks.durable_writes,
                        replication: ks.replication.clone(),
                    }),
                },
            );
        }
    }

    /// Gives every materialized definition without an entry one at time 0 (a schema written
    /// before histories existed).
    pub fn backfill(&mut self, keyspaces: &BTreeMap<String, Keyspace>) {
        for (key, def) in definitions(keyspaces) {
            self.entries.entry(key).or_insert(Entry {
                at: 0,
                created: 0,
                definition: Some(def),
            });
        }
    }
}

/// Every definition of `keyspaces`, by key.
fn definitions(keyspaces: &BTreeMap<String, Keyspace>) -> BTreeMap<ItemKey, Definition> {
    let mut out = BTreeMap::new();
    for ks in keyspaces.values() {
        out.insert(
            ItemKey {
                kind: ItemKind::Keyspace,
                keyspace: ks.name.clone(),
                name: String::new(),
            },
            Definition::Keyspace {
                durable_writes: ks.durable_writes,
                replication: ks.replication.clone(),
            },
        );
        for t in ks.tables.values() {
            out.insert(
                ItemKey {
                    kind: ItemKind::Table,
                    keyspace: ks.name.clone(),
                    name: t.name.clone(),
                },
                Definition::Table(Box::new(t.clone())),
            );
        }
        for u in ks.types.values() {
            out.insert(
                ItemKey {
                    kind: ItemKind::Type,
                    keyspace: ks.name.clone(),
                    name: u.name.clone(),
                },
                Definition::Type(u.clone()),
            );
        }
    }
    out
}

/// Merges two schemas: the join of their histories, materialized.
pub fn merge(local: &Schema, remote: &Schema) -> Schema {
    let mut l = local.history.clone();
    l.backfill(&local.keyspaces);
    let mut r = remote.history.clone();
    r.backfill(&remote.keyspaces);
    let history = l.join(&r);
    Schema {
        keyspaces: history.materialize(),
        history,
        replicated_system: BTreeMap::new(),
    }
}

/// The SCHEMA_CHANGE events that take a client from `old` to `new`.
pub fn changes(
    old: &BTreeMap<String, Keyspace>,
    new: &BTreeMap<String, Keyspace>,
) -> Vec<SchemaChange> {
    let before = definitions(old);
    let after = definitions(new);
    let mut keys: Vec<&ItemKey> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for key in keys {
        let change = match (before.get(key), after.get(key)) {
            (None, Some(_)) => ChangeType::Created,
            (Some(_), None) => ChangeType::Dropped,
            (Some(b), Some(a)) if b != a => ChangeType::Updated,
            _ => continue,
        };
        let target = match key.kind {
            ItemKind::Keyspace => SchemaTarget::Keyspace {
                keyspace: key.keyspace.clone(),
            },
            ItemKind::Table => SchemaTarget::Table {
                keyspace: key.keyspace.clone(),
                name: key.name.clone(),
            },
            ItemKind::Type => SchemaTarget::Type {
                keyspace: key.keyspace.clone(),
                name: key.name.clone(),
            },
        };
        out.push(SchemaChange { change, target });
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use ilion_types::CqlType;

    fn keyspace(name: &str, rf: u8) -> Keyspace {
        let mut replication = BTreeMap::new();
        replication.insert("class".to_owned(), "SimpleStrategy".to_owned());
        replication.insert("replication_factor".to_owned(), rf.to_string());
        Keyspace {
            name: name.to_owned(),
            durable_writes: true,
            replication,
            tables: BTreeMap::new(),
            types: BTreeMap::new(),
        }
    }

    /// One schema change a node makes, on keyspace `k{ks}` or type `k{ks}.u{ty}`.
    #[derive(Debug, Clone)]
    enum Op {
        CreateKeyspace { ks: u8, rf: u8 },
        DropKeyspace { ks: u8 },
        CreateType { ks: u8, ty: u8, fields: u8 },
        DropType { ks: u8, ty: u8 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..3, 1u8..4).prop_map(|(ks, rf)| Op::CreateKeyspace { ks, rf }),
            (0u8..3).prop_map(|ks| Op::DropKeyspace { ks }),
            (0u8..3, 0u8..2, 1u8..3).prop_map(|(ks, ty, fields)| Op::CreateType { ks, ty, fields }),
            (0u8..3, 0u8..2).prop_map(|(ks, ty)| Op::DropType { ks, ty }),
        ]
    }

    /// Applies `op` as a schema statement would (a no-op when it does not apply), recording
    /// it at `now`.
    fn apply(schema: &mut Schema, op: &Op, now: i64) {
        let old = schema.keyspaces.clone();
        let mut new = old.clone();
        match *op {
            Op::CreateKeyspace { ks, rf } => {
                let name = format!("k{ks}");
                new.entry(name.clone())
                    .or_insert_with(|| keyspace(&name, rf));
            }
            Op::DropKeyspace { ks } => {
                new.remove(&format!("k{ks}"));
            }
            Op::CreateType { ks, ty, fields } => {
                if let Some(k) = new.get_mut(&format!("k{ks}")) {
                    let name = format!("u{ty}");
                    k.types.insert(
                        name.clone(),
                        UserType {
                            keyspace: k.name.clone(),
                            name,
                            fields: (0..fields)
                                .map(|i| (format!("f{i}"), CqlType::Int))
                                .collect(),
                        },
                    );
                }
            }
            Op::DropType { ks, ty } => {
                if let Some(k) = new.get_mut(&format!("k{ks}")) {
                    k.types.remove(&format!("u{ty}"));
                }
            }
        }
        schema.history.record(&old, &new, now);
        schema.keyspaces = new;
    }

    #[test]
    fn a_drop_is_a_tombstone_that_beats_an_older_definition() {
        let mut a = Schema::default();
        apply(&mut a, &Op::CreateKeyspace { ks: 0, rf: 1 }, 10);
        let mut b = a.clone();
        apply(&mut b, &Op::DropKeyspace { ks: 0 }, 20);
        assert!(merge(&a, &b).keyspaces.is_empty());
        assert!(merge(&b, &a).keyspaces.is_empty());
        // A later re-creation beats the drop.
        apply(&mut a, &Op::DropKeyspace { ks: 0 }, 21);
        apply(&mut a, &Op::CreateKeyspace { ks: 0, rf: 3 }, 30);
        let m = merge(&b, &a);
        assert_eq!(m.keyspaces.get("k0"), Some(&keyspace("k0", 3)));
    }

    #[test]
    fn a_type_made_before_its_keyspace_was_recreated_elsewhere_stays_dropped() {
        let mut a = Schema::default();
        apply(&mut a, &Op::CreateKeyspace { ks: 0, rf: 1 }, 10);
        let mut b = a.clone();
        // a adds a type while b drops and recreates the keyspace without having seen it.
        apply(
            &mut a,
            &Op::CreateType {
                ks: 0,
                ty: 0,
                fields: 1,
            },
            15,
        );
        apply(&mut b, &Op::DropKeyspace { ks: 0 }, 12);
        apply(&mut b, &Op::CreateKeyspace { ks: 0, rf: 2 }, 20);
        let m = merge(&a, &b);
        assert_eq!(m.keyspaces.get("k0"), Some(&keyspace("k0", 2)));
        assert_eq!(m, merge(&b, &a));
    }

    #[test]
    fn the_history_survives_its_json_form() {
        let mut a = Schema::default();
        apply(&mut a, &Op::CreateKeyspace { ks: 1, rf: 2 }, 5);
        apply(
            &mut a,
            &Op::CreateType {
                ks: 1,
                ty: 1,
                fields: 2,
            },
            6,
        );
        apply(&mut a, &Op::DropType { ks: 1, ty: 1 }, 7);
        let json = serde_json::to_string(&a).unwrap();
        let back: Schema = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.history.materialize(), a.keyspaces);
    }

    #[test]
    fn recording_never_goes_back_in_time() {
        let mut a = Schema::default();
        apply(&mut a, &Op::CreateKeyspace { ks: 0, rf: 1 }, 100);
        apply(&mut a, &Op::CreateKeyspace { ks: 1, rf: 1 }, 50);
        assert_eq!(a.history.max_at(), 101);
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 64,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed),
            ..ProptestConfig::default()
        })]

        /// Three nodes make changes (each at its own times), then their schemas are merged in
        /// every order and grouping: always the same result, which is also what the history
        /// materializes to, and merging again changes nothing.
        #[test]
        fn merge_is_commutative_associative_and_idempotent(
            ops in proptest::collection::vec((0usize..3, op(), 0i64..40), 1..24)
        ) {
            let mut nodes = [Schema::default(), Schema::default(), Schema::default()];
            for (node, op, at) in &ops {
                // A node sometimes learns another's schema first.
                if *at % 7 == 0 {
                    let other = nodes[(node + 1) % 3].clone();
                    nodes[*node] = merge(&nodes[*node], &other);
                }
                apply(&mut nodes[*node], op, *at);
                prop_assert_eq!(nodes[*node].history.materialize(), nodes[*node].keyspaces.clone());
            }
            let [a, b, c] = [&nodes[0], &nodes[1], &nodes[2]];
            let abc = merge(&merge(a, b), c);
            prop_assert_eq!(&abc, &merge(a, &merge(b, c)));
            prop_assert_eq!(&abc, &merge(&merge(c, a), b));
            prop_assert_eq!(&abc, &merge(&merge(b, c), a));
            prop_assert_eq!(&merge(a, b), &merge(b, a));
            prop_assert_eq!(&abc, &merge(&abc, a));
            prop_assert_eq!(&abc, &merge(&abc, &abc));
            prop_assert_eq!(abc.history.materialize(), abc.keyspaces.clone());
        }
    }
}
