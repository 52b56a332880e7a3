//! The exchange of one round: SYN (digests), ACK (requests and deltas) and ACK2 (deltas),
//! each filled up to the message size limit, and the handling of a received message.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::codec;
use crate::messages::{Ack, Ack2, Delta, Digest, Envelope, Message, Syn};
use crate::rng::SeededRng;
use crate::state::{ApplicationState, Endpoint, EndpointState, HeartbeatState, VersionedValue};

use super::{Event, Gossiper, Output, Phase};

/// Slack for the varint counts at the front of lists when filling a message up to its limit.
const COUNT_SLACK: usize = 20;
/// Below this many bytes left, no further state is worth trying to fit.
const MIN_USEFUL_STATE: usize = 16;

impl Gossiper {
    pub(super) fn syn(&self, rng: &mut SeededRng) -> Syn {
        let mut budget = self.cfg.max_message_bytes
            - codec::header_len(self.local)
            - COUNT_SLACK
            - self.cfg.cluster_name.len();
        let mut digests: Vec<Digest> = self
            .peers
            .iter()
            .map(|p| Digest {
                endpoint: p.endpoint,
                generation: p.state.heartbeat.generation,
                max_version: p.max_version,
            })
            .collect();
        // Our own digest first; Cassandra shuffles the rest: when the limit binds, a random
        // subset goes each round.
        if let Some(others) = digests.get_mut(1..) {
            rng.shuffle(others);
        }
        let mut keep = 0;
        for d in &digests {
            let len = codec::digest_len(d);
            if len > budget {
                break;
            }
            budget -= len;
            keep += 1;
        }
        digests.truncate(keep);
        Syn {
            cluster_name: self.cfg.cluster_name.clone(),
            digests,
        }
    }

    /// Handles one received message.
    pub fn handle(&mut self, env: Envelope, now: Duration, rng: &mut SeededRng) -> Output {
        let mut out = Output::default();
        let from = env.from;
        match env.message {
            Message::Syn(syn) => {
                if syn.cluster_name != self.cfg.cluster_name {
                    tracing::warn!(%from, theirs = %syn.cluster_name, "ignoring gossip from another cluster");
                    return out;
                }
                if self.in_shadow_round() {
                    return out;
                }
                let ack = self.ack_for(from, &syn.digests, now, rng);
                out.messages.push((
                    from,
                    Envelope {
                        from: self.local,
                        message: Message::Ack(ack),
                    },
                ));
            }
            Message::Ack(ack) => {
                if let Phase::Shadow { .. } = self.phase {
                    if !self.cfg.seeds.contains(&from) {
                        return out;
                    }
                    self.apply_all(from, ack.states, now, &mut out);
                    self.phase = Phase::Normal;
                    out.events.push(Event::ShadowRoundComplete { seed: from });
                    return out;
                }
                self.apply_all(from, ack.states, now, &mut out);
                if !ack.requests.is_empty() {
                    let ack2 = self.ack2_for(&ack.requests, now, rng);
                    out.messages.push((
                        from,
                        Envelope {
                            from: self.local,
                            message: Message::Ack2(ack2),
                        },
                    ));
                }
            }
            Message::Ack2(ack2) => self.apply_all(from, ack2.states, now, &mut out),
        }
        out
    }

    /// Cassandra's `examineGossiper`: compare the sender's digests with ours.
    /// A sender that comes back with a new generation while we hold it removed (or left)
    /// also gets our dead state of itself: that is how a node removed while it was down
    /// learns it ([`Event::Fenced`](super::Event::Fenced)).
    fn ack_for(
        &self,
        from: Endpoint,
        digests: &[Digest],
        now: Duration,
        rng: &mut SeededRng,
    ) -> Ack {
        let mut requests = Vec::new();
        // (peer index, send state above this version)
        let mut sends: Vec<(usize, u64)> = Vec::new();
        if digests.is_empty() {
            // Shadow round: everything we know.
            sends.extend((0..self.peers.len()).map(|i| (i, 0)));
        }
        // Look every endpoint up first, in a loop of independent loads the processor overlaps
        // (see `apply_all`).
        let found: Vec<Option<usize>> = digests
            .iter()
            .map(|d| self.index.get(&d.endpoint).copied())
            .collect();
        for (d, found) in digests.iter().zip(found) {
            if !self.quarantine.is_empty() && self.quarantine.contains_key(&d.endpoint) {
                continue;
            }
            let Some((i, p)) = found.and_then(|i| self.peers.get(i).map(|p| (i, p))) else {
                requests.push(Digest {
                    max_version: 0,
                    ..*d
                });
                continue;
            };
            let local_gen = p.state.heartbeat.generation;
            let local_max = p.max_version;
            if d.generation > local_gen {
                requests.push(Digest {
                    max_version: 0,
                    ..*d
                });
                if d.endpoint == from && p.is_dead_state() {
                    sends.push((i, 0));
                }
            } else if d.generation < local_gen {
                sends.push((i, 0));
            } else if d.max_version > local_max {
                requests.push(Digest {
                    max_version: local_max,
                    ..*d
                });
            } else if d.max_version < local_max {
                sends.push((i, d.max_version));
            }
        }
        let mut budget = self.cfg.max_message_bytes - codec::header_len(self.local) - COUNT_SLACK;
        let mut keep = 0;
        for r in &requests {
            let len = codec::digest_len(r);
            if len > budget {
                break;
            }
            budget -= len;
            keep += 1;
        }
        requests.truncate(keep);
        let states = self.fill(sends, budget, now, rng);
        Ack { requests, states }
    }

