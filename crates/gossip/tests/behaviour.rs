//! Behaviour of the gossip core on small clusters, driven by hand: every message goes through
//! the codec, time and randomness are explicit.

use std::collections::VecDeque;
use std::time::Duration;

use ilion_gossip::{
    ApplicationState, Config, Endpoint, EndpointState, Envelope, Event, Gossiper, Message,
    NodeStatus, Output, SeededRng, VersionedValue, codec,
};

fn addr(i: u8) -> Endpoint {
    Endpoint::from(([10, 0, 0, i], 7000))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A tiny lossless network of gossipers with a manual clock.
struct Cluster {
    nodes: Vec<Gossiper>,
    rng: SeededRng,
    now: Duration,
    events: Vec<(Endpoint, Event)>,
    max_len_seen: usize,
}

impl Cluster {
    fn new(n: u8, cfg: &Config) -> Cluster {
        let nodes = (1..=n)
            .map(|i| {
                let mut g = Gossiper::new(cfg.clone(), addr(i), 100, Duration::ZERO).unwrap();
                g.set_status(NodeStatus::Normal);
                g.set_local(ApplicationState::HostId, format!("host-{i}"));
                g
            })
            .collect();
        Cluster {
            nodes,
            rng: SeededRng::new(7),
            now: Duration::ZERO,
            events: Vec::new(),
            max_len_seen: 0,
        }
    }

    fn index(&self, ep: Endpoint) -> Option<usize> {
        self.nodes.iter().position(|g| g.local() == ep)
    }

    /// Delivers `out` of node `from` and everything it causes, through the codec.
    fn deliver(&mut self, from: Endpoint, out: Output) {
        let mut queue: VecDeque<(Endpoint, Output)> = VecDeque::from([(from, out)]);
        while let Some((src, out)) = queue.pop_front() {
            for e in out.events {
                self.events.push((src, e));
            }
            for (to, env) in out.messages {
                let bytes = codec::encode(&env);
                self.max_len_seen = self.max_len_seen.max(bytes.len());
                let Some(i) = self.index(to) else { continue };
                let max = self.nodes[i].config().max_message_bytes;
                let env = codec::decode(&bytes, max).unwrap();
                let out = self.nodes[i].handle(env, self.now, &mut self.rng);
                queue.push_back((to, out));
            }
        }
    }

    /// One second: every node ticks once.
    fn round(&mut self) {
        self.now += secs(1);
        for i in 0..self.nodes.len() {
            let out = self.nodes[i].tick(self.now, &mut self.rng);
            let from = self.nodes[i].local();
            self.deliver(from, out);
        }
    }

    fn rounds(&mut self, n: usize) {
        for _ in 0..n {
            self.round();
        }
    }
}

#[test]
fn a_cluster_of_five_learns_every_state_and_marks_everyone_up() {
    let cfg = Config::new("c", vec![addr(1)]);
    let mut c = Cluster::new(5, &cfg);
    c.rounds(15);
    for g in &c.nodes {
        for i in 1..=5 {
            let st = g.endpoint_state(addr(i)).unwrap();
            assert_eq!(
                st.get(ApplicationState::HostId),
                Some(format!("host-{i}").as_str())
            );
            assert!(g.is_alive(addr(i)), "{} sees {} down", g.local(), addr(i));
        }
    }
}

#[test]
fn a_node_stays_silent_about_itself_until_its_shadow_round_completes() {
    let cfg = Config::new("c", vec![addr(1)]);
    let mut seed = Gossiper::new(cfg.clone(), addr(1), 1, Duration::ZERO).unwrap();
    let mut joiner = Gossiper::new(cfg, addr(2), 1, Duration::ZERO).unwrap();
    let mut rng = SeededRng::new(1);
    seed.set_local(ApplicationState::Dc, "dc1");
    assert!(joiner.in_shadow_round());

    let out = joiner.tick(secs(1), &mut rng);
    assert_eq!(out.messages.len(), 1);
    let (to, syn) = &out.messages[0];
    assert_eq!(*to, addr(1));
    assert!(matches!(&syn.message, Message::Syn(s) if s.digests.is_empty()));

    let ack = seed.handle(syn.clone(), secs(1), &mut rng);
    // The seed learned nothing about the joiner from a shadow SYN.
    assert!(seed.endpoint_state(addr(2)).is_none());
    let (_, ack) = ack.messages.into_iter().next().unwrap();
    let out = joiner.handle(ack, secs(1), &mut rng);
    assert!(!joiner.in_shadow_round());
    assert!(
        out.events
            .contains(&Event::ShadowRoundComplete { seed: addr(1) })
    );
    assert_eq!(
        joiner
            .endpoint_state(addr(1))
            .unwrap()
            .get(ApplicationState::Dc),
        Some("dc1")
    );
}

#[test]
fn a_shadow_round_without_an_answer_times_out_and_the_node_gossips() {
    let mut cfg = Config::new("c", vec![addr(1)]);
    cfg.shadow_round_timeout = secs(5);
    let mut joiner = Gossiper::new(cfg, addr(2), 1, Duration::ZERO).unwrap();
    let mut rng = SeededRng::new(1);
    let out = joiner.tick(secs(6), &mut rng);
    assert!(out.events.contains(&Event::ShadowRoundTimedOut));
    assert!(!joiner.in_shadow_round());
    // Gossiping now: a SYN with its own digest to the seed.
    assert!(
        out.messages
            .iter()
            .any(|(_, e)| matches!(&e.message, Message::Syn(s) if !s.digests.is_empty()))
    );
}

fn state(generation: u64, version: u64, kv: &[(ApplicationState, &str, u64)]) -> EndpointState {
    let mut s = EndpointState::new(generation);
    s.heartbeat.version = version;
    for (k, v, ver) in kv {
        s.states.insert(
            *k,
            VersionedValue {
                value: (*v).into(),
                version: *ver,
            },
        );
    }
    s
}

/// An ACK2 from `from` carrying `states`, their heartbeats produced just now.
fn push(from: Endpoint, states: Vec<(Endpoint, EndpointState)>) -> Envelope {
    push_aged(from, states, 0)
}

fn push_aged(from: Endpoint, states: Vec<(Endpoint, EndpointState)>, age_ms: u64) -> Envelope {
    let states = states
        .into_iter()
        .map(|(endpoint, state)| ilion_gossip::Delta {
            endpoint,
            state,
            heartbeat_age_ms: age_ms,
        })
        .collect();
    Envelope {
        from,
        message: Message::Ack2(ilion_gossip::Ack2 { states }),
    }
}

#[test]
fn a_higher_generation_replaces_all_state_and_a_lower_one_is_ignored() {
    let cfg = Config::new("c", vec![]);
    let mut g = Gossiper::new(cfg, addr(1), 1, Duration::ZERO).unwrap();
    let mut rng = SeededRng::new(1);
    let old = state(
        10,
        50,
        &[
            (ApplicationState::Dc, "dc1", 3),
            (ApplicationState::Rack, "r1", 4),
        ],
    );
    g.handle(push(addr(2), vec![(addr(2), old)]), secs(1), &mut rng);
    let new = state(11, 2, &[(ApplicationState::Dc, "dc2", 1)]);
    let out = g.handle(
        push(addr(2), vec![(addr(2), new.clone())]),
        secs(2),
        &mut rng,
    );
    assert!(out.events.contains(&Event::Restarted {
        endpoint: addr(2),
        generation: 11
    }));
    assert_eq!(g.endpoint_state(addr(2)), Some(&new));
    let stale = state(10, 99, &[(ApplicationState::Rack, "r9", 98)]);
    g.handle(push(addr(2), vec![(addr(2), stale)]), secs(3), &mut rng);
    assert_eq!(g.endpoint_state(addr(2)), Some(&new));
}

/// A node killed and started again within a few seconds, before anyone convicted it: its new
/// generation is a restart, and it is up again at once (Restarted, then Up), not left down
/// until the failure detector convicts and clears it.
#[test]
fn a_quick_restart_is_restarted_then_up() {
    let cfg = Config::new("c", vec![]);
    let mut g = Gossiper::new(cfg, addr(1), 1, Duration::ZERO).unwrap();
    let mut rng = SeededRng::new(1);
    for (i, at) in [(1u64, 1u64), (2, 2), (3, 3)] {
        g.handle(
            push(addr(2), vec![(addr(2), state(10, i, &[]))]),
            secs(at),
            &mut rng,
        );
    }
    assert!(g.is_alive(addr(2)));
    let out = g.handle(
        push(addr(2), vec![(addr(2), state(11, 1, &[]))]),
        secs(5),
        &mut rng,
    );
    let restarted = out.events.iter().position(|e| {
        *e == Event::Restarted {
            endpoint: addr(2),
            generation: 11,
        }
    });
    let up = out
        .events
        .iter()
        .position(|e| *e == Event::Up { endpoint: addr(2) });
    assert!(
        matches!((restarted, up), (Some(r), Some(u)) if r < u),
        "{:?}",
        out.events
    );
    assert!(g.is_alive(addr(2)));
}

#[test]
fn within_a_generation_only_newer_versions_are_applied() {
    let cfg = Config::new("c", vec![]);
    let mut g = Gossiper::new(cfg, addr(1), 1, Duration::ZERO).unwrap();
    let mut rng = SeededRng::new(1);
    let s1 = state(
        10,
        5,
        &[
            (ApplicationState::Dc, "dc1", 3),
            (ApplicationState::Load, "10", 5),
        ],
    );
    g.handle(push(addr(2), vec![(addr(2), s1)]), secs(1), &mut rng);
    let s2 = state(
        10,
        7,
        &[
            (ApplicationState::Dc, "old", 2),
            (ApplicationState::Load, "20", 6),
        ],
    );
    let out = g.handle(push(addr(2), vec![(addr(2), s2)]), secs(2), &mut rng);
    let st = g.endpoint_state(addr(2)).unwrap();
    assert_eq!(st.get(ApplicationState::Dc), Some("dc1"));
    assert_eq!(st.get(ApplicationState::Load), Some("20"));
    assert_eq!(st.heartbeat.version, 7);
    // The heartbeat advanced after the node was learned: it is up now.
    assert!(out.events.contains(&Event::Up { endpoint: addr(2) }));
}

#[test]
fn a_silent_node_is_convicted_and_marked_up_when_its_heartbeat_returns() {
    let cfg = Config::new("c", vec![addr(1)]);
    let mut c = Cluster::new(3, &cfg);
    c.rounds(30);
    assert!(c.nodes[0].is_alive(addr(3)));
    // Node 3 stops ticking and answering: drop it from the cluster for a while.
    let silent = c.nodes.pop().unwrap();
    c.events.clear();
    c.rounds(40);
    assert!(
        c.events
            .iter()
            .any(|(who, e)| *who == addr(1) && *e == Event::Down { endpoint: addr(3) })
    );
    assert!(!c.nodes[0].is_alive(addr(3)));
    // It comes back in the same generation (a long pause, not a restart).
    c.nodes.push(silent);
    c.events.clear();
    c.rounds(10);
    assert!(
        c.events
            .iter()
            .any(|(who, e)| *who == addr(1) && *e == Event::Up { endpoint: addr(3) })
    );
}

#[test]
fn a_restarted_node_comes_back_with_a_new_generation_and_replaces_its_old_state_everywhere() {
    let cfg = Config::new("c", vec![addr(1)]);
    let mut c = Cluster::new(4, &cfg);
    c.rounds(20);
    // Node 4 crashes; the others convict it.
    let old = c.nodes.pop().unwrap();
    c.rounds(20);
    for g in &c.nodes {
        assert!(!g.is_alive(addr(4)), "{} still sees it up", g.local());
    }
    // It restarts with a higher generation (the node keeps the last one; see the server's
    // `next_generation`), a new load, and first learns the cluster in a shadow round.
    let generation = old.endpoint_state(addr(4)).unwrap().heartbeat.generation + 1;
    let mut restarted = Gossiper::new(cfg, addr(4), generation, c.now).unwrap();
    restarted.set_status(NodeStatus::Normal);
    restarted.set_local(ApplicationState::Load, "777");
    assert!(restarted.in_shadow_round());
    c.nodes.push(restarted);
    c.events.clear();
    c.rounds(10);
    for g in &c.nodes[..3] {
        let who = g.local();
        let st = g.endpoint_state(addr(4)).unwrap();
        assert_eq!(st.heartbeat.generation, generation, "{who}");
        assert_eq!(st.get(ApplicationState::Load), Some("777"), "{who}");
        // Nothing of the old incarnation survives: it never set a host id this time.
        assert_eq!(st.get(ApplicationState::HostId), None, "{who}");
        assert!(g.is_alive(addr(4)), "{who} does not see it up");
        assert!(c.events.contains(&(
            who,
            Event::Restarted {
                endpoint: addr(4),
                generation
            }
        )));
        assert!(c.events.contains(&(who, Event::Up { endpoint: addr(4) })));
    }
    // The old incarnation's state, gossiped late by a stale peer, changes nothing.
    let stale = old.endpoint_state(addr(4)).unwrap().clone();
    let mut rng = SeededRng::new(5);
    let now = c.now;
    c.nodes[0].handle(push(addr(9), vec![(addr(4), stale)]), now, &mut rng);
    let st = c.nodes[0].endpoint_state(addr(4)).unwrap();
    assert_eq!(st.heartbeat.generation, generation);
    assert_eq!(st.get(ApplicationState::Load), Some("777"));
}

#[test]
fn a_relayed_heartbeat_is_judged_by_its_age_and_an_old_one_does_not_revive_a_dead_node() {
    let cfg = Config::new("c", vec![]);
    let mut g = Gossiper::new(cfg, addr(1), 1, Duration::ZERO).unwrap();
    let mut rng = SeededRng::new(1);
    let normal = [(ApplicationState::Status, "NORMAL", 1)];
    // Node 2 beats every second for a minute, heard directly.
    for v in 2..62 {
        let s = state(10, v, &normal);
        g.handle(push(addr(3), vec![(addr(2), s)]), secs(v), &mut rng);
        g.tick(secs(v), &mut rng);
    }
    assert!(g.is_alive(addr(2)));
    // The local node keeps its rounds going (a gap of over 5 s would look like a local pause).
    for t in 62..66 {
        g.tick(secs(t), &mut rng);
    }
    // Its heartbeat 62 (produced at 62 s) arrives through a relay at 66 s, already 4 s old.
    g.handle(
        push_aged(addr(3), vec![(addr(2), state(10, 62, &normal))], 4_000),
        secs(66),
        &mut rng,
    );
    let age = g
        .failure_detector()
        .heartbeat_age(addr(2), secs(66))
        .unwrap();
    assert_eq!(age, secs(4));
    // Silence: it is convicted once its heartbeat is older than mean + pause + 5.6 sd (about
    // 1 + 3 + 2.9 s), counted from when it was produced (62 s), not from when it arrived (66 s).
    let limit = g.failure_detector().conviction_age(addr(2)).unwrap();
    assert!(limit > secs(6) && limit < secs(8), "{limit:?}");
    let expected = (67..80).find(|t| secs(*t) - secs(62) > limit);
    let mut down_at = None;
    for t in 67..80 {
        let out = g.tick(secs(t), &mut rng);
        if out.events.contains(&Event::Down { endpoint: addr(2) }) {
            down_at = Some(t);
            break;
        }
    }
    assert_eq!(down_at, expected);
    assert!(down_at.is_some_and(|t| secs(t) < secs(66) + limit));
    // Its last heartbeat, relayed late and 20 s old, does not mark it up again.
    let out = g.handle(
        push_aged(addr(3), vec![(addr(2), state(10, 63, &normal))], 20_000),
        secs(84),
        &mut rng,
    );
    assert!(!out.events.contains(&Event::Up { endpoint: addr(2) }));
    assert!(!g.is_alive(addr(2)));
    // A fresh one does.
    let out = g.handle(
        push(addr(3), vec![(addr(2), state(10, 64, &normal))]),
        secs(85),
        &mut rng,
    );
    assert!(out.events.contains(&Event::Up { endpoint: addr(2) }));
}

#[test]
fn a_clean_shutdown_marks_the_node_down_at_once() {
    let cfg = Config::new("c", vec![addr(1)]);
    let mut c = Cluster::new(3, &cfg);
    c.rounds(15);
    let out = c.nodes[2].announce_shutdown();
    c.events.clear();
    c.deliver(addr(3), out);
    for g in &c.nodes[..2] {
        assert!(!g.is_alive(addr(3)));
        assert_eq!(
            g.endpoint_state(addr(3)).unwrap().status(),
            Some(NodeStatus::Shutdown)
        );
    }
    assert!(
        c.events
            .iter()
            .any(|(who, e)| *who == addr(2) && *e == Event::Down { endpoint: addr(3) })
    );
}

#[test]
fn a_node_that_left_stops_silently_so_nobody_takes_it_for_a_member_that_is_down() {
    let cfg = Config::new("c", vec![addr(1)]);
    let mut c = Cluster::new(3, &cfg);
    c.rounds(15);
    c.nodes[2].set_status(NodeStatus::Left);
    c.rounds(15);
    let out = c.nodes[2].announce_shutdown();
    assert!(out.messages.is_empty(), "{:?}", out.messages);
    assert_eq!(
        c.nodes[2].endpoint_state(addr(3)).unwrap().status(),
        Some(NodeStatus::Left)
    );
    for g in &c.nodes[..2] {
        assert_eq!(
            g.endpoint_state(addr(3)).unwrap().status(),
            Some(NodeStatus::Left)
        );
    }
}

#[test]
fn a_removed_endpoint_is_quarantined_and_stale_gossip_does_not_bring_it_back() {
    let cfg = Config::new("c", vec![]);
    let mut g = Gossiper::new(cfg, addr(1), 1, Duration::ZERO).unwrap();
    let mut rng = SeededRng::new(1);
    let x = state(10, 5, &[(ApplicationState::Status, "NORMAL", 1)]);
    g.handle(push(addr(2), vec![(addr(9), x.clone())]), secs(1), &mut rng);
    let out = g.remove_endpoint(addr(9), secs(2));
    assert!(out.events.contains(&Event::Evicted { endpoint: addr(9) }));
    assert!(g.is_quarantined(addr(9)));
    // A stale peer still gossips the old state, even with newer versions.
    let stale = state(10, 50, &[(ApplicationState::Status, "NORMAL", 1)]);
    g.handle(
        push(addr(2), vec![(addr(9), stale.clone())]),
        secs(30),
        &mut rng,
    );
    assert!(g.endpoint_state(addr(9)).is_none());
    // A digest for it is not even requested.
    let syn = Envelope {
        from: addr(2),
        message: Message::Syn(ilion_gossip::Syn {
            cluster_name: "c".into(),
            digests: vec![ilion_gossip::Digest {
                endpoint: addr(9),
                generation: 10,
                max_version: 50,
            }],
        }),
    };
    let out = g.handle(syn, secs(31), &mut rng);
    assert!(matches!(&out.messages[0].1.message, Message::Ack(a) if a.requests.is_empty()));
    // After the quarantine delay (60 s) it may be learned again.
    g.tick(secs(63), &mut rng);
    assert!(!g.is_quarantined(addr(9)));
    g.handle(push(addr(2), vec![(addr(9), stale)]), secs(64), &mut rng);
    assert!(g.endpoint_state(addr(9)).is_some());
}

#[test]
fn a_removenode_spreads_then_every_node_evicts_and_quarantines_the_endpoint() {
    let mut cfg = Config::new("c", vec![addr(1)]);
    cfg.dead_state_retention = secs(30);
    let (mut c, dead) = cluster_with_a_removed_node(&cfg);
    for g in &c.nodes {
        assert_eq!(
            g.endpoint_state(dead).unwrap().status(),
            Some(NodeStatus::Removed),
            "{}",
            g.local()
        );
        assert!(!g.is_alive(dead));
    }
    c.rounds(30);
    for g in &c.nodes {
        assert!(
            g.endpoint_state(dead).is_none(),
            "{} still has it",
            g.local()
        );
        assert!(g.is_quarantined(dead));
    }
}

/// A gossiper for `addr(i)` restarted in generation 200 with `host_id`, as a node started
/// again after being down.
fn restarted(cfg: &Config, i: u8, host_id: &str) -> Gossiper {
    let mut g = Gossiper::new(cfg.clone(), addr(i), 200, Duration::ZERO).unwrap();
    g.set_status(NodeStatus::Normal);
    g.set_local(ApplicationState::HostId, host_id);
    g
}

/// Four nodes; the fourth dies and is removed by an operator; the cluster converges on it.
fn cluster_with_a_removed_node(cfg: &Config) -> (Cluster, Endpoint) {
    let mut c = Cluster::new(4, cfg);
    c.rounds(15);
    let dead = c.nodes.pop().unwrap().local();
    c.rounds(30);
    let now = c.now;
    let out = c.nodes[0].remove_node(dead, now);
    c.deliver(addr(1), out);
    c.rounds(10);
    (c, dead)
}

fn fenced_events(c: &Cluster, node: Endpoint) -> Vec<Event> {
    c.events
        .iter()
        .filter(|(from, e)| *from == node && matches!(e, Event::Fenced { .. }))
        .map(|(_, e)| e.clone())
        .collect()
}

#[test]
fn a_removed_node_that_comes_back_with_its_old_host_id_is_fenced_and_never_owns_its_tokens() {
    let cfg = Config::new("c", vec![addr(1)]);
    let (mut c, dead) = cluster_with_a_removed_node(&cfg);
    // It restarts with its old data (same host ID): its shadow round tells it.
    c.nodes.push(restarted(&cfg, 4, "host-4"));
    c.rounds(10);
    assert_eq!(
        fenced_events(&c, dead),
        vec![Event::Fenced {
            by: addr(1),
            status: NodeStatus::Removed
        }]
    );
    // And nobody takes its new generation: it stays removed and down everywhere.
    for g in &c.nodes[..3] {
        let st = g.endpoint_state(dead).unwrap();
        assert_eq!(st.status(), Some(NodeStatus::Removed), "{}", g.local());
        assert!(st.heartbeat.generation < 200, "{}", g.local());
        assert!(!g.is_alive(dead), "{}", g.local());
    }
}

#[test]
fn a_removed_seed_that_comes_back_learns_it_from_the_first_node_it_gossips_with() {
    // A seed skips the shadow round: the others answer its digest with its dead state.
    let cfg = Config::new("c", vec![addr(1), addr(4)]);
    let (mut c, dead) = cluster_with_a_removed_node(&cfg);
    let back = restarted(&cfg, 4, "host-4");
    assert!(!back.in_shadow_round());
    c.nodes.push(back);
    c.rounds(5);
    let fenced = fenced_events(&c, dead);
    assert_eq!(fenced.len(), 1, "{fenced:?}");
    assert!(matches!(
        fenced[0],
        Event::Fenced {
            status: NodeStatus::Removed,
            ..
        }
    ));
    for g in &c.nodes[..3] {
        assert_eq!(
            g.endpoint_state(dead).unwrap().status(),
            Some(NodeStatus::Removed)
        );
    }
}

#[test]
fn a_removed_node_wiped_and_started_again_joins_as_a_new_node() {
    let cfg = Config::new("c", vec![addr(1)]);
    let (mut c, dead) = cluster_with_a_removed_node(&cfg);
    c.nodes.push(restarted(&cfg, 4, "host-4-new"));
    c.rounds(10);
    assert!(fenced_events(&c, dead).is_empty());
    for g in &c.nodes[..3] {
        let st = g.endpoint_state(dead).unwrap();
        assert_eq!(st.status(), Some(NodeStatus::Normal), "{}", g.local());
        assert_eq!(st.get(ApplicationState::HostId), Some("host-4-new"));
        assert!(g.is_alive(dead), "{}", g.local());
    }
}

#[test]
fn gossip_from_another_cluster_is_ignored() {
    let cfg = Config::new("mine", vec![]);
    let mut g = Gossiper::new(cfg, addr(1), 1, Duration::ZERO).unwrap();
    let mut rng = SeededRng::new(1);
    let syn = Envelope {
        from: addr(2),
        message: Message::Syn(ilion_gossip::Syn {
            cluster_name: "theirs".into(),
            digests: vec![ilion_gossip::Digest {
                endpoint: addr(2),
                generation: 1,
                max_version: 3,
            }],
        }),
    };
    let out = g.handle(syn, secs(1), &mut rng);
    assert!(out.messages.is_empty());
}

#[test]
fn messages_stay_under_the_size_limit_and_big_state_arrives_over_later_rounds() {
    let mut cfg = Config::new("c", vec![addr(1)]);
    cfg.max_message_bytes = 4096;
    let mut c = Cluster::new(2, &cfg);
    // The seed knows 300 endpoints with large states: far more than one message holds.
    let mut rng = SeededRng::new(3);
    let mut states = Vec::new();
    for i in 0..300u32 {
        let ep = Endpoint::from(([10, 1, (i >> 8) as u8, i as u8], 7000));
        let tokens: Vec<i64> = (0..16).map(|_| rng.next_u64() as i64).collect();
        let mut s = state(5, 3, &[(ApplicationState::Status, "NORMAL", 1)]);
        s.states.insert(
            ApplicationState::Tokens,
            VersionedValue {
                value: ilion_gossip::format_tokens(&tokens),
                version: 2,
            },
        );
        states.push((ep, s));
    }
    for chunk in states.chunks(5) {
        c.nodes[0].handle(push(addr(9), chunk.to_vec()), secs(0), &mut rng);
    }
    c.rounds(60);
    assert!(
        c.max_len_seen <= 4096,
        "saw a {} byte message",
        c.max_len_seen
    );
    for (ep, s) in &states {
        assert_eq!(c.nodes[1].endpoint_state(*ep), Some(s), "{ep} not complete");
    }
}

#[test]
fn bad_configuration_is_an_error_not_a_panic() {
    let mut cfg = Config::new("c", vec![]);
    cfg.max_message_bytes = 10;
    assert!(matches!(
        Gossiper::new(cfg, addr(1), 1, Duration::ZERO),
        Err(ilion_gossip::Error::InvalidConfig {
            field: "max_message_bytes",
            ..
        })
    ));
}

#[test]
fn when_many_live_nodes_are_overdue_at_once_the_syns_go_to_the_on_time_ones() {
    let cfg = Config::new("c", vec![]);
    let mut g = Gossiper::new(cfg, addr(1), 1, Duration::ZERO).unwrap();
    let mut rng = SeededRng::new(3);
    let normal = [(ApplicationState::Status, "NORMAL", 1)];
    let beat = |g: &mut Gossiper, rng: &mut SeededRng, peers: std::ops::RangeInclusive<u8>, t| {
        let states = peers.map(|i| (addr(i), state(10, t, &normal))).collect();
        g.handle(push(addr(2), states), secs(t), rng);
    };
    let targets = |out: &Output| -> Vec<u8> {
        out.messages
            .iter()
            .filter(|(_, env)| matches!(env.message, Message::Syn(_)))
            .map(|(to, _)| {
                to.ip()
                    .to_string()
                    .rsplit('.')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    };
    // Ten peers beat every second for 30 s.
    for t in 2..=30 {
        beat(&mut g, &mut rng, 2..=11, t);
        g.tick(secs(t), &mut rng);
    }
    // Then half of them fall silent, as the far side of a partition: for a few seconds they
    // are late but still live, and SYNs to them still go out.
    let mut early = Vec::new();
    for t in 31..=32 {
        beat(&mut g, &mut rng, 2..=6, t);
        early.extend(targets(&g.tick(secs(t), &mut rng)));
    }
    assert!(early.iter().any(|i| *i >= 7), "{early:?}");
    for t in 33..=34 {
        beat(&mut g, &mut rng, 2..=6, t);
        g.tick(secs(t), &mut rng);
    }
    // Five seconds on they are overdue (older than their usual age plus the 3 s pause), not
    // yet convicted: every SYN goes to the on-time half.
    for t in 35..=36 {
        beat(&mut g, &mut rng, 2..=6, t);
        let out = g.tick(secs(t), &mut rng);
        assert!((7..=11).all(|i| g.is_alive(addr(i))));
        let sent = targets(&out);
        assert_eq!(sent.len(), 3);
        assert!(
            sent.iter().all(|i| (2..=6).contains(i)),
            "at {t} s: {sent:?}"
        );
    }
}
