//! The cluster as this node sees it, kept from the gossiper's events: the coordinator's
//! [`Membership`], and the STATUS_CHANGE / TOPOLOGY_CHANGE events clients registered for.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use ilion_coordinator::{Member, MemberStatus, Membership};
use ilion_cql::protocol::{Event, StatusChange, TopologyChange};
use ilion_gossip::{ApplicationState, NodeStatus};
use parking_lot::RwLock;
use uuid::Uuid;

/// What gossip told us about one peer.
#[derive(Debug, Clone, Default)]
struct Peer {
    states: BTreeMap<ApplicationState, String>,
    alive: bool,
    /// It shut down while joining: it owns nothing and is no pending replica (a failed or
    /// stopped bootstrap must not leave a half-owned range); it joins again when it restarts.
    shut_down_joining: bool,
}

impl Peer {
    fn get(&self, key: ApplicationState) -> Option<&str> {
        self.states.get(&key).map(String::as_str)
    }

    fn status(&self) -> Option<NodeStatus> {
        self.get(ApplicationState::Status)
            .and_then(NodeStatus::parse)
    }

    /// The tokens it gossips, sorted (`None` before it gossiped any).
    fn tokens(&self) -> Option<Vec<i64>> {
        let mut tokens: Vec<i64> = self
            .get(ApplicationState::Tokens)?
            .split(',')
            .filter_map(|t| t.trim().parse().ok())
            .collect();
        tokens.sort_unstable();
        Some(tokens)
    }

    /// Whether it gossips a removal (`removenode`) it coordinates.
    fn is_removing(&self) -> bool {
        self.get(ApplicationState::Removing)
            .is_some_and(|s| !s.is_empty())
    }

    /// The member this peer is, once it has gossiped enough to be one (host id and status).
    fn member(&self, address: IpAddr, default_native_port: u16) -> Option<Member> {
        let host_id = self.get(ApplicationState::HostId)?.parse::<Uuid>().ok()?;
        let status = match self.status()? {
            NodeStatus::Boot => MemberStatus::Joining,
            NodeStatus::Shutdown if self.shut_down_joining => MemberStatus::Left,
            NodeStatus::Normal | NodeStatus::Shutdown => MemberStatus::Normal,
            NodeStatus::Leaving => MemberStatus::Leaving,
            NodeStatus::Left | NodeStatus::Removed => MemberStatus::Left,
        };
        let (native_address, native_port) = self
            .get(ApplicationState::NativeAddress)
            .and_then(|s| s.parse::<SocketAddr>().ok())
            .map_or((address, default_native_port), |a| (a.ip(), a.port()));
        Some(Member {
            address,
            host_id,
            data_center: self
                .get(ApplicationState::Dc)
                .unwrap_or_default()
                .to_owned(),
            rack: self
                .get(ApplicationState::Rack)
                .unwrap_or_default()
                .to_owned(),
            tokens: self.tokens().unwrap_or_default(),
            status,
            alive: self.alive,
            native_address,
            native_port,
            release_version: self
                .get(ApplicationState::ReleaseVersion)
                .unwrap_or_default()
                .to_owned(),
            schema_version: self
                .get(ApplicationState::SchemaVersion)
                .and_then(|s| s.parse().ok())
                .unwrap_or_default(),
            load: self
                .get(ApplicationState::Load)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0),
            replaces: self
                .get(ApplicationState::Replaces)
                .and_then(|s| s.parse().ok()),
            removing: self
                .get(ApplicationState::Removing)
                .and_then(|s| s.parse().ok()),
        })
    }
}

#[derive(Debug)]
struct Inner {
    local: Member,
    /// This node's gRPC (storage) port.
    storage_port: u16,
    peers: BTreeMap<IpAddr, Peer>,
    /// Each peer's gRPC endpoint as gossip names it (its own storage port).
    endpoints: BTreeMap<IpAddr, SocketAddr>,
    topology_version: u64,
    /// This node's gossip generation, once gossip has started (`system.local`).
    generation: Option<u64>,
}

/// The cluster view: this node (from its own facts) and every peer gossip told us about.
#[derive(Debug)]
pub struct ClusterView {
    inner: RwLock<Inner>,
}

