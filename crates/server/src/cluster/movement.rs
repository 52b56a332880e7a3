//! What every range movement (bootstrap, replace, decommission, removenode) shares: the ring
//! built from the members, ranges as the store reads them, and waiting until the cluster sees
//! a change.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ilion_coordinator::{Coordinator, Member, MemberStatus, Membership};
use ilion_gossip::driver::Command;
use ilion_ring::{NodeId, Token, TokenMetadata, TokenRange};
use tokio::sync::mpsc;

use super::fetch_status;
use super::view::ClusterView;

/// What a decommission or a removal needs of the running node.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub view: Arc<ClusterView>,
    pub coordinator: Arc<Coordinator>,
    /// Commands to this node's gossiper.
    pub commands: mpsc::UnboundedSender<Command>,
    /// How long to wait for the cluster to see a change (`ring_delay_ms`).
    pub ring_delay: Duration,
    /// Writes in flight when the peers learn of a change finish within this.
    pub settle: Duration,
}

impl Node {
    /// Waits (up to `ring_delay`) until every live member lists `subject` in `state` (so
    /// every coordinator routes by the change), then for writes in flight to finish (`settle`).
    /// A dead `subject` is left out of the members asked. `Err` says what was not seen.
    pub async fn wait_until_seen_as(&self, subject: IpAddr, state: &str) -> Result<(), String> {
        let deadline = std::time::Instant::now() + self.ring_delay;
        loop {
            let mut members = self.view.members();
            members.retain(|m| m.address != subject || m.alive);
            match not_yet_seen_as(&self.view, &self.coordinator, subject, &members, state).await {
                None => break,
                Some(reason) if std::time::Instant::now() >= deadline => return Err(reason),
                Some(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
        tokio::time::sleep(self.settle).await;
        Ok(())
    }
}

/// The ring of some members, with each one's address and liveness.
#[derive(Debug, Clone)]
pub(super) struct Ring {
    pub meta: TokenMetadata,
    pub nodes: BTreeMap<NodeId, (IpAddr, bool)>,
}

impl Ring {
    /// The address of `node`.
    pub fn address(&self, node: NodeId) -> Option<IpAddr> {
        self.nodes.get(&node).map(|(a, _)| *a)
    }

    /// Whether `node` is up.
    pub fn is_up(&self, node: NodeId) -> bool {
        self.nodes.get(&node).is_some_and(|(_, up)| *up)
    }
}

/// The ring of the `members` that have tokens and for which `include` holds; a member whose
/// tokens clash with another's is left out (and logged).
pub(super) fn ring_of(members: &[Member], include: impl Fn(&Member) -> bool) -> Ring {
    let mut ring = Ring {
        meta: TokenMetadata::new(),
        nodes: BTreeMap::new(),
    };
    for m in members {
        if m.tokens.is_empty() || !include(m) {
            continue;
        }
        let id = NodeId::from_u128(m.host_id.as_u128());
        if let Err(e) = ring.meta.add_node(
            id,
            &m.data_center,
            &m.rack,
            m.tokens.iter().map(|t| Token::new(*t)),
        ) {
            tracing::warn!(node = %m.address, error = %e, "member left out of the ring");
            continue;
        }
        ring.nodes.insert(id, (m.address, m.alive));
    }
    ring
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

pub(super) fn fmt_range(r: TokenRange) -> String {
    format!("({}, {}]", r.left.value(), r.right.value())
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

/// Member `i` of a test cluster: address and native address `127.0.0.i`, host id `i`, token
/// `i`, dc1 / r1, up.
#[cfg(test)]
pub(crate) fn member_for_tests(i: u8, status: MemberStatus) -> Member {
    let address = IpAddr::from([127, 0, 0, i]);
    Member {
        address,
        host_id: uuid::Uuid::from_u128(u128::from(i)),
        data_center: "dc1".into(),
        rack: "r1".into(),
        tokens: vec![i64::from(i)],
        status,
        alive: true,
        native_address: address,
        native_port: 9042,
        release_version: "4.1.0".into(),
        schema_version: uuid::Uuid::nil(),
        load: 0.0,
        replaces: None,
        removing: None,
    }
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
}
