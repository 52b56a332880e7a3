//! The node-to-node gRPC transport in process: gossipers talking over real gRPC servers on
//! 127.0.0.1, and the coordinator's messenger against the Replica service.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ilion_coordinator::{MessagingError, Messenger};
use ilion_gossip::driver::Command;
use ilion_gossip::{ApplicationState, Event, NodeStatus, SeededRng};
use ilion_server::cluster::proto::gossip_server::GossipServer;
use ilion_server::cluster::{GrpcMessenger, Peers, ReplicaService, grpc_transport};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const LIMIT: Duration = Duration::from_secs(30);

struct GossipNode {
    addr: SocketAddr,
    events: mpsc::UnboundedReceiver<Event>,
    commands: mpsc::UnboundedSender<Command>,
    stop: Option<oneshot::Sender<()>>,
    driver: JoinHandle<()>,
    server: JoinHandle<()>,
}

async fn gossip_node(listener: TcpListener, seed: SocketAddr, host_id: &str) -> GossipNode {
    let addr = listener.local_addr().unwrap();
    let mut cfg = ilion_gossip::Config::new("transport-test", vec![seed]);
    cfg.gossip_interval = Duration::from_millis(100);
    let mut g = ilion_gossip::Gossiper::new(cfg, addr, 1, Duration::ZERO).unwrap();
    g.set_local(ApplicationState::HostId, host_id);
    g.set_status(NodeStatus::Normal);
    let peers = Arc::new(Peers::new(Duration::from_secs(2)));
    let (transport, service) = grpc_transport(peers, Duration::from_secs(2), 64 * 1024);
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(GossipServer::new(service))
            .serve_with_incoming(incoming)
            .await
            .unwrap();
    });
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let (events_tx, events) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let driver = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        ilion_gossip::driver::run(
            g,
            transport,
            SeededRng::new(7),
            commands_rx,
            events_tx,
            shutdown,
        )
        .await
        .unwrap();
    });
    GossipNode {
        addr,
        events,
        commands,
        stop: Some(stop),
        driver,
        server,
    }
}

/// Waits (bounded) for an event matching `want`.
async fn expect(node: &mut GossipNode, what: &str, want: impl Fn(&Event) -> bool) {
    let found = tokio::time::timeout(LIMIT, async {
        while let Some(e) = node.events.recv().await {
            if want(&e) {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "{} never saw {what}", node.addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gossipers_over_grpc_learn_each_other_and_a_clean_stop_marks_the_node_down() {
    let la = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lb = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let seed = la.local_addr().unwrap();
    let mut a = gossip_node(la, seed, "host-a").await;
    let mut b = gossip_node(lb, seed, "host-b").await;
    let (addr_a, addr_b) = (a.addr, b.addr);

    expect(&mut a, "b up", |e| *e == Event::Up { endpoint: addr_b }).await;
    expect(&mut b, "a's host id", |e| {
        *e == Event::Changed {
            endpoint: addr_a,
            key: ApplicationState::HostId,
            value: "host-a".into(),
        }
    })
    .await;

    // A change made later spreads too.
    a.commands
        .send(Command::Set(ApplicationState::SchemaVersion, "v2".into()))
        .unwrap();
    expect(&mut b, "a's new schema version", |e| {
        *e == Event::Changed {
            endpoint: addr_a,
            key: ApplicationState::SchemaVersion,
            value: "v2".into(),
        }
    })
    .await;

    // b stops cleanly: it announces the shutdown over gRPC and a marks it down at once.
    let _ = b.stop.take().unwrap().send(());
    b.driver.await.unwrap();
    expect(&mut a, "b down", |e| *e == Event::Down { endpoint: addr_b }).await;

    let _ = a.stop.take().unwrap().send(());
    a.driver.await.unwrap();
    a.server.abort();
    b.server.abort();
}

/// Polls a future to completion on the calling thread, parking it between wake-ups (as the
/// coordinator's background threads do), with no tokio runtime around.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

async fn replica_server(service: ReplicaService) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service.into_server())
            .serve_with_incoming(incoming)
            .await
            .unwrap();
    });
    (addr, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_messenger_carries_payloads_both_ways_and_names_each_failure() {
    let service = ReplicaService::new();
    let (addr, server) = replica_server(service.clone()).await;
    let local: IpAddr = [127, 0, 0, 9].into();
    let peers = Arc::new(Peers::new(Duration::from_secs(2)));
    let messenger = GrpcMessenger::new(peers, local, addr.port());
    let to = addr.ip();
    let timeout = Duration::from_secs(5);

    // Before a handler is attached, the receiving node says so.
    let err = messenger
        .request(to, Bytes::from_static(b"x"), timeout)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, MessagingError::Remote { reason, .. } if reason.contains("replica")),
        "{err:?}"
    );

    service.set_handler(Arc::new(|from: IpAddr, payload: Bytes| {
        if payload.as_ref() == b"fail" {
            return Err("refused on purpose".to_owned());
        }
        if payload.as_ref() == b"slow" {
            std::thread::sleep(Duration::from_secs(3));
        }
        let mut out = from.to_string().into_bytes();
        out.push(b'|');
        out.extend(payload.iter().rev());
        Ok(Bytes::from(out))
    }));
    let answer = messenger
        .request(to, Bytes::from_static(b"abc"), timeout)
        .await
        .unwrap();
    assert_eq!(answer.as_ref(), b"127.0.0.9|cba");

    let big = Bytes::from(vec![7u8; 8 * 1024 * 1024]);
    let answer = messenger.request(to, big, timeout).await.unwrap();
    assert_eq!(answer.len(), "127.0.0.9|".len() + 8 * 1024 * 1024);

    let err = messenger
        .request(to, Bytes::from_static(b"fail"), timeout)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        MessagingError::Remote {
            address: to,
            reason: "refused on purpose".into()
        }
    );

    let short = Duration::from_millis(300);
    let err = messenger
        .request(to, Bytes::from_static(b"slow"), short)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        MessagingError::Timeout {
            address: to,
            timeout: short
        }
    );

    // Hint delivery and batchlog replay poll the messenger from the coordinator's own
    // threads, outside the runtime; a fresh messenger also makes its first channel there.
    let from_a_plain_thread = GrpcMessenger::new(
        Arc::new(Peers::new(Duration::from_secs(2))),
        local,
        addr.port(),
    );
    let answer = std::thread::spawn(move || {
        block_on(from_a_plain_thread.request(to, Bytes::from_static(b"hint"), timeout))
    })
    .join()
    .unwrap()
    .unwrap();
    assert_eq!(answer.as_ref(), b"127.0.0.9|tnih");

    server.abort();

    // Nobody listens on that port: unreachable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nowhere = GrpcMessenger::new(Arc::new(Peers::new(Duration::from_secs(2))), local, port);
    let err = nowhere
        .request(to, Bytes::from_static(b"abc"), timeout)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MessagingError::Unreachable { address, .. } if address == to),
        "{err:?}"
    );
}