impl ClusterView {
    /// A view holding only the local node, whose gRPC service listens on `storage_port`.
    pub fn new(local: Member, storage_port: u16) -> ClusterView {
        ClusterView {
            inner: RwLock::new(Inner {
                local,
                storage_port,
                peers: BTreeMap::new(),
                endpoints: BTreeMap::new(),
                topology_version: 1,
                generation: None,
            }),
        }
    }

    /// Where the node at `address` serves gRPC: the endpoint it gossips from (each node has
    /// its own storage port), or `address` at this node's port when gossip has not named it.
    pub fn storage_endpoint(&self, address: IpAddr) -> SocketAddr {
        let inner = self.inner.read();
        inner
            .endpoints
            .get(&address)
            .copied()
            .unwrap_or(SocketAddr::new(address, inner.storage_port))
    }

    /// The local node as the view shows it.
    pub fn local(&self) -> Member {
        self.inner.read().local.clone()
    }

    /// Records the gossip generation this node started with.
    pub fn set_generation(&self, generation: u64) {
        self.inner.write().generation = Some(generation);
    }

    /// Updates the local node's schema version.
    pub fn set_local_schema_version(&self, version: Uuid) {
        self.inner.write().local.schema_version = version;
    }

    /// Updates the local node's status (a bootstrap that finished is NORMAL).
    pub fn set_local_status(&self, status: MemberStatus) {
        let mut inner = self.inner.write();
        if inner.local.status != status {
            inner.local.status = status;
            inner.topology_version += 1;
        }
    }

    /// Sets the dead node the local node is removing (`removenode`), or none.
    pub fn set_local_removing(&self, host_id: Option<Uuid>) {
        let mut inner = self.inner.write();
        if inner.local.removing != host_id {
            inner.local.removing = host_id;
            inner.topology_version += 1;
        }
    }

    /// Updates the local node's load.
    pub fn set_local_load(&self, load: f64) {
        self.inner.write().local.load = load;
    }

    /// Live peers (not this node) and the schema version they gossip.
    pub fn live_peer_schema_versions(&self) -> Vec<(IpAddr, Option<Uuid>)> {
        self.inner
            .read()
            .peers
            .iter()
            .filter(|(_, p)| p.alive)
            .map(|(a, p)| {
                (
                    *a,
                    p.get(ApplicationState::SchemaVersion)
                        .and_then(|s| s.parse().ok()),
                )
            })
            .collect()
    }

