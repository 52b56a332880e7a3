//! Token metadata: which node owns which tokens, and where each node lives (datacenter, rack).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::Error;
use crate::token::{Token, TokenRange};

/// The default number of tokens (vnodes) per node, as Cassandra 4's `num_tokens: 16`.
///
/// More tokens give smoother ownership under random allocation and faster streaming from many
/// peers, but more ranges to repair and a larger ring to search; 16 with the balanced allocator
/// is Cassandra's recommendation since 4.0.
pub const DEFAULT_NUM_TOKENS: usize = 16;

/// A node's host id: a UUID, kept as its 16 bytes (big-endian, as `java.util.UUID` and the CQL
/// `uuid` type lay them out). Displays and parses in the usual 8-4-4-4-12 hex form.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u128);

impl NodeId {
    /// The host id with these 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        NodeId(u128::from_be_bytes(bytes))
    }

    /// The host id from the 128-bit value of the UUID.
    pub const fn from_u128(value: u128) -> Self {
        NodeId(value)
    }

    /// The 16 bytes of the UUID.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The 128-bit value of the UUID.
    pub const fn as_u128(self) -> u128 {
        self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xffff_ffff_ffff
        )
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl FromStr for NodeId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidNodeId {
            input: s.to_owned(),
        };
        let groups: Vec<&str> = s.split('-').collect();
        let shape_ok = groups.len() == 5
            && groups
                .iter()
                .zip([8, 4, 4, 4, 12])
                .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
        if !shape_ok {
            return Err(invalid());
        }
        u128::from_str_radix(&groups.concat(), 16)
            .map(NodeId)
            .map_err(|_| invalid())
    }
}

/// A node of the ring: its host id, location and tokens (sorted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    id: NodeId,
    dc: Arc<str>,
    rack: Arc<str>,
    tokens: Vec<Token>,
}

impl Node {
    /// The host id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The datacenter name.
    pub fn dc(&self) -> &str {
        &self.dc
    }

    /// The rack name (unique within its datacenter).
    pub fn rack(&self) -> &str {
        &self.rack
    }

    /// The node's tokens, ascending.
    pub fn tokens(&self) -> &[Token] {
        &self.tokens
    }
}

/// The ring as one node sees it: every normal node, its datacenter, rack and tokens.
///
/// Every change bumps [`version`](Self::version), so caches of placement
/// ([`ReplicaMap`](crate::ReplicaMap)) can tell they are stale. Nodes joining or leaving are not
/// in here until the change completes; while it is under way,
/// [`PendingRanges`](crate::PendingRanges) says which ranges they gain.
#[derive(Clone, Debug, Default)]
pub struct TokenMetadata {
    version: u64,
    nodes: BTreeMap<NodeId, Node>,
    /// Every token with its owner, ascending by token.
    ring: Vec<(Token, NodeId)>,
    local: Option<NodeId>,
}

impl TokenMetadata {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// The topology version: bumped by every change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Adds a node with its location and tokens. The tokens must be new to the ring.
    pub fn add_node(
        &mut self,
        id: NodeId,
        dc: &str,
        rack: &str,
        tokens: impl IntoIterator<Item = Token>,
    ) -> Result<(), Error> {
        if self.nodes.contains_key(&id) {
            return Err(Error::DuplicateNode { id });
        }
        if dc.is_empty() {
            return Err(Error::EmptyLocation {
                id,
                what: "datacenter",
            });
        }
        if rack.is_empty() {
            return Err(Error::EmptyLocation { id, what: "rack" });
        }
        let tokens = self.check_new_tokens(id, tokens)?;
        // Share the names' allocations with nodes already in the same place.
        let dc: Arc<str> = self
            .nodes
            .values()
            .find(|n| &*n.dc == dc)
            .map_or_else(|| Arc::from(dc), |n| n.dc.clone());
        let rack: Arc<str> = self
            .nodes
            .values()
            .find(|n| n.dc == dc && &*n.rack == rack)
            .map_or_else(|| Arc::from(rack), |n| n.rack.clone());
        self.ring.extend(tokens.iter().map(|&t| (t, id)));
        self.ring.sort_unstable_by_key(|&(t, _)| t);
        self.nodes.insert(
            id,
            Node {
                id,
                dc,
                rack,
                tokens,
            },
        );
        self.version += 1;
        Ok(())
    }

    /// Removes a node and its tokens, returning it.
    pub fn remove_node(&mut self, id: NodeId) -> Result<Node, Error> {
        let node = self.nodes.remove(&id).ok_or(Error::UnknownNode { id })?;
        self.ring.retain(|&(_, owner)| owner != id);
        if self.local == Some(id) {
            self.local = None;
        }
        self.version += 1;
        Ok(node)
    }

