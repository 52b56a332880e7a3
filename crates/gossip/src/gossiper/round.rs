//! A gossip round (Cassandra's `GossipTask`): the heartbeat beats, SYNs go to random live
//! nodes, maybe to an unreachable one and to a seed, then every endpoint's phi is checked.

use std::time::Duration;

use crate::messages::{Envelope, Message, Syn};
use crate::rng::SeededRng;
use crate::state::Endpoint;

use super::{Event, Gossiper, Output, Phase};

/// When more than one live node in this many is overdue, gossip targets are drawn from the
/// others only.
const OVERDUE_SHARE: usize = 5;

impl Gossiper {
    /// Runs one gossip round: beat the heartbeat, send a SYN to `fanout` live nodes, maybe to an
    /// unreachable one and maybe to a seed (Cassandra's `GossipTask`), then check every
    /// endpoint's phi.
    pub fn tick(&mut self, now: Duration, rng: &mut SeededRng) -> Output {
        let mut out = Output::default();
        if let Phase::Shadow { deadline } = self.phase {
            if now < deadline {
                // Ask every seed for its view, without a digest of our own: we are not announced.
                let syn = Envelope {
                    from: self.local,
                    message: Message::Syn(Syn {
                        cluster_name: self.cfg.cluster_name.clone(),
                        digests: Vec::new(),
                    }),
                };
                for seed in self.cfg.seeds.iter().filter(|s| **s != self.local) {
                    out.messages.push((*seed, syn.clone()));
                }
                return out;
            }
            self.phase = Phase::Normal;
            out.events.push(Event::ShadowRoundTimedOut);
        }

        let hb = self.next_version();
        if let Some(me) = self.peers.first_mut() {
            me.state.heartbeat.version = hb;
            me.max_version = me.max_version.max(hb);
            me.beat_at = now;
        }

        let syn = Envelope {
            from: self.local,
            message: Message::Syn(self.syn(rng)),
        };
        let mut live = Vec::new();
        let mut unreachable = Vec::new();
        // Live nodes whose heartbeat is overdue (older than its usual age plus the acceptable
        // pause, phi about 0.3): not yet convicted, maybe cut off. They go last in `live`.
        let mut late = Vec::new();
        for p in self.peers.iter().skip(1) {
            if p.dead_since.is_some() {
                continue;
            }
            if !p.alive {
                unreachable.push(p.endpoint);
            } else if self.fd.overdue_slot(p.fd_slot, now) {
                late.push(p.endpoint);
            } else {
                live.push(p.endpoint);
            }
        }
        let on_time = live.len();
        live.append(&mut late);
        // `fanout` distinct random live nodes (Cassandra: one). When many live nodes are overdue
        // at once, as in the first seconds of a partition before the far side is convicted, the
        // targets are drawn from the others first: SYNs sent across the cut would be lost, and
        // the near side must keep hearing every near peer in time (docs/gossip.md,
        // "Partitions"). A few overdue nodes, as under random loss, are no sign of a cut: they
        // keep their share of SYNs, which is how their heartbeats catch up.
        let cut = (live.len() - on_time) * OVERDUE_SHARE > live.len();
        let mut gossiped_to_seed = false;
        for k in 0..self.cfg.fanout.min(live.len()) {
            let pool = if cut && k < on_time {
                on_time
            } else {
                live.len()
            };
            let j = k + rng.below(pool - k);
            live.swap(k, j);
            if let Some(to) = live.get(k).copied() {
                gossiped_to_seed |= self.cfg.seeds.contains(&to);
                out.messages.push((to, syn.clone()));
            }
        }
        if !unreachable.is_empty() {
            let probability = unreachable.len() as f64 / (live.len() + 1) as f64;
            if rng.unit() < probability
                && let Some(to) = rng.pick(&unreachable).copied()
            {
                out.messages.push((to, syn.clone()));
            }
        }
        if !gossiped_to_seed || live.len() < self.cfg.seeds.len() {
            let seeds: Vec<Endpoint> = self
                .cfg
                .seeds
                .iter()
                .copied()
                .filter(|s| *s != self.local)
                .collect();
            if !seeds.is_empty() {
                let probability =
                    self.cfg.seeds.len() as f64 / (live.len() + unreachable.len()).max(1) as f64;
                if (live.is_empty() || rng.unit() <= probability)
                    && let Some(to) = rng.pick(&seeds).copied()
                {
                    out.messages.push((to, syn));
                }
            }
        }

        self.status_check(now, &mut out);
        out
    }

    fn status_check(&mut self, now: Duration, out: &mut Output) {
        let may_convict = self.fd.begin_check(now);
        let mut evict = Vec::new();
        for p in self.peers.iter_mut().skip(1) {
            if let Some(since) = p.dead_since {
                if now.saturating_sub(since) >= self.cfg.dead_state_retention {
                    evict.push(p.endpoint);
                }
                continue;
            }
            if may_convict && p.alive && self.fd.convicts_slot(p.fd_slot, now) {
                p.alive = false;
                out.events.push(Event::Down {
                    endpoint: p.endpoint,
                });
            }
        }
        for ep in evict {
            self.evict(ep, now, out);
        }
        let delay = self.cfg.quarantine_delay;
        self.quarantine
            .retain(|_, since| now.saturating_sub(*since) < delay);
    }

    pub(super) fn evict(&mut self, ep: Endpoint, now: Duration, out: &mut Output) {
        if ep != self.local && self.remove_peer(ep).is_some() {
            self.fd.release(ep);
            self.quarantine.insert(ep, now);
            out.events.push(Event::Evicted { endpoint: ep });
        }
    }
}
