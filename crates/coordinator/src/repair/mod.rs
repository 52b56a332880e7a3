//! Anti-entropy repair: replicas compare Merkle trees of their data per table and token range
//! ([`merkle`]), and the ranges where they differ are streamed between them. This crate builds
//! a replica's tree ([`Coordinator::merkle_tree`](crate::Coordinator::merkle_tree)); the
//! server runs repair sessions over the network.

pub mod merkle;
pub mod ranges;
mod validate;

pub use merkle::{Difference, MerkleTree, Range, TreeError, differences};