    /// Gives a node a new set of tokens (`nodetool move`).
    pub fn move_node(
        &mut self,
        id: NodeId,
        tokens: impl IntoIterator<Item = Token>,
    ) -> Result<(), Error> {
        if !self.nodes.contains_key(&id) {
            return Err(Error::UnknownNode { id });
        }
        let tokens = self.check_new_tokens_allowing(id, tokens, Some(id))?;
        self.ring.retain(|&(_, owner)| owner != id);
        self.ring.extend(tokens.iter().map(|&t| (t, id)));
        self.ring.sort_unstable_by_key(|&(t, _)| t);
        if let Some(node) = self.nodes.get_mut(&id) {
            node.tokens = tokens;
        }
        self.version += 1;
        Ok(())
    }

    /// Replaces node `old` by a new node `new` that takes over its tokens, datacenter and rack
    /// (`-Dcassandra.replace_address`).
    pub fn replace_node(&mut self, old: NodeId, new: NodeId) -> Result<(), Error> {
        if self.nodes.contains_key(&new) {
            return Err(Error::DuplicateNode { id: new });
        }
        let mut node = self
            .nodes
            .remove(&old)
            .ok_or(Error::UnknownNode { id: old })?;
        node.id = new;
        for entry in &mut self.ring {
            if entry.1 == old {
                entry.1 = new;
            }
        }
        self.nodes.insert(new, node);
        if self.local == Some(old) {
            self.local = Some(new);
        }
        self.version += 1;
        Ok(())
    }

    /// Names the node this metadata belongs to (used by [`LocalStrategy`](crate::LocalStrategy)).
    pub fn set_local(&mut self, id: NodeId) -> Result<(), Error> {
        if !self.nodes.contains_key(&id) {
            return Err(Error::UnknownNode { id });
        }
        self.local = Some(id);
        self.version += 1;
        Ok(())
    }

    /// The local node, when set.
    pub fn local(&self) -> Option<NodeId> {
        self.local
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(&id)
    }

    /// All nodes, by id.
    pub fn nodes(&self) -> impl ExactSizeIterator<Item = &Node> {
        self.nodes.values()
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the ring has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every token with its owner, ascending by token.
    pub fn ring(&self) -> &[(Token, NodeId)] {
        &self.ring
    }

    /// The datacenters, with their racks and the number of nodes in each rack.
    pub fn datacenters(&self) -> BTreeMap<&str, BTreeMap<&str, usize>> {
        let mut out: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
        for n in self.nodes.values() {
            *out.entry(&n.dc).or_default().entry(&n.rack).or_default() += 1;
        }
        out
    }

    /// The node whose primary range contains `token`: the owner of the first ring token `>=
    /// token`, wrapping to the first token of the ring.
    pub fn primary_owner(&self, token: Token) -> Option<NodeId> {
        let i = self.ring.partition_point(|&(t, _)| t < token);
        self.ring
            .get(i)
            .or_else(|| self.ring.first())
            .map(|&(_, id)| id)
    }

    /// The range a ring token owns: `(previous token, token]`, as Cassandra. `None` when
    /// `token` is not one of the ring's tokens. With a single token the range is the whole ring.
    pub fn range_of(&self, token: Token) -> Option<TokenRange> {
        let i = self.ring.binary_search_by_key(&token, |&(t, _)| t).ok()?;
        let prev = if i == 0 {
            self.ring.last()
        } else {
            self.ring.get(i - 1)
        };
        prev.map(|&(p, _)| TokenRange::new(p, token))
    }

    /// Every primary range with its owner, in ring order (the first range wraps).
    pub fn primary_ranges(&self) -> impl Iterator<Item = (TokenRange, NodeId)> + '_ {
        let last = self.ring.last().map(|&(t, _)| t);
        self.ring.iter().enumerate().map(move |(i, &(t, id))| {
            let prev = match i.checked_sub(1).and_then(|p| self.ring.get(p)) {
                Some(&(p, _)) => p,
                None => last.unwrap_or(t),
            };
            (TokenRange::new(prev, t), id)
        })
    }

    /// The fraction of the ring each node owns as primary (first) replica; the fractions sum to
    /// 1. Nodes of every datacenter share the one ring.
    pub fn primary_ownership(&self) -> BTreeMap<NodeId, f64> {
        let mut out: BTreeMap<NodeId, f64> = self.nodes.keys().map(|&id| (id, 0.0)).collect();
        for (range, id) in self.primary_ranges() {
            *out.entry(id).or_default() += range.size();
        }
        out
    }

