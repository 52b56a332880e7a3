//! NetworkTopologyStrategy: a replication factor per datacenter, replicas spread over racks.

use std::collections::BTreeMap;

use crate::strategy::placement::Scratch;
use crate::topology::RingView;

/// Cassandra's `NetworkTopologyStrategy`: a replication factor per datacenter.
///
/// Placement (`calculateNaturalReplicas`) walks the ring once, clockwise from the first token
/// `>=` the key's token. For each datacenter it accepts a node when
/// - its rack has not been seen yet in this walk (a new rack), or
/// - its rack has been seen, the node has not been chosen, and fewer racks exist in the
///   datacenter than its replication factor: then up to `rf - racks` such "rack repeats" fill
///   the remainder, the first ones met in ring order.
///
/// A datacenter is full when it has `min(rf, nodes in the datacenter)` replicas; the walk stops
/// when all are full or the ring is exhausted. Datacenters with factor 0, and datacenters
/// without nodes, get no replicas. Replicas are listed in the order the walk accepted them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkTopologyStrategy {
    datacenters: BTreeMap<String, usize>,
}

impl NetworkTopologyStrategy {
    /// The strategy with these per-datacenter replication factors (0 allowed, as Cassandra).
    pub fn new(datacenters: BTreeMap<String, usize>) -> Self {
        NetworkTopologyStrategy { datacenters }
    }

    /// The replication factor of each configured datacenter.
    pub fn datacenters(&self) -> &BTreeMap<String, usize> {
        &self.datacenters
    }

    /// The replication factor of one datacenter (0 when not configured).
    pub fn replication_factor(&self, dc: &str) -> usize {
        self.datacenters.get(dc).copied().unwrap_or(0)
    }

    /// The sum of the per-datacenter factors.
    pub fn total_replication_factor(&self) -> usize {
        self.datacenters.values().sum()
    }

    /// The factors resolved to the view's datacenter numbers, for [`place`].
    pub(crate) fn targets(&self, view: &RingView) -> Vec<(u32, usize)> {
        self.datacenters
            .iter()
            .filter_map(|(dc, &rf)| view.dc_number(dc).map(|d| (d, rf)))
            .collect()
    }
}

/// Per-datacenter progress of one walk.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DcProgress {
    active: bool,
    rf_left: usize,
    acceptable_rack_repeats: isize,
}

/// Appends to `out` the replicas of the range ending at ring index `start`, for the datacenter
/// factors `targets` (datacenter number, factor). `progress` is scratch space, one entry per
/// datacenter of the view.
pub(crate) fn place(
    view: &RingView,
    start: usize,
    targets: &[(u32, usize)],
    scratch: &mut Scratch,
    progress: &mut Vec<DcProgress>,
    out: &mut Vec<u32>,
) {
    let n = view.tokens.len();
    if n == 0 {
        return;
    }
    progress.clear();
    progress.resize(view.dc_names.len(), DcProgress::default());
    let mut to_fill = 0usize;
    for &(dc, rf) in targets {
        let nodes = view.dc_nodes.get(dc as usize).copied().unwrap_or(0) as usize;
        let racks = view.dc_racks.get(dc as usize).copied().unwrap_or(0) as isize;
        if rf == 0 || nodes == 0 {
            continue;
        }
        if let Some(p) = progress.get_mut(dc as usize) {
            *p = DcProgress {
                active: true,
                rf_left: rf.min(nodes),
                acceptable_rack_repeats: rf as isize - racks,
            };
            to_fill += 1;
        }
    }
    if to_fill == 0 {
        return;
    }
    let stamp = scratch.next_stamp();
    for step in 0..n {
        let idx = (start + step) % n;
        let Some(&node) = view.owners.get(idx) else {
            break;
        };
        let dc = view.node_dc.get(node as usize).copied().unwrap_or(u32::MAX);
        let Some(p) = progress.get_mut(dc as usize) else {
            continue;
        };
        if !p.active || p.rf_left == 0 {
            continue;
        }
        let rack = view.node_rack.get(node as usize).copied().unwrap_or(0);
        if scratch.mark_rack(rack, stamp) {
            // A new rack: its first node is necessarily new too.
            scratch.mark_node(node, stamp);
            p.rf_left -= 1;
            out.push(node);
        } else if p.acceptable_rack_repeats > 0 && scratch.mark_node(node, stamp) {
            // An already seen rack, accepted because the datacenter has fewer racks than its
            // replication factor.
            p.acceptable_rack_repeats -= 1;
            p.rf_left -= 1;
            out.push(node);
        } else {
            continue;
        }
        if p.rf_left == 0 {
            to_fill -= 1;
            if to_fill == 0 {
                break;
            }
        }
    }
}