    /// Applies one gossip event; returns the events to push to registered clients.
    pub fn apply(&self, event: &ilion_gossip::Event) -> Vec<Event> {
        let mut inner = self.inner.write();
        let native_port = inner.local.native_port;
        let mut out = Vec::new();
        match event {
            ilion_gossip::Event::Evicted { endpoint } => {
                inner.endpoints.remove(&endpoint.ip());
            }
            ilion_gossip::Event::Joined { endpoint }
            | ilion_gossip::Event::Restarted { endpoint, .. }
            | ilion_gossip::Event::Up { endpoint }
            | ilion_gossip::Event::Changed { endpoint, .. } => {
                inner.endpoints.insert(endpoint.ip(), *endpoint);
            }
            _ => {}
        }
        match event {
            ilion_gossip::Event::Joined { endpoint } => {
                inner.peers.insert(endpoint.ip(), Peer::default());
                inner.topology_version += 1;
            }
            ilion_gossip::Event::Restarted { endpoint, .. } => {
                let ip = endpoint.ip();
                let peer = inner.peers.entry(ip).or_default();
                let was_alive = peer.alive;
                // The new incarnation's states follow as Changed events; the old ones stay
                // until then, so a restart is not mistaken for a new node.
                if was_alive {
                    // Cassandra's onRestart: clients learn of the restart as a DOWN, then an
                    // UP once the new incarnation's state is in (below, or at its Up event).
                    peer.alive = false;
                    if let Some(addr) = native_endpoint(peer, ip, native_port) {
                        out.push(Event::StatusChange {
                            change: StatusChange::Down,
                            address: addr,
                        });
                    }
                }
                inner.topology_version += 1;
            }
            ilion_gossip::Event::Up { endpoint } => {
                let ip = endpoint.ip();
                let peer = inner.peers.entry(ip).or_default();
                peer.alive = true;
                let removes = peer.is_removing();
                if let Some(addr) = native_endpoint(peer, ip, native_port) {
                    out.push(Event::StatusChange {
                        change: StatusChange::Up,
                        address: addr,
                    });
                }
                if removes {
                    inner.topology_version += 1;
                }
            }
            ilion_gossip::Event::Down { endpoint } => {
                let ip = endpoint.ip();
                if let Some(peer) = inner.peers.get_mut(&ip) {
                    peer.alive = false;
                    let removes = peer.is_removing();
                    if let Some(addr) = native_endpoint(peer, ip, native_port) {
                        out.push(Event::StatusChange {
                            change: StatusChange::Down,
                            address: addr,
                        });
                    }
                    // A removal counts only while its coordinator is up.
                    if removes {
                        inner.topology_version += 1;
                    }
                }
            }
            ilion_gossip::Event::Changed {
                endpoint,
                key,
                value,
            } => {
                let ip = endpoint.ip();
                let peer = inner.peers.entry(ip).or_default();
                let before = peer.status();
                let tokens_before = peer.tokens();
                peer.states.insert(*key, value.clone());
                // A member (NORMAL) whose tokens change has moved: clients rebuild their token
                // maps (Cassandra's MOVED_NODE). Tokens gossiped while it joins are no move.
                if *key == ApplicationState::Tokens
                    && before == Some(NodeStatus::Normal)
                    && tokens_before.is_some_and(|t| Some(t) != peer.tokens())
                    && let Some(address) = native_endpoint(peer, ip, native_port)
                {
                    out.push(Event::TopologyChange {
                        change: TopologyChange::MovedNode,
                        address,
                    });
                }
                if *key == ApplicationState::Status {
                    let after = peer.status();
                    match after {
                        Some(NodeStatus::Shutdown) => {
                            // A node stopping after it left (decommission) stays gone too.
                            peer.shut_down_joining |=
                                matches!(before, Some(NodeStatus::Boot | NodeStatus::Left));
                        }
                        _ => peer.shut_down_joining = false,
                    }
                    let addr = native_endpoint(peer, ip, native_port);
                    match (before, after, addr) {
                        (b, Some(NodeStatus::Normal), Some(address))
                            if b != Some(NodeStatus::Normal) && b != Some(NodeStatus::Shutdown) =>
                        {
                            out.push(Event::TopologyChange {
                                change: TopologyChange::NewNode,
                                address,
                            });
                        }
                        (b, Some(s), Some(address))
                            if s.is_dead_state() && !b.is_some_and(NodeStatus::is_dead_state) =>
                        {
                            out.push(Event::TopologyChange {
                                change: TopologyChange::RemovedNode,
                                address,
                            });
                        }
                        _ => {}
                    }
                }
                if matches!(
                    key,
                    ApplicationState::Status
                        | ApplicationState::Tokens
                        | ApplicationState::Dc
                        | ApplicationState::Rack
                        | ApplicationState::Replaces
                        | ApplicationState::Removing
                ) {
                    inner.topology_version += 1;
                }
            }
            ilion_gossip::Event::Evicted { endpoint } => {
                let ip = endpoint.ip();
                if let Some(peer) = inner.peers.remove(&ip) {
                    let dead = peer.status().is_some_and(NodeStatus::is_dead_state);
                    if let (false, Some(address)) = (dead, native_endpoint(&peer, ip, native_port))
                    {
                        out.push(Event::TopologyChange {
                            change: TopologyChange::RemovedNode,
                            address,
                        });
                    }
                }
                inner.topology_version += 1;
            }
            _ => {}
        }
        out
    }
}

/// Where clients reach a peer, once it has told us.
fn native_endpoint(peer: &Peer, ip: IpAddr, default_port: u16) -> Option<SocketAddr> {
    match peer.get(ApplicationState::NativeAddress) {
        Some(s) => s.parse().ok(),
        None if peer.get(ApplicationState::HostId).is_some() => {
            Some(SocketAddr::new(ip, default_port))
        }
        None => None,
    }
}

impl Membership for ClusterView {
    fn local_address(&self) -> IpAddr {
        self.inner.read().local.address
    }