    /// A compact index-based view for placement walks.
    pub(crate) fn view(&self) -> RingView {
        let mut view = RingView::default();
        let mut node_index: HashMap<NodeId, u32> = HashMap::with_capacity(self.nodes.len());
        let mut dc_index: BTreeMap<&str, u32> = BTreeMap::new();
        let mut rack_index: BTreeMap<(&str, &str), u32> = BTreeMap::new();
        for node in self.nodes.values() {
            let next_dc = dc_index.len() as u32;
            let dc = *dc_index.entry(&node.dc).or_insert_with(|| {
                view.dc_names.push(node.dc.clone());
                view.dc_nodes.push(0);
                view.dc_racks.push(0);
                next_dc
            });
            let next_rack = rack_index.len() as u32;
            let rack = *rack_index
                .entry((&node.dc, &node.rack))
                .or_insert(next_rack);
            if rack == next_rack
                && let Some(c) = view.dc_racks.get_mut(dc as usize)
            {
                *c += 1;
            }
            if let Some(c) = view.dc_nodes.get_mut(dc as usize) {
                *c += 1;
            }
            node_index.insert(node.id, view.ids.len() as u32);
            view.ids.push(node.id);
            view.node_dc.push(dc);
            view.node_rack.push(rack);
        }
        view.rack_count = rack_index.len();
        view.tokens = self.ring.iter().map(|&(t, _)| t).collect();
        view.owners = self
            .ring
            .iter()
            .map(|(_, id)| node_index.get(id).copied().unwrap_or(0))
            .collect();
        view
    }

    fn check_new_tokens(
        &self,
        id: NodeId,
        tokens: impl IntoIterator<Item = Token>,
    ) -> Result<Vec<Token>, Error> {
        self.check_new_tokens_allowing(id, tokens, None)
    }

    /// Sorted, distinct tokens none of which is owned by another node than `allowed_owner`.
    fn check_new_tokens_allowing(
        &self,
        id: NodeId,
        tokens: impl IntoIterator<Item = Token>,
        allowed_owner: Option<NodeId>,
    ) -> Result<Vec<Token>, Error> {
        let mut tokens: Vec<Token> = tokens.into_iter().collect();
        if tokens.is_empty() {
            return Err(Error::NoTokens { id });
        }
        tokens.sort_unstable();
        if let Some(w) = tokens.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::DuplicateToken {
                token: w[0],
                owner: id,
            });
        }
        for &t in &tokens {
            if let Ok(i) = self.ring.binary_search_by_key(&t, |&(rt, _)| rt) {
                let owner = self.ring.get(i).map_or(id, |&(_, o)| o);
                if Some(owner) != allowed_owner {
                    return Err(Error::DuplicateToken { token: t, owner });
                }
            }
        }
        Ok(tokens)
    }
}

/// The ring as arrays of small integers, for placement walks that must not hash or allocate per
/// step. Nodes, datacenters and racks are numbered from 0; racks are numbered globally, so two
/// datacenters' racks of the same name are distinct.
#[derive(Clone, Debug, Default)]
pub(crate) struct RingView {
    /// Ring tokens, ascending.
    pub(crate) tokens: Vec<Token>,
    /// Owner (node number) of each token.
    pub(crate) owners: Vec<u32>,
    /// Host id of each node number.
    pub(crate) ids: Vec<NodeId>,
    /// Datacenter number of each node.
    pub(crate) node_dc: Vec<u32>,
    /// Rack number of each node.
    pub(crate) node_rack: Vec<u32>,
    /// Datacenter names by number.
    pub(crate) dc_names: Vec<Arc<str>>,
    /// Nodes per datacenter.
    pub(crate) dc_nodes: Vec<u32>,
    /// Racks per datacenter.
    pub(crate) dc_racks: Vec<u32>,
    /// Number of racks over all datacenters.
    pub(crate) rack_count: usize,
}

impl RingView {
    /// Index of the first token `>= token`, wrapping to 0.
    pub(crate) fn first_index_at_or_after(&self, token: Token) -> usize {
        let i = self.tokens.partition_point(|&t| t < token);
        if i == self.tokens.len() { 0 } else { i }
    }

    pub(crate) fn dc_number(&self, name: &str) -> Option<u32> {
        self.dc_names
            .iter()
            .position(|d| &**d == name)
            .map(|i| i as u32)
    }

    pub(crate) fn node_count(&self) -> usize {
        self.ids.len()
    }
}

