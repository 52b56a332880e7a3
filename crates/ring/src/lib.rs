//! `ilion-ring`: Cassandra-exact Murmur3 tokens, vnodes and replica placement.
//!
//! Everything a node or a driver needs to decide *where* data lives, as pure functions of
//! their inputs (no I/O, no clocks, randomness only from seeds passed in):
//!
//! - [`Murmur3Partitioner`]: partition key bytes to a [`Token`], bit for bit as Cassandra's
//!   `Murmur3Partitioner` (and the drivers' token-aware routing), including composite keys
//!   ([`serialize_partition_key`]) and the edge cases (the empty key has [`Token::MIN`]; a hash
//!   of `i64::MIN` becomes [`Token::MAX`]). [`TokenRange`] is Cassandra's `(left, right]`
//!   range, wrapping around the ring.
//! - [`TokenMetadata`]: nodes ([`NodeId`], datacenter, rack) and their vnode tokens (default
//!   [`DEFAULT_NUM_TOKENS`]); each token owns `(previous token, token]`.
//! - Token allocation for new nodes: [`random_tokens`] and [`balanced_tokens`], which evens out
//!   replicated ownership for a replication factor.
//! - [`ReplicationStrategy`]: [`SimpleStrategy`], [`NetworkTopologyStrategy`] and
//!   [`LocalStrategy`], built from a CQL replication map with Cassandra's validation.
//! - [`ReplicaMap`]: the replicas of every range precomputed for one topology version and one
//!   strategy; a lookup is a binary search.
//! - [`PendingRanges`]: while nodes join, leave, are replaced or move
//!   ([`TopologyChange`]), the extra nodes each write must reach.
//!
//! ```
//! use ilion_ring::{Murmur3Partitioner, NodeId, ReplicationStrategy, Token, TokenMetadata};
//!
//! // Tokens as Cassandra computes them.
//! let p = Murmur3Partitioner;
//! assert_eq!(p.token(b"\x00"), Token::new(5048724184180415669));
//! let composite = p.token_of_components(&[b"user-1", &7i32.to_be_bytes()])?;
//! assert_eq!(composite.to_string().parse::<Token>()?, composite);
//!
//! // Three nodes in two racks, one token each.
//! let mut meta = TokenMetadata::new();
//! for (n, rack, token) in [(1, "r1", -100), (2, "r1", 0), (3, "r2", 100)] {
//!     meta.add_node(NodeId::from_u128(n), "dc1", rack, [Token::new(token)])?;
//! }
//! let strategy = ReplicationStrategy::from_replication_map(
//!     [("class", "NetworkTopologyStrategy"), ("dc1", "2")],
//!     Some(&meta),
//! )?;
//! let replicas = strategy.replica_map(&meta)?;
//! // Token -50 is in (-100, 0]: node 2 first, then the next node in another rack.
//! assert_eq!(
//!     replicas.replicas(Token::new(-50)),
//!     &[NodeId::from_u128(2), NodeId::from_u128(3)]
//! );
//! # Ok::<(), ilion_ring::Error>(())
//! ```
//!
//! # Test vectors
//!
//! `tests/vectors/murmur3_vectors.tsv` holds 12,000 keys (0 to 300 bytes, 2,000 of them
//! composite) with the hash and token the Python driver (cassandra-driver 3.30.1) gives them;
//! `tests/murmur3_vectors.rs` checks every one. To regenerate it:
//!
//! ```text
//! cargo xtask venv
//! target/py/bin/python crates/ring/tests/vectors/gen_murmur3_vectors.py
//! ```
//!
//! # What this crate is not
//!
//! It does not learn the topology (gossip does), move data (streaming does) or decide when a
//! change starts or ends; it only answers "which nodes", given a topology and a strategy. Only
//! the Murmur3 partitioner is implemented (no RandomPartitioner, no ByteOrderedPartitioner).

#![deny(missing_docs)]

mod allocation;
mod error;
mod murmur3;
mod partitioner;
mod pending;
mod replica_map;
mod strategy;
mod token;
mod topology;

pub use allocation::{balanced_tokens, random_tokens};
pub use error::Error;
pub use murmur3::{murmur3, murmur3_x64_128};
pub use partitioner::{Murmur3Partitioner, serialize_composite, serialize_partition_key};
pub use pending::{
    PendingRanges, RangeFetch, SourceDown, TopologyChange, fetches_without, live_range_sources,
    range_sources,
};
pub use replica_map::ReplicaMap;
pub use strategy::{LocalStrategy, NetworkTopologyStrategy, ReplicationStrategy, SimpleStrategy};
pub use token::{Token, TokenRange};
pub use topology::{DEFAULT_NUM_TOKENS, Node, NodeId, TokenMetadata};
