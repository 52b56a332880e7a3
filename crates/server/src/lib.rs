//! `ilion-server`: the Ilion node.
//!
//! Joins the layers into the `ilion` binary: configuration, the node's data directory, the CQL
//! listener and the node-to-node gRPC service. The caller hands [`run`] a shutdown future, so a
//! test or the simulator controls the node's life without signals.
//!
//! The CQL listener speaks protocol v4 and v5 (see `cql`); statements run on the
//! [`coordinator`]. Not yet here: the cluster service (issue #9); the node says so when it
//! starts rather than binding a port it would not answer on.

pub mod config;
mod metrics;
mod native;
mod node;

pub use config::{CommitLogSync, Config, ConfigError};
pub use node::{NodeError, run};
