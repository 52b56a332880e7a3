//! The simulated network: a seeded fate for every request (delivered, lost, late, or its
//! answer lost), crashed nodes, cut links, and each node's failure-detector view. It implements
//! the coordinator's [`Messenger`] and [`Membership`] seams.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ilion_coordinator::cluster::BoxFuture;
use ilion_coordinator::{Coordinator, Member, Membership, MessagingError, Messenger};
use parking_lot::Mutex;
use rand::Rng;
use rand::rngs::StdRng;

#[derive(Debug)]
pub(crate) struct NetState {
    pub(crate) rng: StdRng,
    /// Truth: crashed nodes.
    pub(crate) crashed: Vec<bool>,
    /// Cut links (both directions), as (low, high) node indexes.
    pub(crate) cut: Vec<(usize, usize)>,
    /// Each node's failure-detector view of every node, refreshed by `gossip`.
    pub(crate) view: Vec<Vec<bool>>,
    /// Requests that will arrive later: (from, to, payload).
    pub(crate) late: VecDeque<(usize, usize, Bytes)>,
    pub(crate) messages: usize,
    pub(crate) drop: f64,
    pub(crate) delay: f64,
    pub(crate) drop_answer: f64,
}

impl NetState {
    pub(crate) fn linked(&self, a: usize, b: usize) -> bool {
        a == b || !self.cut.contains(&(a.min(b), a.max(b)))
    }
    pub(crate) fn reachable(&self, from: usize, to: usize) -> bool {
        !self.crashed.get(to).copied().unwrap_or(true) && self.linked(from, to)
    }
}

/// The simulated network shared by every node.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) state: Mutex<NetState>,
    pub(crate) nodes: Mutex<Vec<Option<Arc<Coordinator>>>>,
    pub(crate) members: Mutex<Vec<Member>>,
    /// Bumped when a member's status changes (a join completes).
    pub(crate) topology_version: std::sync::atomic::AtomicU64,
}

pub(crate) fn address(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, u8::try_from(i + 1).unwrap_or(255)))
}

pub(crate) fn index_of(a: IpAddr) -> Option<usize> {
    match a {
        IpAddr::V4(v4) => usize::from(v4.octets()[3]).checked_sub(1),
        IpAddr::V6(_) => None,
    }
}

enum Fate {
    Lost,
    Late,
    Deliver { lose_answer: bool },
}

impl Net {
    pub(crate) fn deliver(&self, from: usize, to: usize, payload: Bytes) -> Result<Bytes, String> {
        let node = self.nodes.lock().get(to).cloned().flatten();
        match node {
            Some(n) => n
                .handle_message(address(from), payload)
                .map_err(|e| e.to_string()),
            None => Err("node is down".into()),
        }
    }

    fn request(
        &self,
        from: usize,
        to: usize,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, MessagingError> {
        let to_addr = address(to);
        let fate = {
            let mut s = self.state.lock();
            s.messages += 1;
            if !s.reachable(from, to) {
                Fate::Lost
            } else {
                let r: f64 = s.rng.random();
                if r < s.drop {
                    Fate::Lost
                } else if r < s.drop + s.delay {
                    s.late.push_back((from, to, payload.clone()));
                    Fate::Late
                } else {
                    let lose_answer = s.rng.random::<f64>() < s.drop_answer;
                    Fate::Deliver { lose_answer }
                }
            }
        };
        let timed_out = MessagingError::Timeout {
            address: to_addr,
            timeout,
        };
        match fate {
            Fate::Lost | Fate::Late => Err(timed_out),
            Fate::Deliver { lose_answer } => match self.deliver(from, to, payload) {
                Ok(_) if lose_answer => Err(timed_out),
                Ok(b) => Ok(b),
                Err(reason) => Err(MessagingError::Remote {
                    address: to_addr,
                    reason,
                }),
            },
        }
    }
}

#[derive(Debug)]
pub(crate) struct SimMessenger {
    pub(crate) net: Arc<Net>,
    pub(crate) me: usize,
}

impl Messenger for SimMessenger {
    fn request(
        &self,
        to: IpAddr,
        payload: Bytes,
        timeout: Duration,
    ) -> BoxFuture<Result<Bytes, MessagingError>> {
        let answer = match index_of(to) {
            Some(i) => self.net.request(self.me, i, payload, timeout),
            None => Err(MessagingError::Unreachable {
                address: to,
                reason: "not in the simulation".into(),
            }),
        };
        Box::pin(std::future::ready(answer))
    }
}

#[derive(Debug)]
pub(crate) struct SimMembership {
    pub(crate) net: Arc<Net>,
    pub(crate) me: usize,
}

impl Membership for SimMembership {
    fn local_address(&self) -> IpAddr {
        address(self.me)
    }
    fn members(&self) -> Vec<Member> {
        let s = self.net.state.lock();
        let mut members = self
            .net
            .members
            .lock()
            .iter()
            .enumerate()
            .map(|(i, m)| Member {
                alive: i == self.me
                    || s.view
                        .get(self.me)
                        .and_then(|v| v.get(i))
                        .copied()
                        .unwrap_or(false),
                ..m.clone()
            })
            .collect();
        ilion_coordinator::resolve_ring_changes(&mut members);
        members
    }
    fn topology_version(&self) -> u64 {
        self.net
            .topology_version
            .load(std::sync::atomic::Ordering::SeqCst)
    }
    fn is_alive(&self, a: IpAddr) -> bool {
        let s = self.net.state.lock();
        index_of(a).is_some_and(|i| {
            i == self.me
                || s.view
                    .get(self.me)
                    .and_then(|v| v.get(i))
                    .copied()
                    .unwrap_or(false)
        })
    }
}
