//! SimpleStrategy: the next `replication_factor` distinct nodes clockwise, ignoring location.

use crate::strategy::placement::Scratch;
use crate::topology::RingView;

/// Cassandra's `SimpleStrategy`: the replicas of a token are the owners of the ring tokens from
/// the first token `>=` it, walking clockwise, skipping nodes already chosen, until
/// `replication_factor` distinct nodes (or every node, when there are fewer) are found.
/// Datacenters and racks are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimpleStrategy {
    replication_factor: usize,
}

impl SimpleStrategy {
    /// The strategy with this replication factor (0 is allowed, as Cassandra: no replicas).
    pub const fn new(replication_factor: usize) -> Self {
        SimpleStrategy { replication_factor }
    }

    /// The replication factor.
    pub const fn replication_factor(&self) -> usize {
        self.replication_factor
    }
}

/// Appends to `out` the replicas of the range ending at ring index `start`.
pub(crate) fn place(
    view: &RingView,
    start: usize,
    replication_factor: usize,
    scratch: &mut Scratch,
    out: &mut Vec<u32>,
) {
    let want = replication_factor.min(view.node_count());
    let n = view.tokens.len();
    if want == 0 || n == 0 {
        return;
    }
    let stamp = scratch.next_stamp();
    let first = out.len();
    for step in 0..n {
        if out.len() - first == want {
            break;
        }
        let idx = (start + step) % n;
        let Some(&node) = view.owners.get(idx) else {
            break;
        };
        if scratch.mark_node(node, stamp) {
            out.push(node);
        }
    }
}
