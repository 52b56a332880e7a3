//! Counter writes (Cassandra's `StorageProxy.mutateCounter` and `CounterMutation`).
//!
//! A counter increment is not idempotent, so it is applied once, by one replica, the leader:
//! this node when it is a live replica of the partition, else a live replica of the local
//! datacenter (else of any), picked at random. The leader adds the delta to its own shard
//! under a lock (`Table::apply_counter`), writes it locally, and sends the resulting shard,
//! an absolute state, to the other replicas as an ordinary replicated write counted against
//! the consistency level (hints and read repair carry shards like any cell). A replica
//! merges shards by clock, so it never counts one twice; only a client's retry of a timed-out
//! increment can (as in Cassandra, that is the client's choice).
//!
//! Unavailable is checked by the coordinator before it forwards, and again by the leader
//! before it applies. When the leader does not answer within
//! `counter_write_request_timeout`, the write is a WriteTimeout of write type COUNTER with
//! nothing acknowledged: it may or may not have been applied.

use rand::seq::IndexedRandom;

use super::*;
use crate::data::TableWrite;
use messages::{CounterWrite, FailedReplica, WriteError};

/// `WriteError.kind`.
const UNAVAILABLE: u32 = 1;
const TIMEOUT: u32 = 2;
const FAILURE: u32 = 3;
const INVALID: u32 = 4;

