//! The block cache: a sharded LRU of decompressed data blocks, keyed by (table id, block offset),
//! bounded in bytes.
//!
//! Only compressed blocks are cached. An uncompressed block is read straight from the table's
//! mmap (the OS page cache is its cache): caching it would copy 4 KiB per miss and double the
//! memory it occupies, while the mmap read is already zero-copy. Its checksum is verified once
//! per open table and remembered in a bitmap on the table, so a hot uncompressed block costs a
//! bit test, not a hash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use parking_lot::Mutex;

/// Hit and miss counts and the bytes held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub bytes: u64,
}

const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;
/// Bytes charged per entry beyond the block itself (node, map slot, `Arc` header).
const ENTRY_OVERHEAD: usize = 80;
const NIL: usize = usize::MAX;
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

type Key = (u64, u64);

/// A sharded LRU of decompressed blocks. `Send + Sync`; shared as `Arc<BlockCache>` by every
/// table of a database.
#[derive(Debug)]
pub(crate) struct BlockCache {
    shards: Vec<Mutex<Shard>>,
}

impl BlockCache {
    /// A cache holding at most about `capacity_bytes` of blocks (0 caches nothing).
    pub fn new(capacity_bytes: usize) -> BlockCache {
        let per_shard = capacity_bytes / SHARDS;
        BlockCache {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Shard::new(per_shard)))
                .collect(),
        }
    }

    fn shard(&self, key: Key) -> Option<&Mutex<Shard>> {
        let h = (key.0.wrapping_mul(MIX) ^ key.1).wrapping_mul(MIX);
        self.shards.get((h >> (64 - SHARD_BITS)) as usize)
    }

    /// The cached block at (`table`, `offset`), counting a hit or a miss.
    pub(crate) fn get(&self, table: u64, offset: u64) -> Option<Arc<[u8]>> {
        self.shard((table, offset))?.lock().get((table, offset))
    }

    /// Caches a block (replacing any entry with the same key), evicting the least recently used.
    pub(crate) fn insert(&self, table: u64, offset: u64, block: Arc<[u8]>) {
        if let Some(s) = self.shard((table, offset)) {
            s.lock().insert((table, offset), block);
        }
    }

    /// Hits, misses and bytes held (the sum over shards, each read under its lock).
    pub fn stats(&self) -> CacheStats {
        let mut total = CacheStats::default();
        for s in &self.shards {
            let s = s.lock();
            total.hits += s.hits;
            total.misses += s.misses;
            total.bytes += s.bytes as u64;
        }
        total
    }
}

/// A multiplicative hasher for the (u64, u64) keys: the map needs no DoS resistance (keys are
/// table ids and offsets the engine assigns).
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(MIX);
    }
}

#[derive(Debug)]
struct Node {
    key: Key,
    value: Option<Arc<[u8]>>,
    charge: usize,
    prev: usize,
    next: usize,
}

/// One LRU: a slab of nodes in a doubly linked list (head = most recent) and a map to them.
#[derive(Debug)]
struct Shard {
    map: HashMap<Key, usize, BuildHasherDefault<KeyHasher>>,
    nodes: Vec<Node>,
    free: Vec<usize>,
    head: usize,
    tail: usize,
    bytes: usize,
    capacity: usize,
    hits: u64,
    misses: u64,
}

#[expect(
    clippy::indexing_slicing,
    reason = "slab indices come from the shard's own map and list, never from file bytes"
)]
impl Shard {
    fn new(capacity: usize) -> Shard {
        Shard {
            map: HashMap::default(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            bytes: 0,
            capacity,
            hits: 0,
            misses: 0,
        }
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.nodes[i].prev, self.nodes[i].next);
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
    }

    fn push_front(&mut self, i: usize) {
        self.nodes[i].prev = NIL;
        self.nodes[i].next = self.head;
        if self.head != NIL {
            self.nodes[self.head].prev = i;
        }
        self.head = i;
        if self.tail == NIL {
            self.tail = i;
        }
    }

