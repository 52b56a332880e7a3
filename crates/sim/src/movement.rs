//! Range movements in the simulation: a node joins, leaves, replaces a dead node, or a dead
//! node is removed, while client operations and faults go on.
//!
//! Each movement is played as the real one: the ring change is announced first (the member's
//! status, `replaces` or `removing`, which every coordinator's topology turns into pending
//! replicas), then the ranges stream one page (one row) per step with the coordinators' own
//! streaming code, so client writes land between pages as they do during a real stream; when
//! every range is in, the ring change completes. A step whose source (or, for a removal, whose
//! coordinator) is down waits. The stream itself is reliable here (the real one checksums and
//! retries); the network's faults hit the reads and writes around it.

use std::collections::VecDeque;

use ilion_coordinator::MemberStatus;
use ilion_ring::{NodeId, ReplicationStrategy, SimpleStrategy, Token, TokenMetadata, TokenRange};

use crate::{Sim, SimError};

/// Which range movement a scenario plays, a third of the way through its operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Movement {
    #[default]
    None,
    /// The last node starts JOINING and bootstraps: it streams each range it gains from the
    /// node that gives it up.
    Join,
    /// The last node decommissions: LEAVING, each next owner pulls the ranges it gains from it,
    /// then it leaves the ring and stops.
    Leave,
    /// The next-to-last node dies for good; the last node (not in the ring until then) takes
    /// its tokens (`replace_address`) and streams its ranges from the surviving replicas.
    Replace,
    /// The last node dies for good; node 0 removes it (`removenode`): each next owner pulls
    /// the ranges it gains from a surviving replica.
    Remove,
}

/// One piece (never wrapping) of a range to stream: `to` pulls `(start, end]` from `from`.
#[derive(Debug, Clone, Copy)]
struct Piece {
    from: usize,
    to: usize,
    start: Option<i64>,
    end: Option<i64>,
}

/// The movement under way.
#[derive(Debug, Default)]
pub(crate) struct Running {
    kind: Movement,
    started: bool,
    plan: VecDeque<Piece>,
    /// Where the first piece resumes.
    resume: Option<Vec<u8>>,
}

impl Running {
    pub(crate) fn new(kind: Movement) -> Option<Running> {
        (kind != Movement::None).then(|| Running {
            kind,
            ..Running::default()
        })
    }
}

fn id(i: usize) -> NodeId {
    NodeId::from_u128(i as u128 + 1)
}

fn index(n: NodeId) -> usize {
    usize::try_from(n.as_u128().saturating_sub(1)).unwrap_or(usize::MAX)
}

/// `(start, end]` pieces that never wrap, as the store reads ranges.
fn pieces(from: usize, to: usize, range: TokenRange) -> Vec<Piece> {
    let (l, r) = (range.left.value(), range.right.value());
    let piece = |start, end| Piece {
        from,
        to,
        start,
        end,
    };
    if l == r {
        vec![piece(None, None)]
    } else if l < r {
        vec![piece(Some(l), Some(r))]
    } else if r == i64::MIN {
        vec![piece(Some(l), None)]
    } else {
        vec![piece(Some(l), None), piece(None, Some(r))]
    }
}

impl Sim {
    /// The node the movement is about: the joining, leaving or replacing one (the last), the
    /// dead node a replacement takes over (the next-to-last), or the removed one (the last).
    fn subject(&self) -> usize {
        self.config.nodes - 1
    }

    fn victim(&self, kind: Movement) -> usize {
        match kind {
            Movement::Replace => self.config.nodes - 2,
            _ => self.config.nodes - 1,
        }
    }

    /// Whether node `i` takes client requests now: not gone, and not a node that has not
    /// joined yet (a joining or replacing node opens its CQL port when it has joined).
    pub(crate) fn serves_clients(&self, i: usize) -> bool {
        if self.gone.get(i).copied().unwrap_or(true) {
            return false;
        }
        match &self.movement {
            Some(m) if i == self.subject() => !matches!(m.kind, Movement::Join | Movement::Replace),
            _ => true,
        }
    }

    fn set_member(&self, i: usize, change: impl FnOnce(&mut ilion_coordinator::Member)) {
        if let Some(m) = self.net.members.lock().get_mut(i) {
            change(m);
        }
        self.bump_topology();
    }