impl Replication {
    /// Each partition's counter writes through its leader, in order.
    pub(super) fn write_counters(
        &self,
        writes: &[TableWrite<'_>],
        consistency: Consistency,
    ) -> Result<()> {
        for w in writes {
            let schema = self.table_schema(w.table)?;
            let wire = WireMutation::from_mutation(&schema, &w.mutation)
                .map_err(|e| Error::server(e.to_string()))?;
            self.count(self.write_counter(w.keyspace, wire, consistency))?;
        }
        Ok(())
    }

    /// One partition's counter write: led here, or forwarded to the chosen leader.
    fn write_counter(
        &self,
        ks: &Keyspace,
        m: WireMutation,
        consistency: Consistency,
    ) -> Result<()> {
        let topo = self.topology();
        let mut req = Requirement::new(consistency, &topo.placement(ks)?.strategy, &self.local_dc)?;
        let replicas = self.write_replicas(&topo, ks, m.token, &mut req)?;
        req.check_alive(
            replicas
                .iter()
                .map(|e| (e.dc.as_str(), self.alive(&topo, e))),
        )?;
        let natural = self.replicas(&topo, ks, m.token)?;
        let live: Vec<&Endpoint> = natural.iter().filter(|e| self.alive(&topo, e)).collect();
        let leader = if let Some(here) = live.iter().find(|e| self.is_local(&topo, e)) {
            Some(*here)
        } else {
            let local_dc: Vec<&Endpoint> = live
                .iter()
                .copied()
                .filter(|e| e.dc == self.local_dc)
                .collect();
            let pool = if local_dc.is_empty() {
                &live
            } else {
                &local_dc
            };
            pool.choose(&mut rand::rng()).copied()
        };
        let Some(leader) = leader else {
            return Err(Error::Unavailable {
                consistency,
                required: i32::try_from(req.block_for).unwrap_or(i32::MAX),
                alive: 0,
            });
        };
        if self.is_local(&topo, leader) {
            return self.lead_counter(m, consistency);
        }
        let block_for = i32::try_from(req.block_for).unwrap_or(i32::MAX);
        let timed_out = Error::WriteTimeout {
            consistency,
            received: 0,
            block_for,
            write_type: WriteType::Counter,
        };
        let payload = Request::new(request::Body::CounterWrite(CounterWrite {
            mutation: Some(m),
            consistency: u32::from(consistency.code()),
        }))
        .to_bytes();
        let timeout = self.config.counter_write_request_timeout;
        let mut inflight: Inflight<()> = Inflight::new();
        inflight.push((), self.messenger.request(leader.address, payload, timeout));
        let Some(((), answer)) = inflight.next(Instant::now() + timeout) else {
            return Err(timed_out);
        };
        let bytes = match answer {
            Ok(b) => b,
            Err(MessagingError::Timeout { .. } | MessagingError::Unreachable { .. }) => {
                return Err(timed_out);
            }
            Err(e) => {
                tracing::debug!(leader = %leader.address, error = %e, "counter leader failed");
                return Err(Error::WriteFailure {
                    consistency,
                    received: 0,
                    block_for,
                    failures: vec![(leader.address, FailureReason::Unknown)],
                    write_type: WriteType::Counter,
                });
            }
        };
        match Response::decode_bytes(&bytes) {
            Ok(response::Body::Ack(_)) => Ok(()),
            Ok(response::Body::WriteError(e)) => Err(error_of(&e, consistency)),
            Ok(response::Body::Failure(f)) => Err(Error::WriteFailure {
                consistency,
                received: 0,
                block_for,
                failures: vec![(leader.address, FailureReason::from_code(f.reason))],
                write_type: WriteType::Counter,
            }),
            Ok(_) => Err(Error::server("unexpected answer to a counter write")),
            Err(e) => Err(Error::server(e.to_string())),
        }
    }

    /// Leads a counter write on this node: applies the increments to this node's shards and
    /// sends the resulting shards to the other replicas at `consistency`.
    pub(crate) fn lead_counter(&self, wire: WireMutation, consistency: Consistency) -> Result<()> {
        let schema = self.schema.read().clone();
        let ks = schema.keyspace(&wire.keyspace)?.clone();
        let table = self
            .local
            .store
            .table(&wire.keyspace, &wire.table)
            .map_err(storage_error)?;
        let m = wire
            .to_mutation(&table.schema())
            .map_err(|e| Error::server(e.to_string()))?;
        let topo = self.topology();
        let mut req =
            Requirement::new(consistency, &topo.placement(&ks)?.strategy, &self.local_dc)?;
        let replicas = self.write_replicas(&topo, &ks, m.token, &mut req)?;
        req.check_alive(
            replicas
                .iter()
                .map(|e| (e.dc.as_str(), self.alive(&topo, e))),
        )?;
        let id = topo
            .local
            .and_then(|l| topo.nodes.get(&l))
            .map(|e| e.host_id)
            .ok_or_else(|| {
                Error::server("this node is not in the ring: it cannot lead a counter write")
            })?;
        let applied = table
            .apply_counter(&m, *id.as_bytes(), self.local.micros())
            .map_err(|e| {
                tracing::debug!(error = %e, "counter write failed here");
                Error::WriteFailure {
                    consistency,
                    received: 0,
                    block_for: i32::try_from(req.block_for).unwrap_or(i32::MAX),
                    failures: vec![(
                        self.membership.local_address(),
                        FailureReason::of_storage(&e),
                    )],
                    write_type: WriteType::Counter,
                }
            })?;
        let natural = self.replicas(&topo, &ks, m.token)?;
        if self.only_here(&topo, &ks, consistency, &natural) && !has_pending(&topo, &ks, m.token) {
            return Ok(());
        }
        let wire = WireMutation::from_mutation(&table.schema(), &applied)
            .map_err(|e| Error::server(e.to_string()))?;
        self.write_mutations(
            &[(ks, wire)],
            consistency,
            WriteType::Counter,
            WriteMode::LedHere,
        )
    }

    /// Answers another node's request to lead a counter write: Ack, or why it failed.
    pub(crate) fn handle_counter_write(&self, w: CounterWrite) -> Bytes {
        let outcome = match (w.mutation, u16::try_from(w.consistency)) {
            (Some(m), Ok(code)) => match Consistency::from_code(code) {
                Ok(consistency) => self.count(self.lead_counter(m, consistency)),
                Err(e) => Err(Error::server(e.to_string())),
            },
            _ => Err(Error::server("malformed counter write")),
        };
        let body = match outcome {
            Ok(()) => response::Body::Ack(messages::Ack {}),
            Err(e) => response::Body::WriteError(write_error(&e)),
        };
        Response::new(body).to_bytes()
    }
}

/// `e` as a leader sends it back.
fn write_error(e: &Error) -> WriteError {
    let mut w = WriteError {
        message: e.to_string(),
        ..WriteError::default()
    };
    match e {
        Error::Unavailable {
            required, alive, ..
        } => {
            w.kind = UNAVAILABLE;
            w.block_for = *required;
            w.alive = *alive;
        }
        Error::WriteTimeout {
            received,
            block_for,
            ..
        } => {
            w.kind = TIMEOUT;
            w.received = *received;
            w.block_for = *block_for;
        }
        Error::WriteFailure {
            received,
            block_for,
            failures,
            ..
        } => {
            w.kind = FAILURE;
            w.received = *received;
            w.block_for = *block_for;
            w.failures = failures
                .iter()
                .map(|(a, r)| FailedReplica {
                    address: match a {
                        IpAddr::V4(v4) => v4.octets().to_vec(),
                        IpAddr::V6(v6) => v6.octets().to_vec(),
                    },
                    reason: u32::from(r.code()),
                })
                .collect();
        }
        Error::Invalid { .. } => w.kind = INVALID,
        _ => {}
    }
    w
}

/// A leader's [`WriteError`] as this coordinator's error (write type COUNTER).
fn error_of(w: &WriteError, consistency: Consistency) -> Error {
    match w.kind {
        UNAVAILABLE => Error::Unavailable {
            consistency,
            required: w.block_for,
            alive: w.alive,
        },
        TIMEOUT => Error::WriteTimeout {
            consistency,
            received: w.received,
            block_for: w.block_for,
            write_type: WriteType::Counter,
        },
        FAILURE => Error::WriteFailure {
            consistency,
            received: w.received,
            block_for: w.block_for,
            failures: w
                .failures
                .iter()
                .filter_map(|f| {
                    let address = match f.address.len() {
                        4 => <[u8; 4]>::try_from(f.address.as_slice())
                            .ok()
                            .map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(f.address.as_slice())
                            .ok()
                            .map(IpAddr::from),
                        _ => None,
                    }?;
                    Some((address, FailureReason::from_code(f.reason)))
                })
                .collect(),
            write_type: WriteType::Counter,
        },
        INVALID => Error::invalid(w.message.clone()),
        _ => Error::server(w.message.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaders_errors_come_back_as_they_were() {
        let c = Consistency::Quorum;
        for e in [
            Error::Unavailable {
                consistency: c,
                required: 2,
                alive: 1,
            },
            Error::WriteTimeout {
                consistency: c,
                received: 1,
                block_for: 2,
                write_type: WriteType::Counter,
            },
            Error::WriteFailure {
                consistency: c,
                received: 0,
                block_for: 2,
                failures: vec![
                    ("127.0.0.2".parse().unwrap(), FailureReason::Unknown),
                    ("::1".parse().unwrap(), FailureReason::TableNotFound),
                ],
                write_type: WriteType::Counter,
            },
            Error::invalid("no"),
        ] {
            assert_eq!(error_of(&write_error(&e), c), e);
        }
    }
}
