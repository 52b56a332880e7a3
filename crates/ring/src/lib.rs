//! `ilion-ring`: Cassandra-exact Murmur3 tokens, vnodes and replica placement.
//!
//! Being built (issue #4).