    /// Takes node `i` out for good (it left, or died and will not come back).
    fn remove_for_good(&mut self, i: usize) {
        if let Some(slot) = self.net.nodes.lock().get_mut(i) {
            *slot = None;
        }
        if let Some(p) = self.parked.get_mut(i) {
            *p = None;
        }
        if let Some(x) = self.net.state.lock().crashed.get_mut(i) {
            *x = true;
        }
        if let Some(g) = self.gone.get_mut(i) {
            *g = true;
        }
    }

    /// Announces the ring change (the statuses every coordinator routes by).
    fn start_movement(&mut self, kind: Movement) {
        let subject = self.subject();
        let victim = self.victim(kind);
        match kind {
            Movement::None | Movement::Join => {}
            Movement::Leave => self.set_member(subject, |m| m.status = MemberStatus::Leaving),
            Movement::Replace => {
                self.remove_for_good(victim);
                let dead = uuid::Uuid::from_u128(victim as u128 + 1);
                self.set_member(subject, |m| {
                    m.status = MemberStatus::Joining;
                    m.replaces = Some(dead);
                });
            }
            Movement::Remove => {
                self.remove_for_good(victim);
                let dead = uuid::Uuid::from_u128(victim as u128 + 1);
                self.set_member(0, |m| m.removing = Some(dead));
            }
        }
        self.trace(format!("{kind:?} starts"));
    }

    /// One step of the movement under way (the first announces and plans it).
    pub(crate) fn movement_step(&mut self) -> Result<(), SimError> {
        let Some(kind) = self.movement.as_ref().map(|m| m.kind) else {
            return Ok(());
        };
        if !self.movement.as_ref().is_some_and(|m| m.started) {
            self.start_movement(kind);
            let plan = self.plan(kind)?;
            self.trace(format!("{kind:?}: {} pieces to stream", plan.len()));
            if let Some(m) = self.movement.as_mut() {
                m.started = true;
                m.plan = plan.into();
            }
            return Ok(());
        }
        if kind == Movement::Remove && self.node(0).is_none() {
            self.trace("removal waits: its coordinator n0 is down".into());
            return Ok(());
        }
        let Some(piece) = self.movement.as_ref().and_then(|m| m.plan.front().copied()) else {
            self.finish_movement(kind);
            return Ok(());
        };
        let Some(from) = self.node(piece.from) else {
            self.trace(format!("{kind:?} waits: n{} is down", piece.from));
            return Ok(());
        };
        let Some(target) = self
            .node(piece.to)
            .or_else(|| self.parked.get(piece.to).cloned().flatten())
        else {
            return Err(self.violation(format!("stream target n{} is missing", piece.to)));
        };
        let resume = self.movement.as_ref().and_then(|m| m.resume.clone());
        let page = from
            .stream_page(
                "sim",
                "kv",
                (piece.start, piece.end),
                resume.as_deref(),
                1,
                &[],
            )
            .map_err(|e| self.violation(format!("stream page: {e}")))?;
        let applied = target
            .apply_stream_page(&page.payload)
            .map_err(|e| self.violation(format!("apply stream page: {e}")))?;
        self.report.streamed += applied as usize;
        if let Some(m) = self.movement.as_mut() {
            m.resume = page.next;
            if m.resume.is_none() {
                m.plan.pop_front();
            }
        }
        self.trace(format!(
            "stream n{}->n{}: {applied} partitions",
            piece.from, piece.to
        ));
        Ok(())
    }

    /// Every range is in: the ring change completes.
    fn finish_movement(&mut self, kind: Movement) {
        let subject = self.subject();
        let victim = self.victim(kind);
        match kind {
            Movement::None => {}
            Movement::Join => self.set_member(subject, |m| m.status = MemberStatus::Normal),
            Movement::Leave => {
                self.set_member(subject, |m| m.status = MemberStatus::Left);
                self.remove_for_good(subject);
            }
            Movement::Replace => {
                self.set_member(subject, |m| m.status = MemberStatus::Normal);
                // The dead node is announced removed.
                self.set_member(victim, |m| m.status = MemberStatus::Left);
            }
            Movement::Remove => {
                self.set_member(victim, |m| m.status = MemberStatus::Left);
                self.set_member(0, |m| m.removing = None);
            }
        }
        self.movement = None;
        self.trace(format!(
            "{kind:?} finished: {} partitions streamed",
            self.report.streamed
        ));
    }

    /// The ring of the members that own tokens now (NORMAL and LEAVING).
    fn ring_now(&self) -> Result<TokenMetadata, SimError> {
        let mut now = TokenMetadata::new();
        for m in self.net.members.lock().iter() {
            if matches!(m.status, MemberStatus::Normal | MemberStatus::Leaving) {
                now.add_node(
                    NodeId::from_u128(m.host_id.as_u128()),
                    &m.data_center,
                    &m.rack,
                    m.tokens.iter().map(|t| Token::new(*t)),
                )
                .map_err(|e| self.violation(format!("ring: {e}")))?;
            }
        }
        Ok(now)
    }