    fn ack2_for(&self, requests: &[Digest], now: Duration, rng: &mut SeededRng) -> Ack2 {
        let mut sends = Vec::new();
        for r in requests {
            let Some(&i) = self.index.get(&r.endpoint) else {
                continue;
            };
            if let Some(p) = self.peers.get(i) {
                let local_gen = p.state.heartbeat.generation;
                if r.generation < local_gen {
                    sends.push((i, 0));
                } else if r.generation == local_gen {
                    sends.push((i, r.max_version));
                }
            }
        }
        let budget = self.cfg.max_message_bytes - codec::header_len(self.local) - COUNT_SLACK;
        Ack2 {
            states: self.fill(sends, budget, now, rng),
        }
    }

    /// Deltas for `sends` (peer index, above version) that fit in `budget` bytes: our own state
    /// first, the rest in random order so that what does not fit this round gets its turn in
    /// later ones. A delta that does not fit whole is cut after its oldest application states,
    /// with its heartbeat version lowered to the newest version sent, so the receiver asks for
    /// the rest next round.
    fn fill(
        &self,
        mut sends: Vec<(usize, u64)>,
        mut budget: usize,
        now: Duration,
        rng: &mut SeededRng,
    ) -> Vec<Delta> {
        rng.shuffle(&mut sends);
        if let Some(i) = sends.iter().position(|(p, _)| *p == 0) {
            sends.swap(0, i);
        }
        let mut out = Vec::new();
        for (i, above) in sends {
            if budget < MIN_USEFUL_STATE {
                break;
            }
            let Some(p) = self.peers.get(i) else {
                continue;
            };
            let ep = p.endpoint;
            let age = p.age_ms(now);
            if above >= p.app_max {
                // The common case every round: only the heartbeat is newer.
                let len = codec::empty_delta_len(ep, &p.state, age);
                if len <= budget {
                    budget -= len;
                    out.push(Delta {
                        endpoint: ep,
                        state: EndpointState {
                            heartbeat: p.state.heartbeat,
                            states: BTreeMap::new(),
                        },
                        heartbeat_age_ms: age,
                    });
                }
                continue;
            }
            let len = codec::delta_len(ep, &p.state, above, age);
            if len <= budget {
                budget -= len;
                out.push(Delta {
                    endpoint: ep,
                    state: p.state.delta_above(above),
                    heartbeat_age_ms: age,
                });
                continue;
            }
            let delta = p.state.delta_above(above);
            let mut entries: Vec<(ApplicationState, VersionedValue)> =
                delta.states.into_iter().collect();
            entries.sort_by_key(|(_, v)| v.version);
            let mut partial = EndpointState {
                heartbeat: HeartbeatState {
                    generation: delta.heartbeat.generation,
                    version: 0,
                },
                states: BTreeMap::new(),
            };
            // An upper bound: the lowered heartbeat version is no longer than the real one.
            let mut len = codec::empty_delta_len(ep, &p.state, age);
            for (k, v) in entries {
                let add = codec::app_state_len(&v);
                if len + add > budget {
                    break;
                }
                len += add;
                partial.heartbeat.version = v.version.min(delta.heartbeat.version);
                partial.states.insert(k, v);
            }
            if !partial.states.is_empty() {
                budget -= len;
                out.push(Delta {
                    endpoint: ep,
                    state: partial,
                    heartbeat_age_ms: age,
                });
            }
        }
        out
    }
}
