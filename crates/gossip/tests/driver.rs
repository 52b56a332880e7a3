//! The tokio driver over the in-memory transport, on tokio's paused clock.

use std::time::Duration;

use ilion_gossip::driver::{self, Command};
use ilion_gossip::{
    ApplicationState, Config, Endpoint, Event, Gossiper, InMemoryNetwork, LinkFaults, NodeStatus,
    SeededRng,
};
use tokio::sync::{mpsc, oneshot};

fn addr(i: u8) -> Endpoint {
    Endpoint::from(([10, 0, 0, i], 7000))
}

struct Node {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<Event>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<ilion_gossip::Result<Gossiper>>,
}

fn spawn(net: &InMemoryNetwork, i: u8, generation: u64) -> Node {
    let cfg = Config::new("drv", vec![addr(1)]);
    let mut g = Gossiper::new(cfg, addr(i), generation, Duration::ZERO).unwrap();
    g.set_status(NodeStatus::Normal);
    let transport = net.register(addr(i));
    let (ctx, crx) = mpsc::unbounded_channel();
    let (etx, erx) = mpsc::unbounded_channel();
    let (stx, srx) = oneshot::channel::<()>();
    let task = tokio::spawn(driver::run(
        g,
        transport,
        SeededRng::new(u64::from(i)),
        crx,
        etx,
        async {
            let _ = srx.await;
        },
    ));
    Node {
        commands: ctx,
        events: erx,
        stop: stx,
        task,
    }
}

/// Waits (in virtual time) for an event matching `want`.
async fn wait_for(node: &mut Node, within: Duration, want: impl Fn(&Event) -> bool) -> bool {
    tokio::time::timeout(within, async {
        while let Some(e) = node.events.recv().await {
            if want(&e) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false)
}

#[tokio::test(start_paused = true)]
async fn drivers_over_a_lossy_delayed_network_converge_detect_a_partition_and_heal() {
    let net = InMemoryNetwork::new(11);
    net.set_faults(LinkFaults {
        drop_probability: 0.1,
        delay: Duration::from_millis(20),
    });
    let mut nodes: Vec<Node> = (1..=4).map(|i| spawn(&net, i, 1)).collect();

    assert!(
        wait_for(&mut nodes[0], Duration::from_secs(60), |e| *e
            == Event::Up { endpoint: addr(4) })
        .await
    );
    nodes[3]
        .commands
        .send(Command::Set(ApplicationState::SchemaVersion, "v2".into()))
        .unwrap();
    assert!(
        wait_for(&mut nodes[1], Duration::from_secs(60), |e| matches!(
            e,
            Event::Changed { endpoint, key: ApplicationState::SchemaVersion, value } if *endpoint == addr(4) && value == "v2"
        ))
        .await
    );

    net.partition(&[addr(4)], &[addr(1), addr(2), addr(3)]);
    assert!(
        wait_for(&mut nodes[0], Duration::from_secs(120), |e| *e
            == Event::Down { endpoint: addr(4) })
        .await
    );
    net.heal();
    assert!(
        wait_for(&mut nodes[0], Duration::from_secs(60), |e| *e
            == Event::Up { endpoint: addr(4) })
        .await
    );

    // A clean stop is seen at once (well before the detector would convict).
    let n4 = nodes.pop().unwrap();
    n4.stop.send(()).unwrap();
    let g4 = n4.task.await.unwrap().unwrap();
    assert_eq!(
        g4.endpoint_state(addr(4)).unwrap().status(),
        Some(NodeStatus::Shutdown)
    );
    assert!(
        wait_for(&mut nodes[0], Duration::from_secs(2), |e| *e
            == Event::Down { endpoint: addr(4) })
        .await
    );

    // It restarts with a higher generation and is seen up again.
    let _n4 = spawn(&net, 4, 2);
    assert!(
        wait_for(&mut nodes[0], Duration::from_secs(60), |e| *e
            == Event::Restarted {
                endpoint: addr(4),
                generation: 2
            })
        .await
    );
}