    /// The pieces to stream, planned as the real movement plans them.
    fn plan(&self, kind: Movement) -> Result<Vec<Piece>, SimError> {
        let ring = |e: ilion_ring::Error| self.violation(format!("ring: {e}"));
        let strategy =
            ReplicationStrategy::Simple(SimpleStrategy::new(self.config.replication_factor));
        let now = self.ring_now()?;
        let subject = self.subject();
        let victim = self.victim(kind);
        let mut future = now.clone();
        let mut out = Vec::new();
        match kind {
            Movement::None => {}
            Movement::Join => {
                let members = self.net.members.lock().clone();
                let Some(m) = members.get(subject) else {
                    return Ok(out);
                };
                future
                    .add_node(
                        id(subject),
                        &m.data_center,
                        &m.rack,
                        m.tokens.iter().map(|t| Token::new(*t)),
                    )
                    .map_err(ring)?;
                for (range, source) in
                    ilion_ring::range_sources(&now, &future, &strategy, id(subject))
                        .map_err(ring)?
                {
                    out.extend(pieces(index(source), subject, range));
                }
            }
            Movement::Leave => {
                let pending = ilion_ring::PendingRanges::compute(
                    &now,
                    &strategy,
                    &[ilion_ring::TopologyChange::Leave { id: id(subject) }],
                )
                .map_err(ring)?;
                for (range, nodes) in pending.ranges() {
                    for n in nodes {
                        out.extend(pieces(subject, index(n), range));
                    }
                }
            }
            Movement::Replace | Movement::Remove => {
                if kind == Movement::Replace {
                    future.replace_node(id(victim), id(subject)).map_err(ring)?;
                } else {
                    future.remove_node(id(victim)).map_err(ring)?;
                }
                let fetches =
                    ilion_ring::fetches_without(&now, &future, &strategy, id(victim), |_| true)
                        .map_err(ring)?;
                // From every surviving replica (none at RF 1: the data died with the node).
                for f in fetches {
                    for from in &f.from {
                        out.extend(pieces(index(*from), index(f.to), f.range));
                    }
                }
            }
        }
        Ok(out)
    }

    /// After a movement: every node that serves clients holds, by itself, every write
    /// acknowledged at ALL to a key it replicates (such a write reached every replica, pending
    /// ones included, and what was written before the movement streamed in from a replica that
    /// had it). Each node is read alone, at ONE, with every other node crashed.
    pub(crate) fn check_replicas_hold_writes_acknowledged_at_all(
        &mut self,
    ) -> Result<(), SimError> {
        let strategy =
            ReplicationStrategy::Simple(SimpleStrategy::new(self.config.replication_factor));
        let now = self.ring_now()?;
        let map = strategy
            .replica_map(&now)
            .map_err(|e| self.violation(format!("ring: {e}")))?;
        let expected: Vec<(i32, i64)> = self
            .acknowledged_all
            .iter()
            .map(|(k, ts)| (*k, *ts))
            .collect();
        let serving: Vec<usize> = (0..self.config.nodes)
            .filter(|i| self.serves_clients(*i))
            .collect();
        for &me in &serving {
            for &other in &serving {
                if other != me {
                    self.crash(other);
                }
            }
            self.gossip();
            for &(key, ts) in &expected {
                let token = ilion_ring::Murmur3Partitioner.token(&key.to_be_bytes());
                if !map.replicas(token).contains(&id(me)) {
                    continue;
                }
                let seen = self
                    .read_value(me, key, ilion_cql::protocol::Consistency::One)
                    .map_err(|e| self.violation(format!("n{me} alone, k{key} at ONE: {e}")))?;
                if seen.is_none_or(|s| s < ts) {
                    return Err(self.violation(format!(
                        "after the {:?}, n{me} alone saw {seen:?} for k{key}, a key it \
                         replicates, but the write at timestamp {ts} was acknowledged at ALL",
                        self.config.movement
                    )));
                }
            }
            for &other in &serving {
                self.restart(other);
            }
            self.gossip();
        }
        self.trace("every replica holds the writes acknowledged at ALL".into());
        Ok(())
    }

    /// Whether a movement is still under way.
    pub(crate) fn moving(&self) -> bool {
        self.movement.is_some()
    }
}
