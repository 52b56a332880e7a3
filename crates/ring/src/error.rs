//! The crate's one error type.

use crate::token::Token;
use crate::topology::NodeId;

/// Everything that can go wrong in `ilion-ring`: bad input from a config, a schema or an operator
/// (malformed tokens, invalid replication options, inconsistent topology changes). Placement
/// itself never fails once a strategy and a topology are valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A token string that is not a signed 64-bit decimal integer.
    #[error(
        "invalid token for Murmur3Partitioner: got {input:?} but expected a long value (signed 8 bytes integer)"
    )]
    InvalidToken {
        /// The text that failed to parse.
        input: String,
    },
    /// A host id string that is not a UUID.
    #[error(
        "invalid host id {input:?}: expected a UUID such as 123e4567-e89b-12d3-a456-426614174000"
    )]
    InvalidNodeId {
        /// The text that failed to parse.
        input: String,
    },
    /// A partition key with no components.
    #[error("a partition key needs at least one component")]
    NoKeyComponents,
    /// A composite partition key component longer than its u16 length prefix can say.
    #[error(
        "partition key component {index} is {len} bytes long; composite components are limited to 65535 bytes"
    )]
    KeyComponentTooLong {
        /// Position of the component in the key.
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// The replication map has no `class` entry.
    #[error("missing 'class' option in the replication map")]
    MissingStrategyClass,
    /// The replication map names a strategy class this crate does not implement.
    #[error("unable to find replication strategy class {class:?}")]
    UnknownStrategyClass {
        /// The class as given.
        class: String,
    },
    /// SimpleStrategy without its `replication_factor` option.
    #[error("SimpleStrategy requires a replication_factor strategy option")]
    MissingReplicationFactor,
    /// A replication factor that is not an integer.
    #[error("replication factor must be numeric; found {value:?} for option {option:?}")]
    NonNumericReplicationFactor {
        /// The option (`replication_factor` or a datacenter name).
        option: String,
        /// The value as given.
        value: String,
    },
    /// A negative replication factor.
    #[error("replication factor must be non-negative; found {value} for option {option:?}")]
    NegativeReplicationFactor {
        /// The option (`replication_factor` or a datacenter name).
        option: String,
        /// The value as given.
        value: i64,
    },
    /// A keyspace that would have no replica anywhere: SimpleStrategy with
    /// `replication_factor` 0, or NetworkTopologyStrategy with every datacenter at 0 (or none
    /// named). Data written to it could never be stored. A single datacenter at 0 next to others
    /// is fine: operators use it while moving a keyspace out of a datacenter.
    #[error("replication factor must be at least 1 ({class} would place no replica anywhere)")]
    NoReplicas {
        /// The strategy's short class name.
        class: &'static str,
    },
    /// Cassandra's transient replication syntax (`'3/1'`), which Ilion does not implement.
    #[error("transient replication ({value:?} for option {option:?}) is not supported")]
    TransientReplicationUnsupported {
        /// The option (`replication_factor` or a datacenter name).
        option: String,
        /// The value as given.
        value: String,
    },
    /// An option the strategy does not know, e.g. a datacenter name that is not in the topology
    /// for NetworkTopologyStrategy, or a datacenter name given to SimpleStrategy.
    #[error("unrecognized strategy option {{{option}}} passed to {class}")]
    UnrecognizedOption {
        /// The strategy's short class name.
        class: &'static str,
        /// The option as given.
        option: String,
    },
    /// NetworkTopologyStrategy's `replication_factor` shorthand (one factor for every
    /// datacenter) needs the topology to know which datacenters exist.
    #[error(
        "NetworkTopologyStrategy's replication_factor option needs a known topology to expand to datacenters"
    )]
    ReplicationFactorNeedsTopology,
    /// LocalStrategy places data on the local node, which the topology does not name.
    #[error("LocalStrategy needs the local node to be set in the token metadata")]
    NoLocalNode,
    /// A node was added twice.
    #[error("node {id} is already in the topology")]
    DuplicateNode {
        /// The node.
        id: NodeId,
    },
    /// A node that is not in the topology.
    #[error("node {id} is not in the topology")]
    UnknownNode {
        /// The node.
        id: NodeId,
    },
    /// A node given no tokens.
    #[error("node {id} has no tokens")]
    NoTokens {
        /// The node.
        id: NodeId,
    },
    /// A token that another node (or the same node, twice) already owns.
    #[error("token {token} is already owned by node {owner}")]
    DuplicateToken {
        /// The token.
        token: Token,
        /// Its current owner.
        owner: NodeId,
    },
    /// An empty datacenter or rack name.
    #[error("node {id} has an empty {what} name")]
    EmptyLocation {
        /// The node.
        id: NodeId,
        /// `"datacenter"` or `"rack"`.
        what: &'static str,
    },
    /// A token allocation request that cannot be met.
    #[error("cannot allocate {requested} tokens: {reason}")]
    Allocation {
        /// Tokens asked for.
        requested: usize,
        /// Why not.
        reason: &'static str,
    },
}