/// Names of the datacenters in `meta`, for validating replication options.
pub(crate) fn datacenter_names(meta: &TokenMetadata) -> BTreeSet<&str> {
    meta.nodes().map(|n| n.dc()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> NodeId {
        NodeId::from_u128(n)
    }

    fn toks(v: &[i64]) -> Vec<Token> {
        v.iter().map(|&t| Token::new(t)).collect()
    }

    #[test]
    fn node_ids_print_and_parse_as_uuids() {
        let s = "123e4567-e89b-12d3-a456-426614174000";
        let n: NodeId = s.parse().unwrap();
        assert_eq!(n.to_string(), s);
        assert_eq!(NodeId::from_bytes(n.to_bytes()), n);
        for bad in [
            "",
            "123e4567e89b12d3a456426614174000",
            "123e4567-e89b-12d3-a456-42661417400g",
        ] {
            assert!(matches!(
                bad.parse::<NodeId>(),
                Err(Error::InvalidNodeId { .. })
            ));
        }
    }

    #[test]
    fn each_token_owns_the_range_from_the_previous_token() {
        let mut m = TokenMetadata::new();
        m.add_node(id(1), "dc1", "r1", toks(&[0, 100])).unwrap();
        m.add_node(id(2), "dc1", "r1", toks(&[50])).unwrap();
        assert_eq!(
            m.range_of(Token::new(50)),
            Some(TokenRange::new(Token::new(0), Token::new(50)))
        );
        // The first token's range wraps from the last token.
        assert_eq!(
            m.range_of(Token::new(0)),
            Some(TokenRange::new(Token::new(100), Token::new(0)))
        );
        assert_eq!(m.range_of(Token::new(7)), None);
        assert_eq!(m.primary_owner(Token::new(1)), Some(id(2)));
        assert_eq!(m.primary_owner(Token::new(50)), Some(id(2)));
        assert_eq!(m.primary_owner(Token::new(51)), Some(id(1)));
        assert_eq!(m.primary_owner(Token::new(101)), Some(id(1)));
        assert_eq!(m.primary_owner(Token::MIN), Some(id(1)));
    }

    #[test]
    fn primary_ownership_sums_to_one() {
        let mut m = TokenMetadata::new();
        m.add_node(id(1), "dc1", "r1", toks(&[i64::MIN / 2, 0]))
            .unwrap();
        m.add_node(id(2), "dc1", "r2", toks(&[i64::MAX / 2]))
            .unwrap();
        let own = m.primary_ownership();
        let total: f64 = own.values().sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert!((own[&id(2)] - 0.25).abs() < 1e-9);
    }

    #[test]
    fn a_single_token_owns_the_whole_ring() {
        let mut m = TokenMetadata::new();
        m.add_node(id(1), "dc1", "r1", toks(&[42])).unwrap();
        assert_eq!(
            m.range_of(Token::new(42)),
            Some(TokenRange::new(Token::new(42), Token::new(42)))
        );
        assert_eq!(m.primary_ownership()[&id(1)], 1.0);
    }

    #[test]
    fn conflicting_changes_are_rejected_and_leave_the_ring_unchanged() {
        let mut m = TokenMetadata::new();
        m.add_node(id(1), "dc1", "r1", toks(&[1, 2])).unwrap();
        let v = m.version();
        assert!(matches!(
            m.add_node(id(2), "dc1", "r1", toks(&[2])),
            Err(Error::DuplicateToken { owner, .. }) if owner == id(1)
        ));
        assert!(matches!(
            m.add_node(id(1), "dc1", "r1", toks(&[3])),
            Err(Error::DuplicateNode { .. })
        ));
        assert!(matches!(
            m.add_node(id(3), "dc1", "r1", toks(&[])),
            Err(Error::NoTokens { .. })
        ));
        assert!(matches!(
            m.add_node(id(3), "dc1", "r1", toks(&[5, 5])),
            Err(Error::DuplicateToken { .. })
        ));
        assert!(matches!(
            m.add_node(id(3), "", "r1", toks(&[5])),
            Err(Error::EmptyLocation {
                what: "datacenter",
                ..
            })
        ));
        assert!(matches!(
            m.remove_node(id(9)),
            Err(Error::UnknownNode { .. })
        ));
        assert_eq!(m.version(), v);
        assert_eq!(m.ring().len(), 2);
    }

    #[test]
    fn move_replace_and_remove_keep_the_ring_consistent() {
        let mut m = TokenMetadata::new();
        m.add_node(id(1), "dc1", "r1", toks(&[1, 2])).unwrap();
        m.add_node(id(2), "dc1", "r2", toks(&[10])).unwrap();
        m.move_node(id(1), toks(&[2, 20])).unwrap();
        assert_eq!(m.node(id(1)).unwrap().tokens(), &toks(&[2, 20])[..]);
        m.replace_node(id(2), id(3)).unwrap();
        assert_eq!(m.primary_owner(Token::new(10)), Some(id(3)));
        assert_eq!(m.node(id(3)).unwrap().rack(), "r2");
        m.remove_node(id(1)).unwrap();
        assert_eq!(m.ring(), &[(Token::new(10), id(3))]);
    }
}
