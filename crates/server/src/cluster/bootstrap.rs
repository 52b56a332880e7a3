//! Bootstrap: a new node joins a running cluster without hiding a row (Cassandra's consistent
//! range movement).
//!
//! 1. [`prepare`], before the node opens its stores: a new node that is not a seed and has
//!    `auto_bootstrap` asks a seed for the ring, refuses to start while another node joins or
//!    leaves, and picks its tokens (`initial_token`, else the ring's balanced allocator). The
//!    tokens are kept in `bootstrap.json` in the data directory until the join finished, so a
//!    failed join is retried with the same tokens by starting the node again.
//! 2. The node gossips `BOOT` with its tokens: every coordinator makes it a pending replica of
//!    the ranges it will own (writes reach it on top of what the level needs; reads do not).
//! 3. [`join`] waits until every live peer sees it joining and the schema agrees, then
//!    streams each range it gains from the node that gives the range up
//!    ([`ilion_ring::range_sources`]), retrying transient failures.
//! 4. Only when every stream finished does it gossip `NORMAL` and own its ranges. When a
//!    stream fails for good the join fails: the node stops (peers then drop it as a pending
//!    replica; it owned nothing) and exits non-zero; starting it again retries.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ilion_coordinator::{Coordinator, MemberStatus, Membership};
use ilion_gossip::NodeStatus;
use ilion_ring::{NodeId, ReplicationStrategy, Token, TokenMetadata, TokenRange};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::streaming::{RangeRequest, Received, fetch_range};
use super::{Cluster, fetch_status};
use crate::config::Config;

/// Where a join in progress keeps its tokens.
pub const MARKER_FILE: &str = "bootstrap.json";
/// The coordinator's identity file: present once the node has started before.
const LOCAL_FILE: &str = "local.json";
/// Tries per range before the join fails.
const STREAM_ATTEMPTS: u32 = 3;

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    tokens: Vec<i64>,
}

/// Why a node could not join.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    #[error("unable to contact any seeds ({seeds}): {reason}")]
    NoSeed { seeds: String, reason: String },
    /// Cassandra's words (`cassandra.consistent.rangemovement`), and which movement runs.
    #[error(
        "other bootstrapping/leaving/moving nodes detected, cannot bootstrap while \
         consistent range movement is on: {address} is {status}"
    )]
    MovementRunning { address: String, status: String },
    #[error("cannot choose tokens: {0}")]
    Allocation(String),
    #[error("cannot keep the join's state in {path}: {source}")]
    Marker {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the cluster did not learn of this node's join within {waited:?}: {reason} \
         (raise ring_delay_ms if the cluster is large or slow)"
    )]
    NotSeen { waited: Duration, reason: String },
    #[error("the node was stopped while joining; start it again to resume the join")]
    Interrupted,
    #[error("keyspace {keyspace}: {reason}")]
    Placement { keyspace: String, reason: String },
    /// Cassandra's words for a range whose owner is not there to give it up.
    #[error(
        "unable to find sufficient sources for streaming range {range} in keyspace \
         {keyspace}: {reason}"
    )]
    NoSource {
        keyspace: String,
        range: String,
        reason: String,
    },
    #[error("streaming {keyspace}.{table} range {range} from {peer} failed: {source}")]
    Stream {
        keyspace: String,
        table: String,
        range: String,
        peer: IpAddr,
        source: Box<super::streaming::StreamError>,
    },
}

