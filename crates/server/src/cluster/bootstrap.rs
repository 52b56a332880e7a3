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

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ilion_coordinator::{Coordinator, MemberStatus, Membership};
use ilion_gossip::NodeStatus;
use ilion_ring::{NodeId, ReplicationStrategy, Token, TokenMetadata, TokenRange};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::movement::{Ring, fmt_range, not_yet_seen_as, pieces, ring_of};
use super::streaming::{RangeRequest, Received, fetch_range};
use super::{Cluster, fetch_status};
use crate::config::Config;

/// Where a join in progress keeps its tokens.
pub const MARKER_FILE: &str = "bootstrap.json";
/// The coordinator's identity file: present once the node has started before.
const LOCAL_FILE: &str = "local.json";
/// Tries per range before the join fails.
const STREAM_ATTEMPTS: u32 = 3;

/// What a join in progress keeps in [`MARKER_FILE`]: its tokens, and the node it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinPlan {
    /// The tokens the node takes.
    pub tokens: Vec<i64>,
    /// The dead node it replaces (`replace_address_first_boot`), if any.
    #[serde(default)]
    pub replaces: Option<Replaced>,
}

/// The dead node a replacement takes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replaced {
    pub host_id: Uuid,
    pub address: IpAddr,
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
    /// Cassandra's words.
    #[error("Cannot replace_address {address} because it doesn't exist in gossip")]
    ReplaceUnknown { address: IpAddr },
    /// Cassandra's words.
    #[error(
        "Cannot replace_address {address} because it's status is not in [NORMAL, shutdown], \
         status is {status}"
    )]
    ReplaceStatus { address: IpAddr, status: String },
    /// Cassandra's words.
    #[error("Could not find tokens for {address} to replace")]
    ReplaceNoTokens { address: IpAddr },
    #[error(
        "Cannot replace a live node {address}: it is still up (stop it, and wait until the \
         cluster marks it down)"
    )]
    ReplaceLive { address: IpAddr },
    #[error(
        "cannot replace {address}: it is in datacenter {dc}, rack {rack}; a replacement \
         takes the replaced node's place, so it must be configured with the same dc and rack"
    )]
    ReplaceLocation {
        address: IpAddr,
        dc: String,
        rack: String,
    },
    #[error(
        "cannot replace {address}: {reason} (a replacement streams the dead node's data, so \
         it needs auto_bootstrap: true and must not be a seed)"
    )]
    ReplaceNeedsBootstrap { address: IpAddr, reason: String },
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

