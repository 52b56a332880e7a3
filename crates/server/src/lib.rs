//! `ilion-server`: the Ilion node.
//!
//! Joins the layers into the `ilion` binary: configuration, the node's data directory, the CQL
//! listener and the node-to-node gRPC service. The caller hands [`run`] a shutdown future, so a
//! test or the simulator controls the node's life without signals.
//!
//! Not yet here: the CQL native protocol (issue #8) and the cluster service (issue #9). The node
//! says so when it starts rather than binding ports it would not answer on.

pub mod config;
mod node;

pub use config::{CommitLogSync, Config, ConfigError};
pub use node::{NodeError, run};
