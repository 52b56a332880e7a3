//! `ilion-server`: the Ilion node.
//!
//! Joins the layers into the `ilion` binary: configuration, the node's data directory, the CQL
//! listener and the node-to-node gRPC service. The caller hands [`run`] a shutdown future, so a
//! test or the simulator controls the node's life without signals.
//!
//! The CQL listener speaks protocol v4 and v5 (see `cql`); statements run on the
//! [`coordinator`]. The [`cluster`] module is the node-to-node side: gRPC (gossip, schema,
//! admin, replica messages), the cluster view the coordinator reads, schema agreement and
//! the topology and status events pushed to clients.

pub mod audit;
pub mod cluster;
pub mod config;
pub mod logging;
mod metrics;
mod native;
mod node;
pub mod tls;

pub use config::{CommitLogSync, Config, ConfigError, Seed};
pub use node::{NodeError, run};
