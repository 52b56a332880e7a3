//! Schema changes: a DDL statement applied to a copy of the schema, saved and published, and
//! a schema received from another node merged into this node's.

use std::sync::Arc;

use ilion_cql::protocol::ResultBody;

use crate::cluster::MemberStatus;
use crate::schema::{Schema, merge, store};
use crate::{Result, data};

use super::{Coordinator, SCHEMA_FILE};

impl Coordinator {
    /// The datacenters of the cluster as gossip shows it (this node's first, then the others
    /// of every member that has not left), what NetworkTopologyStrategy's
    /// `replication_factor` shorthand expands to.
    pub(super) fn known_datacenters(&self) -> Vec<String> {
        let mut dcs = vec![self.local.data_center.clone()];
        let membership = self
            .membership
            .as_ref()
            .or_else(|| self.replication.as_ref().map(|r| r.membership()));
        if let Some(m) = membership {
            for member in m.members() {
                if member.status != MemberStatus::Left
                    && !member.data_center.is_empty()
                    && !dcs.contains(&member.data_center)
                {
                    dcs.push(member.data_center);
                }
            }
        }
        dcs
    }

    /// Merges a schema received from another node into this node's (see
    /// `docs/cluster-schema.md`): saves and publishes the result, creates, alters and drops
    /// the store's tables to match, and returns the changes as SCHEMA_CHANGE events for
    /// this node's clients (empty when the remote schema taught nothing new).
    pub fn merge_schema(&self, remote: &Schema) -> Result<Vec<ilion_cql::protocol::SchemaChange>> {
        let _serial = self.ddl.lock();
        let current = self.schema.read().clone();
        let next = merge::merge(&current, remote).with_system(&self.system);
        if next == *current {
            return Ok(Vec::new());
        }
        store::save(&self.data_dir.join(SCHEMA_FILE), &next)?;
        let mut events = merge::changes(&current.keyspaces, &next.keyspaces);
        events.extend(merge::changes(
            &current.replicated_system,
            &next.replicated_system,
        ));
        *self.schema.write() = Arc::new(next);
        data::sync_store(&self.store, &current, &self.schema.read(), &self.snapshots)?;
        if !events.is_empty() {
            tracing::info!(changes = events.len(), "schema merged from another node");
        }
        Ok(events)
    }

    /// Applies a schema change to a copy of the schema, saves it durably, then publishes it.
    pub(super) fn alter_schema(
        &self,
        change: impl FnOnce(&mut Schema) -> Result<Option<ilion_cql::protocol::SchemaChange>>,
    ) -> Result<ResultBody> {
        let _serial = self.ddl.lock();
        let mut next = (**self.schema.read()).clone();
        let Some(event) = change(&mut next)? else {
            return Ok(ResultBody::Void);
        };
        let previous = self.schema.read().clone();
        let at = next
            .history
            .record(&previous.keyspaces, &next.keyspaces, data::now_micros());
        next.history
            .record_system(&previous.replicated_system, &next.replicated_system, at);
        store::save(&self.data_dir.join(SCHEMA_FILE), &next)?;
        let version = next.version();
        let previous = std::mem::replace(&mut *self.schema.write(), Arc::new(next));
        data::sync_store(&self.store, &previous, &self.schema.read(), &self.snapshots)?;
        tracing::info!(change = ?event, "schema changed");
        let listener = self.schema_listener.read().clone();
        if let Some(listener) = listener {
            (listener.0)(version);
        }
        Ok(ResultBody::SchemaChange(event))
    }
}
