//! The thin tokio driver: runs a [`Gossiper`] against a [`Transport`] and the tokio clock.
//!
//! Every gossip interval it feeds a tick; every received message is decoded (with the size limit)
//! and fed in; outgoing messages are encoded and sent; events go to the caller's channel. Under
//! `tokio::time::pause` the same loop runs on virtual time.

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::codec;
use crate::error::Result;
use crate::gossiper::{Event, Gossiper, Output};
use crate::rng::SeededRng;
use crate::state::{ApplicationState, Endpoint};
use crate::transport::Transport;

/// A request from the layers above to the running gossiper.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Set a local application state.
    Set(ApplicationState, String),
    /// Announce that a dead node is removed (Cassandra's removenode).
    RemoveNode(Endpoint),
    /// Drop an endpoint locally and quarantine it.
    RemoveEndpoint(Endpoint),
}

/// Runs `gossiper` until `shutdown` completes, then announces the shutdown to live nodes and
/// returns the gossiper. Events go to `events` (a closed receiver is not an error).
pub async fn run<T: Transport>(
    mut gossiper: Gossiper,
    mut transport: T,
    mut rng: SeededRng,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    shutdown: impl Future<Output = ()>,
) -> Result<Gossiper> {
    let start = Instant::now();
    let now = || -> Duration { Instant::now().duration_since(start) };
    let max = gossiper.config().max_message_bytes;
    let mut interval = tokio::time::interval(gossiper.config().gossip_interval);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut commands_open = true;
    loop {
        let out = tokio::select! {
            _ = &mut shutdown => {
                let out = gossiper.announce_shutdown();
                deliver(&transport, &events, out).await;
                return Ok(gossiper);
            }
            _ = interval.tick() => gossiper.tick(now(), &mut rng),
            bytes = transport.recv() => {
                match codec::decode(&bytes?, max) {
                    Ok(env) => gossiper.handle(env, now(), &mut rng),
                    Err(error) => {
                        tracing::warn!(%error, "dropping undecodable gossip message");
                        Output::default()
                    }
                }
            }
            cmd = commands.recv(), if commands_open => match cmd {
                None => { commands_open = false; Output::default() }
                Some(Command::Set(key, value)) => { gossiper.set_local(key, value); Output::default() }
                Some(Command::RemoveNode(ep)) => gossiper.remove_node(ep, now()),
                Some(Command::RemoveEndpoint(ep)) => gossiper.remove_endpoint(ep, now()),
            },
        };
        deliver(&transport, &events, out).await;
    }
}

async fn deliver<T: Transport>(transport: &T, events: &mpsc::UnboundedSender<Event>, out: Output) {
    for (to, env) in out.messages {
        if let Err(error) = transport.send(to, codec::encode(&env)).await {
            tracing::debug!(%to, %error, "gossip send failed");
        }
    }
    for e in out.events {
        let _ = events.send(e);
    }
}
