//! TRUNCATE on every node of the ring: all must be alive and confirm in time.

use super::*;

impl Replication {
    /// Truncates a table on every node of the ring (Cassandra's `truncateBlocking`): refused
    /// as Unavailable at ALL unless every node is alive, then every node must confirm within
    /// `truncate_request_timeout`, else a truncate error. Rows written meanwhile may survive
    /// on some nodes, as in Cassandra.
    pub fn truncate(&self, keyspace: &str, table: &str) -> Result<()> {
        let topo = self.topology();
        let mut nodes: Vec<Endpoint> = topo.nodes.values().cloned().collect();
        nodes.sort_by_key(|e| e.address);
        if nodes.is_empty() {
            // Not in the ring yet: only this node's data exists.
            return self.local.truncate(keyspace, table);
        }
        let alive = nodes.iter().filter(|e| self.alive(&topo, e)).count();
        if alive < nodes.len() {
            return self.count(Err(Error::Unavailable {
                consistency: Consistency::All,
                required: i32::try_from(nodes.len()).unwrap_or(i32::MAX),
                alive: i32::try_from(alive).unwrap_or(i32::MAX),
            }));
        }
        let payload = Request::new(request::Body::Truncate(messages::TruncateRequest {
            keyspace: keyspace.to_owned(),
            table: table.to_owned(),
        }))
        .to_bytes();
        let timeout = self.config.truncate_request_timeout;
        let deadline = Instant::now() + timeout;
        let mut inflight: Inflight<usize> = Inflight::new();
        for (i, e) in nodes.iter().enumerate() {
            inflight.push(i, self.send(&topo, e, payload.clone(), timeout));
        }
        let mut acked = 0;
        while acked < nodes.len() {
            let Some((i, answer)) = inflight.next(deadline) else {
                break;
            };
            let Some(e) = nodes.get(i) else { continue };
            if let Err(err) = answer.and_then(|b| ack_of(e.address, &b)) {
                return Err(Error::truncate(format!(
                    "Error during truncate: {}: {err}",
                    e.address
                )));
            }
            acked += 1;
        }
        if acked < nodes.len() {
            return Err(Error::truncate(format!(
                "Truncate timed out - received only {acked} responses of {}",
                nodes.len()
            )));
        }
        Ok(())
    }
}
