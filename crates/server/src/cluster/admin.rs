//! The `Admin` gRPC service and its client side: `ilion status` asks a node for its view of
//! the cluster and prints it as `nodetool status` does.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use ilion_coordinator::{MemberStatus, Membership};
use tonic::{Request, Response, Status};

use super::proto::admin_client::AdminClient;
use super::proto::admin_server::Admin;
use super::proto::{
    CleanupRequest, CleanupResponse, DecommissionRequest, DecommissionResponse,
    MemberStatus as ProtoMember, NetstatsRequest, NetstatsResponse, RemoveNodeRequest,
    RemoveNodeResponse, RemoveNodeStatusRequest, RemoveNodeStatusResponse, StatusRequest,
    StatusResponse, StreamStatus,
};
use super::streaming::{Direction, Streams};
use super::view::ClusterView;

/// The `Admin` gRPC service.
#[derive(Debug, Clone)]
pub(crate) struct AdminService {
    pub view: Arc<ClusterView>,
    pub cluster_name: String,
    pub streams: Arc<Streams>,
    pub leave: super::decommission::Leave,
    pub removal: super::removenode::Removal,
}

fn status_name(s: MemberStatus) -> &'static str {
    match s {
        MemberStatus::Joining => "JOINING",
        MemberStatus::Normal => "NORMAL",
        MemberStatus::Leaving => "LEAVING",
        MemberStatus::Left => "LEFT",
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let members = self
            .view
            .members()
            .into_iter()
            .map(|m| ProtoMember {
                address: m.address.to_string(),
                host_id: m.host_id.to_string(),
                data_center: m.data_center,
                rack: m.rack,
                tokens: m.tokens,
                status: status_name(m.status).to_owned(),
                up: m.alive,
                load: m.load,
                schema_version: m.schema_version.to_string(),
                release_version: m.release_version,
                native_address: m.native_address.to_string(),
                native_port: u32::from(m.native_port),
            })
            .collect();
        Ok(Response::new(StatusResponse {
            cluster_name: self.cluster_name.clone(),
            local_address: self.view.local_address().to_string(),
            members,
        }))
    }

    async fn decommission(
        &self,
        _request: Request<DecommissionRequest>,
    ) -> Result<Response<DecommissionResponse>, Status> {
        use super::decommission::DecommissionError as E;
        match self.leave.run().await {
            Ok(done) => Ok(Response::new(done)),
            Err(
                e @ (E::ReplicationFactor { .. }
                | E::NotNormal { .. }
                | E::MovementRunning { .. }
                | E::AlreadyRunning),
            ) => Err(Status::failed_precondition(e.to_string())),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }

    async fn cleanup(
        &self,
        request: Request<CleanupRequest>,
    ) -> Result<Response<CleanupResponse>, Status> {
        let keyspace = Some(request.into_inner().keyspace).filter(|k| !k.is_empty());
        let coordinator = self.leave.node.coordinator.clone();
        let cleaned = tokio::task::spawn_blocking(move || match coordinator.replication() {
            Some(r) => r.cleanup(keyspace.as_deref()).map_err(|e| e.to_string()),
            None => Err("this node does not replicate".to_owned()),
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(Status::failed_precondition)?;
        Ok(Response::new(CleanupResponse {
            tables: cleaned.tables as u64,
            ranges: cleaned.ranges as u64,
        }))
    }

    async fn remove_node(
        &self,
        request: Request<RemoveNodeRequest>,
    ) -> Result<Response<RemoveNodeResponse>, Status> {
        match self.removal.run(&request.into_inner().host_id).await {
            Ok(done) => Ok(Response::new(done)),
            Err(e) if e.is_refusal() => Err(Status::failed_precondition(e.to_string())),
            Err(e) => Err(Status::unavailable(e.to_string())),
        }
    }

    async fn remove_node_status(
        &self,
        _request: Request<RemoveNodeStatusRequest>,
    ) -> Result<Response<RemoveNodeStatusResponse>, Status> {
        Ok(Response::new(self.removal.status()))
    }

    async fn netstats(
        &self,
        _request: Request<NetstatsRequest>,
    ) -> Result<Response<NetstatsResponse>, Status> {
        let streams = self
            .streams
            .list()
            .into_iter()
            .map(|s| StreamStatus {
                direction: match s.direction {
                    Direction::Inbound => "receiving",
                    Direction::Outbound => "sending",
                }
                .to_owned(),
                peer: s.peer,
                keyspace: s.keyspace,
                table: s.table,
                bytes: s.bytes,
                partitions: s.partitions,
                elapsed_ms: u64::try_from(s.elapsed.as_millis()).unwrap_or(u64::MAX),
                state: match s.finished {
                    None => "running",
                    Some(true) => "done",
                    Some(false) => "failed",
                }
                .to_owned(),
            })
            .collect();
        Ok(Response::new(NetstatsResponse {
            mode: status_name(self.view.local().status).to_owned(),
            streams,
        }))
    }
}

/// Asks the node whose gRPC service is at `host` for its streams (`ilion netstats`).
pub async fn fetch_netstats(
    host: &str,
    timeout: Duration,
) -> Result<NetstatsResponse, AdminClientError> {
    admin_client(host, timeout, timeout)
        .await?
        .netstats(NetstatsRequest {})
        .await
        .map(Response::into_inner)
        .map_err(|s| unreachable(host, s.message()))
}

/// A client of the Admin service at `host` (`ip:port`).
async fn admin_client(
    host: &str,
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<AdminClient<tonic::transport::Channel>, AdminClientError> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{host}"))
        .map_err(|e| AdminClientError::Address(host.to_owned(), e.to_string()))?
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .connect()
        .await
        .map_err(|e| unreachable(host, &e.to_string()))?;
    Ok(AdminClient::new(channel))
}

fn unreachable(host: &str, reason: &str) -> AdminClientError {
    AdminClientError::Unreachable {
        address: host.to_owned(),
        reason: reason.to_owned(),
    }
}

fn refused(host: &str, status: &Status) -> AdminClientError {
    AdminClientError::Refused {
        address: host.to_owned(),
        reason: status.message().to_owned(),
    }
}

/// Asks the node at `host` to leave the ring; answers once it has left.
pub async fn request_decommission(
    host: &str,
    timeout: Duration,
) -> Result<DecommissionResponse, AdminClientError> {
    admin_client(host, Duration::from_secs(10), timeout)
        .await?
        .decommission(DecommissionRequest {})
        .await
        .map(Response::into_inner)
        .map_err(|s| refused(host, &s))
}

/// Asks the node at `host` to clean up `keyspace` (empty: every user keyspace).
pub async fn request_cleanup(
    host: &str,
    keyspace: &str,
    timeout: Duration,
) -> Result<CleanupResponse, AdminClientError> {
    admin_client(host, Duration::from_secs(10), timeout)
        .await?
        .cleanup(CleanupRequest {
            keyspace: keyspace.to_owned(),
        })
        .await
        .map(Response::into_inner)
        .map_err(|s| refused(host, &s))
}

/// Asks the node at `host` to remove the dead node `host_id`; answers once it is removed.
pub async fn request_removenode(
    host: &str,
    host_id: &str,
    timeout: Duration,
) -> Result<RemoveNodeResponse, AdminClientError> {
    admin_client(host, Duration::from_secs(10), timeout)
        .await?
        .remove_node(RemoveNodeRequest {
            host_id: host_id.to_owned(),
        })
        .await
        .map(Response::into_inner)
        .map_err(|s| refused(host, &s))
}

/// Asks the node at `host` which removal it runs (`ilion removenode status`).
pub async fn fetch_removenode_status(
    host: &str,
    timeout: Duration,
) -> Result<RemoveNodeStatusResponse, AdminClientError> {
    admin_client(host, timeout, timeout)
        .await?
        .remove_node_status(RemoveNodeStatusRequest {})
        .await
        .map(Response::into_inner)
        .map_err(|s| unreachable(host, s.message()))
}

/// `nodetool netstats`'s text: the mode, then each stream with its bytes, rate and state.
pub fn format_netstats(n: &NetstatsResponse) -> String {
    let mut out = format!("Mode: {}\n", n.mode);
    if n.streams.is_empty() {
        out.push_str("Not sending any streams.\n");
        return out;
    }
    for s in &n.streams {
        #[allow(clippy::cast_precision_loss)]
        let rate = if s.elapsed_ms == 0 {
            0.0
        } else {
            s.bytes as f64 / (s.elapsed_ms as f64 / 1000.0)
        };
        #[allow(clippy::cast_precision_loss)]
        let _ = writeln!(
            out,
            "    {} {} {}.{}: {} ({} partitions) in {:.1} s, {}/s, {}",
            s.direction,
            if s.direction == "receiving" {
                format!("from {}", s.peer)
            } else {
                format!("to {}", s.peer)
            },
            s.keyspace,
            s.table,
            human_size(s.bytes as f64),
            s.partitions,
            s.elapsed_ms as f64 / 1000.0,
            human_size(rate),
            s.state
        );
    }
    out
}

/// Why `ilion status` could not get an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminClientError {
    #[error("bad node address {0}: {1}")]
    Address(String, String),
    #[error("cannot reach the node at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("the node at {address} refused: {reason}")]
    Refused { address: String, reason: String },
}

/// Asks the node whose gRPC service is at `host` (`ip:port`) for its view of the cluster.
pub async fn fetch_status(
    host: &str,
    timeout: Duration,
) -> Result<StatusResponse, AdminClientError> {
    admin_client(host, timeout, timeout)
        .await?
        .status(StatusRequest {})
        .await
        .map(Response::into_inner)
        .map_err(|s| unreachable(host, s.message()))
}

/// A size as Cassandra prints loads (`70.73 KiB`).
fn human_size(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let name = UNITS.get(unit).copied().unwrap_or("bytes");
    if unit == 0 {
        format!("{value:.0} {name}")
    } else {
        format!("{value:.2} {name}")
    }
}

/// The share of the token ring each member owns (the ranges ending at its tokens).
fn ownership(members: &[ProtoMember]) -> BTreeMap<String, f64> {
    let mut ring: Vec<(i64, &str)> = members
        .iter()
        .filter(|m| m.status != "LEFT")
        .flat_map(|m| m.tokens.iter().map(move |t| (*t, m.address.as_str())))
        .collect();
    ring.sort_unstable();
    let mut out = BTreeMap::new();
    let n = ring.len();
    for (i, (token, owner)) in ring.iter().enumerate() {
        let previous = if i == 0 {
            ring.get(n - 1)
        } else {
            ring.get(i - 1)
        };
        let Some((prev, _)) = previous else { continue };
        // Range (prev, token] on the ring of 2^64 tokens; one token alone owns it all.
        let width = (*token as u64).wrapping_sub(*prev as u64);
        #[allow(clippy::cast_precision_loss)]
        let share = if n == 1 {
            1.0
        } else {
            width as f64 / 18_446_744_073_709_551_616.0
        };
        *out.entry((*owner).to_owned()).or_insert(0.0) += share;
    }
    out
}

/// `nodetool status`'s text for a node's answer: per data center a header, the legend, and
/// one line per member (`UN` = up and normal, `DN` = down and normal, ...).
pub fn format_status(status: &StatusResponse) -> String {
    let owns = ownership(&status.members);
    let mut by_dc: BTreeMap<&str, Vec<&ProtoMember>> = BTreeMap::new();
    // Nodes that left the ring are not listed (as nodetool status).
    for m in status.members.iter().filter(|m| m.status != "LEFT") {
        by_dc.entry(m.data_center.as_str()).or_default().push(m);
    }
    let mut out = String::new();
    for (dc, mut members) in by_dc {
        members.sort_by(|a, b| a.address.cmp(&b.address));
        let header = format!("Datacenter: {dc}");
        let _ = writeln!(out, "{header}");
        let _ = writeln!(out, "{}", "=".repeat(header.len()));
        let _ = writeln!(out, "Status=Up/Down");
        let _ = writeln!(out, "|/ State=Normal/Leaving/Joining/Moving");
        let rows: Vec<[String; 7]> = members
            .iter()
            .map(|m| {
                let state = match m.status.as_str() {
                    "JOINING" => 'J',
                    "LEAVING" => 'L',
                    _ => 'N',
                };
                [
                    format!("{}{state}", if m.up { 'U' } else { 'D' }),
                    m.address.clone(),
                    human_size(m.load),
                    m.tokens.len().to_string(),
                    owns.get(&m.address)
                        .map_or("?".to_owned(), |o| format!("{:.1}%", o * 100.0)),
                    m.host_id.clone(),
                    m.rack.clone(),
                ]
            })
            .collect();
        let head =
            ["--", "Address", "Load", "Tokens", "Owns", "Host ID", "Rack"].map(str::to_owned);
        let mut widths = head.clone().map(|h| h.len());
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r.iter()) {
                *w = (*w).max(c.len());
            }
        }
        for r in std::iter::once(&head).chain(rows.iter()) {
            let mut line = String::new();
            for (i, (c, w)) in r.iter().zip(widths.iter()).enumerate() {
                if i + 1 == r.len() {
                    line.push_str(c);
                } else {
                    let _ = write!(line, "{c:<w$}  ");
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(address: &str, up: bool, tokens: Vec<i64>) -> ProtoMember {
        ProtoMember {
            address: address.to_owned(),
            host_id: "6d5b3c4e-0000-4000-8000-000000000001".to_owned(),
            data_center: "datacenter1".to_owned(),
            rack: "rack1".to_owned(),
            tokens,
            status: "NORMAL".to_owned(),
            up,
            load: 72_417.0,
            ..ProtoMember::default()
        }
    }

    #[test]
    fn status_prints_a_datacenter_header_and_one_line_per_member_with_its_state() {
        let status = StatusResponse {
            cluster_name: "c".into(),
            local_address: "127.0.0.1".into(),
            members: vec![
                member("127.0.0.2", false, vec![i64::MIN / 2]),
                member("127.0.0.1", true, vec![0, i64::MAX / 2]),
            ],
        };
        let text = format_status(&status);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Datacenter: datacenter1");
        assert_eq!(lines[1], "=".repeat("Datacenter: datacenter1".len()));
        assert!(lines[4].starts_with("--  Address"), "{text}");
        assert!(
            lines[5].starts_with("UN  127.0.0.1  70.72 KiB  2"),
            "{text}"
        );
        assert!(lines[6].starts_with("DN  127.0.0.2"), "{text}");
        // Tokens at MIN/2, 0 and MAX/2: the first owner has (MIN/2, 0] and (0, MAX/2].
        assert!(lines[5].contains("50.0%"), "{text}");
        assert!(lines[6].contains("50.0%"), "{text}");
    }

    #[test]
    fn ownership_of_a_single_token_is_the_whole_ring() {
        let owns = ownership(&[member("127.0.0.1", true, vec![42])]);
        assert_eq!(owns.get("127.0.0.1"), Some(&1.0));
    }

    #[test]
    fn netstats_prints_the_mode_and_each_stream_with_its_rate() {
        let idle = format_netstats(&NetstatsResponse {
            mode: "NORMAL".into(),
            streams: Vec::new(),
        });
        assert_eq!(idle, "Mode: NORMAL\nNot sending any streams.\n");
        let busy = format_netstats(&NetstatsResponse {
            mode: "JOINING".into(),
            streams: vec![StreamStatus {
                direction: "receiving".into(),
                peer: "127.0.0.1".into(),
                keyspace: "ks".into(),
                table: "t".into(),
                bytes: 2 * 1024 * 1024,
                partitions: 10,
                elapsed_ms: 2000,
                state: "running".into(),
            }],
        });
        assert!(busy.starts_with("Mode: JOINING\n"), "{busy}");
        assert!(
            busy.contains("receiving from 127.0.0.1 ks.t: 2.00 MiB (10 partitions) in 2.0 s, 1.00 MiB/s, running"),
            "{busy}"
        );
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(human_size(512.0), "512 bytes");
        assert_eq!(human_size(1536.0), "1.50 KiB");
        assert_eq!(human_size(3.0 * 1024.0 * 1024.0 * 1024.0), "3.00 GiB");
    }
}