/// Whether this start of the node bootstraps, and with which tokens. `None`: the node starts
/// as before (a seed, `auto_bootstrap: false`, or a node that has joined already).
pub async fn prepare(config: &Config) -> Result<Option<Vec<i64>>, BootstrapError> {
    if !config.auto_bootstrap || config.is_seed() {
        return Ok(None);
    }
    let marker = config.data_dir.join(MARKER_FILE);
    if let Some(tokens) = read_marker(&marker)? {
        tracing::info!(tokens = tokens.len(), "resuming an unfinished join");
        return Ok(Some(tokens));
    }
    if config.data_dir.join(LOCAL_FILE).exists() {
        return Ok(None);
    }
    // One range movement at a time: wait (up to ring_delay_ms) for one under way to finish,
    // then refuse, naming it.
    let deadline = Instant::now() + Duration::from_millis(config.ring_delay_ms);
    let status = loop {
        let status = ring_from_seeds(config).await?;
        match check_no_movement(
            status
                .members
                .iter()
                .map(|m| (m.address.as_str(), m.status.as_str())),
            &config.listen_address.to_string(),
        ) {
            Ok(()) => break status,
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(e) => {
                tracing::info!(reason = %e, "waiting for the range movement under way to finish");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let tokens = match config
        .initial_tokens()
        .map_err(BootstrapError::Allocation)?
    {
        Some(t) => t,
        None => {
            let mut meta = TokenMetadata::new();
            for m in &status.members {
                // Joining nodes' tokens too: two new nodes never pick the same tokens.
                if !matches!(m.status.as_str(), "NORMAL" | "LEAVING" | "JOINING")
                    || m.tokens.is_empty()
                {
                    continue;
                }
                let Ok(id) = m.host_id.parse::<Uuid>() else {
                    continue;
                };
                let tokens = m.tokens.iter().map(|t| Token::new(*t));
                if let Err(e) = meta.add_node(
                    NodeId::from_u128(id.as_u128()),
                    &m.data_center,
                    &m.rack,
                    tokens,
                ) {
                    tracing::warn!(node = %m.address, error = %e, "member left out of the ring");
                }
            }
            tracing::info!(nodes = meta.node_count(), "choosing balanced tokens");
            ilion_ring::balanced_tokens(
                &meta,
                &config.dc,
                &config.rack,
                usize::from(config.num_tokens),
                usize::from(config.allocate_tokens_for_local_replication_factor),
            )
            .map_err(|e| BootstrapError::Allocation(e.to_string()))?
            .into_iter()
            .map(Token::value)
            .collect()
        }
    };
    write_marker(&marker, &tokens)?;
    tracing::info!(tokens = tokens.len(), "joining the ring: bootstrap");
    Ok(Some(tokens))
}

fn read_marker(path: &Path) -> Result<Option<Vec<i64>>, BootstrapError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<Marker>(&bytes)
            .map(|m| Some(m.tokens))
            .map_err(|e| BootstrapError::Marker {
                path: path.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BootstrapError::Marker {
            path: path.to_owned(),
            source,
        }),
    }
}

fn write_marker(path: &Path, tokens: &[i64]) -> Result<(), BootstrapError> {
    let err = |source| BootstrapError::Marker {
        path: path.to_owned(),
        source,
    };
    let json = serde_json::to_vec(&Marker {
        tokens: tokens.to_vec(),
    })
    .map_err(|e| err(std::io::Error::other(e)))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// The ring as the first seed that answers sees it; seeds are tried for `ring_delay_ms`.
async fn ring_from_seeds(config: &Config) -> Result<super::proto::StatusResponse, BootstrapError> {
    let seeds = config.effective_seeds();
    let deadline = Instant::now() + Duration::from_millis(config.ring_delay_ms);
    let timeout = Duration::from_secs(2);
    loop {
        let mut last = String::new();
        for seed in &seeds {
            match fetch_status(&seed.to_string(), timeout).await {
                Ok(s) => return Ok(s),
                Err(e) => last = e.to_string(),
            }
        }
        if Instant::now() >= deadline {
            return Err(BootstrapError::NoSeed {
                seeds: seeds
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                reason: last,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Refuses a join while another node joins or leaves (one range movement at a time).
fn check_no_movement<'a>(
    members: impl Iterator<Item = (&'a str, &'a str)>,
    local: &str,
) -> Result<(), BootstrapError> {
    for (address, status) in members {
        if address != local && matches!(status, "JOINING" | "LEAVING" | "MOVING") {
            return Err(BootstrapError::MovementRunning {
                address: address.to_owned(),
                status: status.to_owned(),
            });
        }
    }
    Ok(())
}

/// A range as the store reads it: `(start, end]` pieces that never wrap.
pub(super) fn pieces(r: TokenRange) -> Vec<(Option<i64>, Option<i64>)> {
    let (l, rr) = (r.left.value(), r.right.value());
    if l == rr {
        vec![(None, None)]
    } else if l < rr {
        vec![(Some(l), Some(rr))]
    } else if rr == i64::MIN {
        vec![(Some(l), None)]
    } else {
        vec![(Some(l), None), (None, Some(rr))]
    }
}

/// What a finished join streamed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Joined {
    pub ranges: usize,
    pub received: Received,
    pub elapsed: Duration,
}

/// Runs the join of a node that [`prepare`]d a bootstrap and started its cluster service as
/// JOINING: waits for the cluster to see it, streams every range it gains, then gossips
/// NORMAL. On an error the node still is JOINING; the caller stops it.
pub async fn join(
    cluster: &Cluster,
    coordinator: &Arc<Coordinator>,
    config: &Config,
) -> Result<Joined, BootstrapError> {
    let started = Instant::now();
    let view = cluster.view().clone();
    let local = config.listen_address;
    wait_until_seen(cluster, coordinator, config).await?;
    // Writes whose coordinator chose their replicas before it saw this node join finish
    // (or time out) within the write timeout: after it, every write reaches this node too,
    // and what streams below holds everything acknowledged before.
    tokio::time::sleep(Duration::from_millis(config.write_request_timeout_in_ms)).await;

    let members = view.members();
    let mut now = TokenMetadata::new();
    let mut addresses: BTreeMap<NodeId, (IpAddr, bool)> = BTreeMap::new();
    for m in &members {
        if m.address == local
            || !matches!(m.status, MemberStatus::Normal | MemberStatus::Leaving)
            || m.tokens.is_empty()
        {
            continue;
        }
        let id = NodeId::from_u128(m.host_id.as_u128());
        if let Err(e) = now.add_node(
            id,
            &m.data_center,
            &m.rack,
            m.tokens.iter().map(|t| Token::new(*t)),
        ) {
            tracing::warn!(node = %m.address, error = %e, "member left out of the ring");
            continue;
        }
        addresses.insert(id, (m.address, m.alive));
    }
    let me = NodeId::from_u128(coordinator.host_id().as_u128());
    let mut future = now.clone();
    future
        .add_node(
            me,
            &config.dc,
            &config.rack,
            coordinator.tokens().iter().map(|t| Token::new(*t)),
        )
        .map_err(|e| BootstrapError::Allocation(e.to_string()))?;

    let schema = coordinator.schema();
    let mut joined = Joined::default();
    let chunk_timeout = Duration::from_millis(config.ring_delay_ms.max(10_000));
    for ks in schema.keyspaces.values() {
        if ilion_coordinator::schema::is_system_keyspace(&ks.name) {
            continue;
        }
        let placement = |reason: String| BootstrapError::Placement {
            keyspace: ks.name.clone(),
            reason,
        };
        let strategy = ReplicationStrategy::from_replication_map(ks.replication.iter(), None)
            .map_err(|e| placement(e.to_string()))?;
        let plan = ilion_ring::range_sources(&now, &future, &strategy, me)
            .map_err(|e| placement(e.to_string()))?;
        // Every source must be there before anything streams: no half-fetched keyspace.
        let mut sources = Vec::with_capacity(plan.len());
        for (range, source) in &plan {
            match addresses.get(source) {
                Some((address, true)) => sources.push((*range, *address)),
                Some((address, false)) => {
                    return Err(BootstrapError::NoSource {
                        keyspace: ks.name.clone(),
                        range: fmt_range(*range),
                        reason: format!("{address}, which gives the range up, is down"),
                    });
                }
                None => {
                    return Err(BootstrapError::NoSource {
                        keyspace: ks.name.clone(),
                        range: fmt_range(*range),
                        reason: "its owner is not in the ring".to_owned(),
                    });
                }
            }
        }
        tracing::info!(keyspace = %ks.name, ranges = sources.len(), tables = ks.tables.len(),
            "bootstrap: streaming the ranges this node gains");
        for table in ks.tables.keys() {
            for (range, address) in &sources {
                let peer = view.storage_endpoint(*address);
                for (start, end) in pieces(*range) {
                    let request = RangeRequest {
                        keyspace: ks.name.clone(),
                        table: table.clone(),
                        start,
                        end,
                    };
                    let got = stream_with_retries(
                        cluster,
                        coordinator,
                        local,
                        peer,
                        &request,
                        chunk_timeout,
                    )
                    .await
                    .map_err(|source| BootstrapError::Stream {
                        keyspace: ks.name.clone(),
                        table: table.clone(),
                        range: fmt_range(*range),
                        peer: *address,
                        source: Box::new(source),
                    })?;
                    joined.received.chunks += got.chunks;
                    joined.received.partitions += got.partitions;
                    joined.received.bytes += got.bytes;
                }
                joined.ranges += 1;
            }
        }
    }
    // Everything is here: own the ranges, then forget the join.
    cluster.set_status(NodeStatus::Normal);
    let marker = config.data_dir.join(MARKER_FILE);
    if let Err(e) = std::fs::remove_file(&marker) {
        tracing::warn!(path = %marker.display(), error = %e, "cannot remove the join marker");
    }
    joined.elapsed = started.elapsed();
    Ok(joined)
}

pub(super) fn fmt_range(r: TokenRange) -> String {
    format!("({}, {}]", r.left.value(), r.right.value())
}

async fn stream_with_retries(
    cluster: &Cluster,
    coordinator: &Arc<Coordinator>,
    local: IpAddr,
    peer: SocketAddr,
    request: &RangeRequest,
    chunk_timeout: Duration,
) -> Result<Received, super::streaming::StreamError> {
    let mut attempt = 1;
    loop {
        match fetch_range(
            coordinator,
            cluster.streams(),
            local,
            peer,
            request,
            chunk_timeout,
        )
        .await
        {
            Ok(r) => return Ok(r),
            Err(e) if e.is_transient() && attempt < STREAM_ATTEMPTS => {
                tracing::warn!(%peer, keyspace = %request.keyspace, table = %request.table,
                    attempt, error = %e, "stream failed; retrying");
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Waits until every live peer in the ring lists this node as JOINING and agrees on the
/// schema (so every coordinator sends it the writes of its ranges, and it knows every table
/// it must stream). Refuses to go on when another node joins or leaves meanwhile.
async fn wait_until_seen(
    cluster: &Cluster,
    coordinator: &Arc<Coordinator>,
    config: &Config,
) -> Result<(), BootstrapError> {
    let view = cluster.view();
    let local = config.listen_address.to_string();
    let waited = Duration::from_millis(config.ring_delay_ms);
    let deadline = Instant::now() + waited;
    loop {
        let members = view.members();
        // Two nodes that started joining together: the one with the lower address goes
        // first, the other waits for it (as for any other movement under way).
        let statuses: Vec<(String, &'static str)> = members
            .iter()
            .filter(|m| m.status != MemberStatus::Joining || m.address < config.listen_address)
            .map(|m| (m.address.to_string(), status_word(m.status)))
            .collect();
        let moving = check_no_movement(statuses.iter().map(|(a, s)| (a.as_str(), *s)), &local);
        let reason = match moving {
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(e) => Some(e.to_string()),
            Ok(()) => not_yet_seen(cluster, coordinator, config, &members).await,
        };
        let Some(reason) = reason else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            return Err(BootstrapError::NotSeen { waited, reason });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn status_word(s: MemberStatus) -> &'static str {
    match s {
        MemberStatus::Joining => "JOINING",
        MemberStatus::Normal => "NORMAL",
        MemberStatus::Leaving => "LEAVING",
        MemberStatus::Left => "LEFT",
    }
}

/// Why the join cannot stream yet, or `None` when it can.
async fn not_yet_seen(
    cluster: &Cluster,
    coordinator: &Arc<Coordinator>,
    config: &Config,
    members: &[ilion_coordinator::Member],
) -> Option<String> {
    not_yet_seen_as(
        cluster.view(),
        coordinator,
        config.listen_address,
        members,
        "JOINING",
    )
    .await
}

/// Why the ring does not see this node (`local`) in state `state` yet (every other NORMAL
/// member up, on this node's schema, listing it so), or `None` when it does.
pub(super) async fn not_yet_seen_as(
    view: &super::ClusterView,
    coordinator: &Arc<Coordinator>,
    local: IpAddr,
    members: &[ilion_coordinator::Member],
    state: &str,
) -> Option<String> {
    let ring: Vec<_> = members
        .iter()
        .filter(|m| m.address != local && m.status == MemberStatus::Normal)
        .collect();
    if ring.is_empty() {
        return Some("no member of the ring is known yet".to_owned());
    }
    // Every member of the ring must be up and see this node joining: a coordinator that
    // does not would leave it out of the writes of its ranges.
    if let Some(down) = ring.iter().find(|m| !m.alive) {
        return Some(format!("{} is not up (yet)", down.address));
    }
    let version = coordinator.schema_version();
    for m in &ring {
        if m.schema_version != version {
            return Some(format!("the schema of {} differs", m.address));
        }
        let host = view.storage_endpoint(m.address).to_string();
        match fetch_status(&host, Duration::from_secs(2)).await {
            Ok(s) => {
                let me = local.to_string();
                if !s
                    .members
                    .iter()
                    .any(|p| p.address == me && p.status == state)
                {
                    return Some(format!("{} does not see this node {state} yet", m.address));
                }
            }
            Err(e) => return Some(e.to_string()),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapping_range_is_streamed_as_two_pieces_and_the_whole_ring_as_one() {
        let r = TokenRange::new(Token::new(10), Token::new(-10));
        assert_eq!(pieces(r), vec![(Some(10), None), (None, Some(-10))]);
        let all = TokenRange::new(Token::new(5), Token::new(5));
        assert_eq!(pieces(all), vec![(None, None)]);
        let to_end = TokenRange::new(Token::new(5), Token::MIN);
        assert_eq!(pieces(to_end), vec![(Some(5), None)]);
    }

    #[test]
    fn a_join_is_refused_while_another_node_joins_naming_it() {
        let err = check_no_movement(
            [("127.0.0.1", "NORMAL"), ("127.0.0.3", "JOINING")].into_iter(),
            "127.0.0.2",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("127.0.0.3 is JOINING"), "{text}");
        assert!(text.contains("cannot bootstrap"), "{text}");
        // Its own JOINING state does not count.
        check_no_movement([("127.0.0.2", "JOINING")].into_iter(), "127.0.0.2").unwrap();
    }

    #[test]
    fn the_join_marker_keeps_the_tokens_for_a_retry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MARKER_FILE);
        assert_eq!(read_marker(&path).unwrap(), None);
        write_marker(&path, &[3, -7]).unwrap();
        assert_eq!(read_marker(&path).unwrap(), Some(vec![3, -7]));
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            read_marker(&path),
            Err(BootstrapError::Marker { .. })
        ));
    }
}