/// Whether this start of the node bootstraps (or replaces a dead node), and with which
/// tokens. `None`: the node starts as before (a seed, `auto_bootstrap: false`, or a node that
/// has joined already).
pub async fn prepare(config: &Config) -> Result<Option<JoinPlan>, BootstrapError> {
    let marker = config.data_dir.join(MARKER_FILE);
    let first_boot = !config.data_dir.join(LOCAL_FILE).exists();
    if let Some(replace) = config.replace_address_first_boot {
        if !first_boot && read_marker(&marker)?.is_none() {
            tracing::warn!(%replace, "replace_address_first_boot ignored: this node has joined the ring before");
        } else if !config.auto_bootstrap || config.is_seed() {
            return Err(BootstrapError::ReplaceNeedsBootstrap {
                address: replace,
                reason: if config.is_seed() {
                    "this node is one of its own seeds".to_owned()
                } else {
                    "auto_bootstrap is false".to_owned()
                },
            });
        }
    }
    if !config.auto_bootstrap || config.is_seed() {
        return Ok(None);
    }
    if let Some(plan) = read_marker(&marker)? {
        tracing::info!(tokens = plan.tokens.len(), replaces = ?plan.replaces, "resuming an unfinished join");
        return Ok(Some(plan));
    }
    if !first_boot {
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
    if let Some(address) = config.replace_address_first_boot {
        let plan = replacement(config, address, status, deadline).await?;
        write_marker(&marker, &plan)?;
        tracing::info!(%address, tokens = plan.tokens.len(), "replacing a dead node");
        return Ok(Some(plan));
    }
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
    let plan = JoinPlan {
        tokens,
        replaces: None,
    };
    write_marker(&marker, &plan)?;
    tracing::info!(tokens = plan.tokens.len(), "joining the ring: bootstrap");
    Ok(Some(plan))
}

/// The dead node at `address` as the ring knows it, checked as Cassandra checks a
/// `replace_address`: known, NORMAL (or shut down), down, with tokens, and in this node's
/// datacenter and rack. A node that still looks up is waited for until `deadline`.
async fn replacement(
    config: &Config,
    address: IpAddr,
    mut status: super::proto::StatusResponse,
    deadline: Instant,
) -> Result<JoinPlan, BootstrapError> {
    let wanted = address.to_string();
    loop {
        let Some(m) = status.members.iter().find(|m| m.address == wanted) else {
            return Err(BootstrapError::ReplaceUnknown { address });
        };
        if m.status != "NORMAL" {
            return Err(BootstrapError::ReplaceStatus {
                address,
                status: m.status.clone(),
            });
        }
        if m.tokens.is_empty() {
            return Err(BootstrapError::ReplaceNoTokens { address });
        }
        if m.data_center != config.dc || m.rack != config.rack {
            return Err(BootstrapError::ReplaceLocation {
                address,
                dc: m.data_center.clone(),
                rack: m.rack.clone(),
            });
        }
        let host_id = m
            .host_id
            .parse::<Uuid>()
            .map_err(|_| BootstrapError::ReplaceUnknown { address })?;
        if !m.up {
            return Ok(JoinPlan {
                tokens: m.tokens.clone(),
                replaces: Some(Replaced { host_id, address }),
            });
        }
        if Instant::now() >= deadline {
            return Err(BootstrapError::ReplaceLive { address });
        }
        tracing::info!(%address, "waiting for the cluster to mark the replaced node down");
        tokio::time::sleep(Duration::from_millis(500)).await;
        status = ring_from_seeds(config).await?;
    }
}

fn read_marker(path: &Path) -> Result<Option<JoinPlan>, BootstrapError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice::<JoinPlan>(&bytes)
            .map(Some)
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

fn write_marker(path: &Path, plan: &JoinPlan) -> Result<(), BootstrapError> {
    let err = |source| BootstrapError::Marker {
        path: path.to_owned(),
        source,
    };
    let json = serde_json::to_vec(plan).map_err(|e| err(std::io::Error::other(e)))?;
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

/// What a finished join streamed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Joined {
    pub ranges: usize,
    pub received: Received,
    /// The whole join, waits for the cluster included.
    pub elapsed: Duration,
    /// The streams alone: from the first one's start to the last one's end.
    pub streaming: Duration,
}

/// Runs the join of a node that [`prepare`]d a bootstrap and started its cluster service as
/// JOINING: waits for the cluster to see it, streams every range it gains, then gossips
/// NORMAL. On an error the node still is JOINING; the caller stops it.
pub async fn join(
    cluster: &Cluster,
    coordinator: &Arc<Coordinator>,
    config: &Config,
    plan: &JoinPlan,
) -> Result<Joined, BootstrapError> {
    let started = Instant::now();
    let view = cluster.view().clone();
    let local = config.listen_address;
    let replaced = plan.replaces;
    wait_until_seen(cluster, coordinator, config, replaced.map(|r| r.address)).await?;
    // Writes whose coordinator chose their replicas before it saw this node join finish
    // (or time out) within the write timeout: after it, every write reaches this node too,
    // and what streams below holds everything acknowledged before.
    tokio::time::sleep(Duration::from_millis(config.write_request_timeout_in_ms)).await;

    let mut ring = ring_of(&view.members(), |m| {
        m.address != local && matches!(m.status, MemberStatus::Normal | MemberStatus::Leaving)
    });
    if let Some(r) = replaced
        && r.address == local
    {
        // Replacing at its own address: gossip lists this node there now, not the dead one.
        // The dead node had exactly the tokens this node took over, in this dc and rack
        // (checked before the join started).
        let dead = NodeId::from_u128(r.host_id.as_u128());
        ring.meta
            .add_node(
                dead,
                &config.dc,
                &config.rack,
                plan.tokens.iter().map(|t| Token::new(*t)),
            )
            .map_err(|e| BootstrapError::Allocation(e.to_string()))?;
        ring.nodes.insert(dead, (local, false));
    }
    let now = &ring.meta;
    let me = NodeId::from_u128(coordinator.host_id().as_u128());
    let mut future = now.clone();
    match replaced {
        // A replacement takes the dead node's place in the ring.
        Some(r) => future.replace_node(NodeId::from_u128(r.host_id.as_u128()), me),
        None => future.add_node(
            me,
            &config.dc,
            &config.rack,
            coordinator.tokens().iter().map(|t| Token::new(*t)),
        ),
    }
    .map_err(|e| BootstrapError::Allocation(e.to_string()))?;

    // User keyspaces and system_auth (replicated like one); local system keyspaces stay.
    let keyspaces = coordinator
        .movable_keyspaces()
        .map_err(|e| BootstrapError::Placement {
            keyspace: "system_auth".to_owned(),
            reason: e.to_string(),
        })?;
    let mut joined = Joined::default();
    let streams_started = Instant::now();
    let chunk_timeout = Duration::from_millis(config.ring_delay_ms.max(10_000));
    for ks in &keyspaces {
        let placement = |reason: String| BootstrapError::Placement {
            keyspace: ks.name.clone(),
            reason,
        };
        let strategy = ReplicationStrategy::from_replication_map(ks.replication.iter(), None)
            .map_err(|e| placement(e.to_string()))?;
        let ranges = match replaced {
            Some(r) => match replacement_sources(&ring, &future, &strategy, me, r) {
                Ok(ranges) => ranges,
                // system_auth keeps one replica (as Cassandra's by default): the role rows
                // only the dead node held are gone with it, and the replacement must not
                // fail for that (every replacement would). Roles on those ranges must be
                // created again.
                Err((range, reason)) if ks.name == ilion_coordinator::auth::AUTH_KEYSPACE => {
                    tracing::warn!(%range, %reason,
                        "system_auth rows held only by the replaced node are lost; re-create the roles they held");
                    continue;
                }
                Err((range, reason)) => {
                    return Err(BootstrapError::NoSource {
                        keyspace: ks.name.clone(),
                        range,
                        reason,
                    });
                }
            },
            None => {
                let is_up = |n| ring.nodes.get(&n).is_some_and(|(_, up)| *up);
                match ilion_ring::live_range_sources(
                    now,
                    &future,
                    &strategy,
                    me,
                    is_up,
                    config.consistent_rangemovement,
                )
                .map_err(|e| placement(e.to_string()))?
                {
                    Ok(ranges) => ranges,
                    // system_auth keeps one replica: the role rows only a dead node holds
                    // cannot be streamed from anywhere, and must not stop every join (as for
                    // a replacement). The ranges with a live source still stream.
                    Err(_) if ks.name == ilion_coordinator::auth::AUTH_KEYSPACE => {
                        let all = ilion_ring::range_sources(now, &future, &strategy, me)
                            .map_err(|e| placement(e.to_string()))?;
                        let (live, down): (Vec<_>, Vec<_>) =
                            all.into_iter().partition(|(_, source)| is_up(*source));
                        for (range, source) in down {
                            tracing::warn!(range = %fmt_range(range), %source,
                                "system_auth rows held only by a node that is down are not streamed; re-create the roles they held if it never comes back");
                        }
                        live
                    }
                    Err(down) => {
                        let address = ring
                            .nodes
                            .get(&down.source)
                            .map_or_else(|| down.source.to_string(), |(a, _)| a.to_string());
                        // Cassandra's words, with Ilion's setting for the JVM property.
                        return Err(BootstrapError::NoSource {
                            keyspace: ks.name.clone(),
                            range: fmt_range(down.range),
                            reason: if config.consistent_rangemovement {
                                format!(
                                    "A node required to move the data consistently is down \
                                     ({address}). If you wish to move the data from a \
                                     potentially inconsistent replica, restart the node with \
                                     consistent_rangemovement: false"
                                )
                            } else {
                                format!("{address}, its source, and every other replica are down")
                            },
                        });
                    }
                }
            }
        };
        // Every source must be there before anything streams: no half-fetched keyspace.
        let mut sources = Vec::with_capacity(ranges.len());
        for (range, source) in &ranges {
            match ring.nodes.get(source) {
                Some((address, true)) => sources.push((*range, *address)),
                Some((address, false)) => {
                    return Err(BootstrapError::NoSource {
                        keyspace: ks.name.clone(),
                        range: fmt_range(*range),
                        reason: format!("{address}, a source of the range, is down"),
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
                        rows_only: false,
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
                    joined.received.files += got.files;
                }
                joined.ranges += 1;
            }
        }
    }
    // Everything is here: own the ranges, then forget the join.
    cluster.set_status(NodeStatus::Normal);
    if let Some(r) = replaced
        && r.address != config.listen_address
    {
        // The replaced node is gone for good: every node drops it from the ring. (At this
        // node's own address gossip already holds this node there, not the dead one.)
        cluster.announce_removed(r.address);
    }
    let marker = config.data_dir.join(MARKER_FILE);
    if let Err(e) = std::fs::remove_file(&marker) {
        tracing::warn!(path = %marker.display(), error = %e, "cannot remove the join marker");
    }
    joined.elapsed = started.elapsed();
    joined.streaming = streams_started.elapsed();
    Ok(joined)
}

/// The ranges a replacement streams, each from a live replica other than the dead node;
/// `Err((range, reason))` names a range no live replica holds.
fn replacement_sources(
    ring: &Ring,
    future: &TokenMetadata,
    strategy: &ReplicationStrategy,
    me: NodeId,
    replaced: Replaced,
) -> Result<Vec<(TokenRange, NodeId)>, (String, String)> {
    let dead = NodeId::from_u128(replaced.host_id.as_u128());
    // Every survivor, up or not: one that is down fails the replacement (below, as for a
    // join) rather than being skipped, since it may hold writes no other survivor has.
    let fetches = ilion_ring::fetches_without(&ring.meta, future, strategy, dead, |_| true)
        .map_err(|e| ("(the whole ring)".to_owned(), e.to_string()))?;
    let mut out = Vec::new();
    for f in fetches.into_iter().filter(|f| f.to == me) {
        // Every surviving replica: a write acknowledged at QUORUM is on one of them, not
        // necessarily on any particular one.
        match f.from.as_slice() {
            [] => {
                return Err((
                    fmt_range(f.range),
                    format!(
                        "no replica other than the replaced node {} holds it",
                        replaced.address
                    ),
                ));
            }
            sources => out.extend(sources.iter().map(|from| (f.range, *from))),
        }
    }
    Ok(out)
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
    replaced: Option<IpAddr>,
) -> Result<(), BootstrapError> {
    let view = cluster.view();
    let local = config.listen_address.to_string();
    let waited = Duration::from_millis(config.ring_delay_ms);
    let deadline = Instant::now() + waited;
    loop {
        let mut members = view.members();
        // The node being replaced is down for good: nobody waits for it.
        members.retain(|m| Some(m.address) != replaced);
        // Without consistent range movements the operator accepts streaming from another
        // replica: a member that is down is not waited for (it coordinates nothing while
        // down, and learns of this node from its peers before it serves again). With them,
        // every member must be up and see this node joining.
        if !config.consistent_rangemovement {
            members.retain(|m| m.alive || m.status != MemberStatus::Normal);
        }
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
            let down = members
                .iter()
                .any(|m| !m.alive && m.status == MemberStatus::Normal);
            let reason = if down && config.consistent_rangemovement {
                format!(
                    "{reason}; with consistent_rangemovement: true every member must be up \
                     (false streams the ranges of a node that is down from another replica)"
                )
            } else {
                reason
            };
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let plan = JoinPlan {
            tokens: vec![3, -7],
            replaces: Some(Replaced {
                host_id: Uuid::from_u128(9),
                address: IpAddr::from([127, 0, 0, 9]),
            }),
        };
        write_marker(&path, &plan).unwrap();
        assert_eq!(read_marker(&path).unwrap(), Some(plan));
        // A marker written before replacements existed still reads.
        std::fs::write(&path, br#"{"tokens":[5]}"#).unwrap();
        assert_eq!(
            read_marker(&path).unwrap(),
            Some(JoinPlan {
                tokens: vec![5],
                replaces: None
            })
        );
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            read_marker(&path),
            Err(BootstrapError::Marker { .. })
        ));
    }
}
