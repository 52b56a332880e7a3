//! LocalStrategy: data that lives only on the node itself.

/// Cassandra's `LocalStrategy`, used by node-local system keyspaces (`system`,
/// `system_schema`): the only replica of every token is the local node
/// ([`TokenMetadata::local`](crate::TokenMetadata::local)). It takes no options, and Cassandra
/// does not let users create keyspaces with it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalStrategy;