    fn get(&mut self, key: Key) -> Option<Arc<[u8]>> {
        match self.map.get(&key) {
            Some(&i) => {
                self.hits += 1;
                if self.head != i {
                    self.unlink(i);
                    self.push_front(i);
                }
                self.nodes[i].value.clone()
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    fn remove(&mut self, i: usize) {
        self.unlink(i);
        let node = &mut self.nodes[i];
        node.value = None;
        self.bytes -= node.charge;
        self.map.remove(&node.key);
        self.free.push(i);
    }

    fn insert(&mut self, key: Key, value: Arc<[u8]>) {
        let charge = value.len() + ENTRY_OVERHEAD;
        if charge > self.capacity {
            return;
        }
        if let Some(&i) = self.map.get(&key) {
            self.remove(i);
        }
        while self.bytes + charge > self.capacity && self.tail != NIL {
            self.remove(self.tail);
        }
        let node = Node {
            key,
            value: Some(value),
            charge,
            prev: NIL,
            next: NIL,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = node;
                i
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.push_front(i);
        self.map.insert(key, i);
        self.bytes += charge;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(n: usize, fill: u8) -> Arc<[u8]> {
        vec![fill; n].into()
    }

    #[test]
    fn a_cached_block_is_a_hit_and_an_absent_one_a_miss() {
        let c = BlockCache::new(1 << 20);
        assert!(c.get(1, 0).is_none());
        c.insert(1, 0, block(100, 7));
        assert_eq!(c.get(1, 0).unwrap()[..], [7u8; 100][..]);
        let s = c.stats();
        assert_eq!((s.hits, s.misses), (1, 1));
        assert_eq!(s.bytes, (100 + ENTRY_OVERHEAD) as u64);
    }

    #[test]
    fn the_least_recently_used_block_is_evicted_first() {
        let mut s = Shard::new(3 * (100 + ENTRY_OVERHEAD));
        s.insert((1, 0), block(100, 0));
        s.insert((1, 1), block(100, 1));
        s.insert((1, 2), block(100, 2));
        assert!(s.get((1, 0)).is_some()); // now (1,1) is the oldest
        s.insert((1, 3), block(100, 3));
        assert!(s.get((1, 1)).is_none());
        assert!(s.get((1, 0)).is_some());
        assert!(s.get((1, 2)).is_some());
        assert!(s.get((1, 3)).is_some());
    }

    #[test]
    fn a_block_larger_than_a_shard_is_not_cached() {
        let c = BlockCache::new(1024);
        c.insert(1, 0, block(4096, 1));
        assert!(c.get(1, 0).is_none());
        assert_eq!(c.stats().bytes, 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// The shard against a model: a Vec in recency order with the same byte bound.
        #[test]
        fn a_shard_behaves_like_a_byte_bounded_recency_list(
            ops in proptest::collection::vec((any::<bool>(), 0u64..12, 1usize..300), 1..200)
        ) {
            let cap = 1000;
            let mut s = Shard::new(cap);
            let mut model: Vec<(u64, usize)> = Vec::new(); // most recent last
            for (is_insert, k, len) in ops {
                if is_insert {
                    let charge = len + ENTRY_OVERHEAD;
                    if charge > cap { continue; }
                    model.retain(|(mk, _)| *mk != k);
                    while model.iter().map(|(_, c)| c).sum::<usize>() + charge > cap {
                        model.remove(0);
                    }
                    model.push((k, charge));
                    s.insert((0, k), block(len, k as u8));
                } else {
                    let got = s.get((0, k));
                    let pos = model.iter().position(|(mk, _)| *mk == k);
                    prop_assert_eq!(got.is_some(), pos.is_some());
                    if let Some(p) = pos {
                        let e = model.remove(p);
                        model.push(e);
                        prop_assert!(got.unwrap().iter().all(|&b| b == k as u8));
                    }
                }
                prop_assert_eq!(s.bytes, model.iter().map(|(_, c)| c).sum::<usize>());
            }
        }
    }
}
