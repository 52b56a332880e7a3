//! The replica side of streaming (bootstrap, and later decommission and repair): what this
//! node stores in a token range of a table, page by page, as the same mutations a write
//! carries, and applying such pages received from another node.
//!
//! A page is an encoded `MutationRequest` (replication::messages): every entry of its
//! partitions, deletions and TTLs included ([`ilion_storage::Table::stream_page`]), so
//! applying it on the receiver reproduces what the sender stores and is idempotent (a range
//! streamed twice, or a page retried, converges on the same state). The transport adds the
//! checksum and the throttle; nothing here knows about the network.

use bytes::Bytes;
use prost::Message;

use super::Coordinator;
use crate::data::storage_error;
use crate::replication::messages::{MutationRequest, WireMutation};
use crate::{Error, Result};

/// Stored bytes a streamed page holds at most (about; a partition is never split).
pub const STREAM_PAGE_BYTES: usize = 1 << 20;

/// One page of a streamed token range.
#[derive(Debug, Clone)]
pub struct StreamPage {
    /// An encoded `MutationRequest` with the page's partitions.
    pub payload: Bytes,
    /// How many partitions (mutations) the page holds.
    pub partitions: u32,
    /// Where the next page starts; `None` when the range is finished.
    pub next: Option<Vec<u8>>,
}

impl Coordinator {
    /// One page of what this node stores of `keyspace.table` for the partitions with a token
    /// in `(start, end]` (`None` = unbounded on that side; a wrapping range is two calls):
    /// at most `partitions` partitions and about [`STREAM_PAGE_BYTES`] stored bytes, resuming
    /// at `resume` (a previous page's `next`).
    pub fn stream_page(
        &self,
        keyspace: &str,
        table: &str,
        start: Option<i64>,
        end: Option<i64>,
        resume: Option<&[u8]>,
        partitions: u32,
    ) -> Result<StreamPage> {
        let t = self.store.table(keyspace, table).map_err(storage_error)?;
        let budget = ilion_storage::PageBudget {
            partitions: usize::try_from(partitions.max(1)).unwrap_or(usize::MAX),
            bytes: STREAM_PAGE_BYTES,
        };
        let (mutations, next) = t
            .stream_page(start, end, resume, budget)
            .map_err(storage_error)?;
        let schema = t.schema();
        let mutations = mutations
            .iter()
            .map(|m| {
                let mut w = WireMutation::from_mutation(&schema, m)
                    .map_err(|e| Error::server(e.to_string()))?;
                w.keyspace = keyspace.to_owned();
                w.table = table.to_owned();
                Ok(w)
            })
            .collect::<Result<Vec<_>>>()?;
        let partitions = u32::try_from(mutations.len()).unwrap_or(u32::MAX);
        Ok(StreamPage {
            payload: Bytes::from(MutationRequest { mutations }.encode_to_vec()),
            partitions,
            next,
        })
    }

    /// Applies a page another node streamed ([`Coordinator::stream_page`]'s payload) to this
    /// node's store; returns how many partitions it held. Only mutations of tables this node
    /// knows are accepted: a page is never a read or any other request.
    pub fn apply_stream_page(&self, payload: &[u8]) -> Result<u32> {
        let request = MutationRequest::decode(payload)
            .map_err(|e| Error::server(format!("malformed stream page: {e}")))?;
        self.replica.apply(&request.mutations)?;
        Ok(u32::try_from(request.mutations.len()).unwrap_or(u32::MAX))
    }
}
