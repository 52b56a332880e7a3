//! The replica side of streaming (bootstrap, and later decommission and repair): what this
//! node stores in a token range of a table, page by page, as the same mutations a write
//! carries, and applying such pages received from another node.
//!
//! A page is an encoded `MutationRequest` (replication::messages): every entry of its
//! partitions, deletions and TTLs included ([`ilion_storage::Table::stream_page`]), so
//! applying it on the receiver reproduces what the sender stores and is idempotent (a range
//! streamed twice, or a page retried, converges on the same state). The transport adds the
//! checksum and the throttle; nothing here knows about the network.
//!
//! Engine files that lie wholly inside the range go whole instead ([`Coordinator::stream_files`],
//! [`Coordinator::ingest_stream_file`]); the pages then carry only what the other sources of
//! the table hold (`exclude`).

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
    /// The keyspaces whose data moves with the ring's ranges (bootstrap, decommission,
    /// replace, removenode, repair): every user keyspace, and `system_auth` with the
    /// replication ALTER KEYSPACE gave it (SimpleStrategy with one replica until then), so
    /// its rows follow their ranges or roles become unreadable. The other system keyspaces
    /// are local to each node and stay.
    pub fn movable_keyspaces(&self) -> Result<Vec<crate::schema::Keyspace>> {
        let schema = self.schema();
        let mut out: Vec<crate::schema::Keyspace> = schema
            .keyspaces
            .into_values()
            .filter(|k| !crate::schema::is_system_keyspace(&k.name))
            .collect();
        out.extend(schema.replicated_system.into_values());
        Ok(out)
    }

    /// One page of what this node stores of `keyspace.table` for the partitions with a token
    /// in `(start, end]` (`None` = unbounded on that side; a wrapping range is two calls):
    /// at most `partitions` partitions and about [`STREAM_PAGE_BYTES`] stored bytes, resuming
    /// at `resume` (a previous page's `next`). Leaves out what the engine files `exclude`
    /// names hold (files of the range sent whole, [`Coordinator::stream_files`]).
    pub fn stream_page(
        &self,
        keyspace: &str,
        table: &str,
        (start, end): (Option<i64>, Option<i64>),
        resume: Option<&[u8]>,
        partitions: u32,
        exclude: &[u64],
    ) -> Result<StreamPage> {
        let t = self.store.table(keyspace, table).map_err(storage_error)?;
        let budget = ilion_storage::PageBudget {
            partitions: usize::try_from(partitions.max(1)).unwrap_or(usize::MAX),
            bytes: STREAM_PAGE_BYTES,
        };
        let (mutations, next) = t
            .stream_page_without_files(start, end, resume, budget, exclude)
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

    /// Flushes `keyspace.table` (as Cassandra streams sstables) and returns its engine files
    /// whose every partition has a token in `(start, end]`, pinned, to send whole.
    pub fn stream_files(
        &self,
        keyspace: &str,
        table: &str,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<ilion_lsm::LiveFile>> {
        let t = self.store.table(keyspace, table).map_err(storage_error)?;
        t.flush().map_err(storage_error)?;
        t.files_in_token_range(start, end).map_err(storage_error)
    }

    /// Adds an engine file another node sent whole ([`Coordinator::stream_files`]), received
    /// into `path`, to `keyspace.table`: checked in full, refused when damaged or when a key
    /// lies outside `(start, end]`. Its values merge with what the table holds, so adding the
    /// same file twice (a retried stream) changes nothing. `path` is left for the caller.
    pub fn ingest_stream_file(
        &self,
        keyspace: &str,
        table: &str,
        path: &std::path::Path,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<ilion_lsm::Ingested> {
        let t = self.store.table(keyspace, table).map_err(storage_error)?;
        t.ingest_file(path, start, end).map_err(storage_error)
    }

    /// Where files streamed in whole are written while they arrive (`data_dir/stream-incoming`).
    pub fn stream_incoming_dir(&self) -> std::path::PathBuf {
        self.data_dir.join("stream-incoming")
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