    fn members(&self) -> Vec<Member> {
        let inner = self.inner.read();
        let native_port = inner.local.native_port;
        let mut out = vec![inner.local.clone()];
        out.extend(
            inner
                .peers
                .iter()
                .filter(|(a, _)| **a != inner.local.address)
                .filter_map(|(a, p)| p.member(*a, native_port)),
        );
        ilion_coordinator::resolve_ring_changes(&mut out);
        out
    }

    fn topology_version(&self) -> u64 {
        self.inner.read().topology_version
    }

    fn is_alive(&self, address: IpAddr) -> bool {
        let inner = self.inner.read();
        address == inner.local.address || inner.peers.get(&address).is_some_and(|p| p.alive)
    }

    fn local_generation(&self) -> Option<u64> {
        self.inner.read().generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Member {
        Member {
            tokens: vec![0],
            ..crate::cluster::movement::member_for_tests(1, MemberStatus::Normal)
        }
    }

    #[test]
    fn a_peer_is_reached_at_the_storage_port_it_gossips_from() {
        let view = ClusterView::new(local(), 7000);
        let peer: SocketAddr = "127.0.0.2:7005".parse().unwrap();
        view.apply(&ilion_gossip::Event::Joined { endpoint: peer });
        assert_eq!(view.storage_endpoint(peer.ip()), peer);
        // Not (yet) known from gossip: this node's port.
        assert_eq!(
            view.storage_endpoint(IpAddr::from([127, 0, 0, 3])),
            "127.0.0.3:7000".parse().unwrap()
        );
        // A restart on another port moves the endpoint.
        let moved: SocketAddr = "127.0.0.2:7009".parse().unwrap();
        view.apply(&ilion_gossip::Event::Up { endpoint: moved });
        assert_eq!(view.storage_endpoint(peer.ip()), moved);
        view.apply(&ilion_gossip::Event::Evicted { endpoint: moved });
        assert_eq!(
            view.storage_endpoint(peer.ip()),
            "127.0.0.2:7000".parse().unwrap()
        );
    }

    fn changed(endpoint: SocketAddr, key: ApplicationState, value: &str) -> ilion_gossip::Event {
        ilion_gossip::Event::Changed {
            endpoint,
            key,
            value: value.to_owned(),
        }
    }

    #[test]
    fn a_normal_peer_whose_tokens_change_is_pushed_to_clients_as_a_moved_node() {
        let view = ClusterView::new(local(), 7000);
        let peer: SocketAddr = "127.0.0.2:7000".parse().unwrap();
        let native: SocketAddr = "127.0.0.2:9042".parse().unwrap();
        view.apply(&ilion_gossip::Event::Joined { endpoint: peer });
        view.apply(&changed(
            peer,
            ApplicationState::HostId,
            &Uuid::from_u128(2).to_string(),
        ));
        view.apply(&changed(
            peer,
            ApplicationState::NativeAddress,
            "127.0.0.2:9042",
        ));
        // Tokens gossiped while joining, and the join itself, are no move.
        view.apply(&changed(peer, ApplicationState::Status, "BOOT"));
        assert!(
            view.apply(&changed(peer, ApplicationState::Tokens, "10,20"))
                .is_empty()
        );
        assert!(
            view.apply(&changed(peer, ApplicationState::Tokens, "10,30"))
                .is_empty()
        );
        assert_eq!(
            view.apply(&changed(peer, ApplicationState::Status, "NORMAL")),
            vec![Event::TopologyChange {
                change: TopologyChange::NewNode,
                address: native,
            }]
        );
        // The same tokens again (in another order) are no move either.
        assert!(
            view.apply(&changed(peer, ApplicationState::Tokens, "30,10"))
                .is_empty()
        );
        assert_eq!(
            view.apply(&changed(peer, ApplicationState::Tokens, "10,40")),
            vec![Event::TopologyChange {
                change: TopologyChange::MovedNode,
                address: native,
            }]
        );
        let tokens = view
            .members()
            .into_iter()
            .find(|m| m.address == peer.ip())
            .map(|m| m.tokens);
        assert_eq!(tokens, Some(vec![10, 40]));
    }
}
