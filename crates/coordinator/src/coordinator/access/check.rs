//! What each statement needs, checked before it runs (Cassandra's `authorize`), and what a
//! schema change does to grants once it ran: the creator of a keyspace or table gets every
//! permission on it, and a dropped keyspace or table takes its grants with it.

use ilion_cql::language::ast::{BatchStatement, Permission, QualifiedName, Statement};
use ilion_cql::protocol::{ChangeType, ResultBody, SchemaTarget};

use super::super::Coordinator;
use crate::Result;
use crate::auth::Resource;
use crate::schema::ddl;

/// Keyspaces every logged-in role may read (Cassandra's readable system resources).
const READABLE_KEYSPACES: [&str; 4] = [
    "system",
    "system_schema",
    "system_virtual_schema",
    "system_views",
];

fn table(name: &QualifiedName, keyspace: Option<&str>) -> Result<Resource> {
    let ks = ddl::keyspace_of(name, keyspace)?;
    Ok(Resource::Table(ks, name.name.as_str().to_owned()))
}

fn keyspace_of(name: &QualifiedName, keyspace: Option<&str>) -> Result<Resource> {
    Ok(Resource::Keyspace(ddl::keyspace_of(name, keyspace)?))
}

/// The permissions `statement` needs, each on a resource (none: any logged-in role may run it).
fn required(statement: &Statement, keyspace: Option<&str>) -> Result<Vec<(Permission, Resource)>> {
    use Permission::{Alter, Create, Drop, Modify, Select};
    Ok(match statement {
        Statement::Select(s) => {
            let ks = ddl::keyspace_of(&s.table, keyspace)?;
            if READABLE_KEYSPACES.contains(&ks.as_str()) {
                Vec::new()
            } else {
                vec![(
                    Select,
                    Resource::Table(ks, s.table.name.as_str().to_owned()),
                )]
            }
        }
        Statement::Insert(s) => vec![(Modify, table(&s.table, keyspace)?)],
        Statement::Update(s) => vec![(Modify, table(&s.table, keyspace)?)],
        Statement::Delete(s) => vec![(Modify, table(&s.table, keyspace)?)],
        Statement::Truncate(name) => vec![(Modify, table(name, keyspace)?)],
        Statement::Batch(b) => {
            let mut out = Vec::new();
            for s in &b.statements {
                let name = match s {
                    BatchStatement::Insert(s) => &s.table,
                    BatchStatement::Update(s) => &s.table,
                    BatchStatement::Delete(s) => &s.table,
                };
                let need = (Modify, table(name, keyspace)?);
                if !out.contains(&need) {
                    out.push(need);
                }
            }
            out
        }
        Statement::CreateKeyspace(_) => vec![(Create, Resource::AllKeyspaces)],
        Statement::AlterKeyspace(s) => {
            vec![(Alter, Resource::Keyspace(s.name.as_str().to_owned()))]
        }
        Statement::DropKeyspace(s) => vec![(Drop, Resource::Keyspace(s.name.as_str().to_owned()))],
        Statement::CreateTable(s) => vec![(Create, keyspace_of(&s.name, keyspace)?)],
        Statement::AlterTable(s) => vec![(Alter, table(&s.name, keyspace)?)],
        Statement::DropTable(s) => vec![(Drop, table(&s.name, keyspace)?)],
        Statement::CreateType(s) => vec![(Create, keyspace_of(&s.name, keyspace)?)],
        Statement::AlterType(s) => vec![(Alter, keyspace_of(&s.name, keyspace)?)],
        Statement::DropType(s) => vec![(Drop, keyspace_of(&s.name, keyspace)?)],
        // USE and DESCRIBE need none; statements Ilion does not build are refused anyway.
        _ => Vec::new(),
    })
}

impl Coordinator {
    /// Refuses `statement` unless `user` may run it (always allowed without an authorizer).
    pub(in crate::coordinator) fn authorize(
        &self,
        user: Option<&str>,
        statement: &Statement,
        keyspace: Option<&str>,
    ) -> Result<()> {
        self.ensure_all(user, || required(statement, keyspace))
    }

    /// Refuses a write of a protocol BATCH's statement on `name` unless `user` may modify it.
    pub(in crate::coordinator) fn authorize_modify(
        &self,
        user: Option<&str>,
        name: &QualifiedName,
        keyspace: Option<&str>,
    ) -> Result<()> {
        self.ensure_all(user, || {
            Ok(vec![(Permission::Modify, table(name, keyspace)?)])
        })
    }

    /// Refuses unless `user` holds every permission `needs` lists (nothing is checked
    /// without an authorizer).
    fn ensure_all(
        &self,
        user: Option<&str>,
        needs: impl FnOnce() -> Result<Vec<(Permission, Resource)>>,
    ) -> Result<()> {
        if !self.access.authorizing() {
            return Ok(());
        }
        let user = self.login(user)?;
        for (permission, resource) in needs()? {
            self.ensure(user, permission, &resource)?;
        }
        Ok(())
    }

    /// What a schema change that ran does to grants: the creator gets every permission on
    /// the new keyspace or table; a dropped one loses every grant on it (and on its tables).
    pub(in crate::coordinator) fn after_schema_change(
        &self,
        user: Option<&str>,
        result: &ResultBody,
    ) -> Result<()> {
        if !self.access.authorizing() {
            return Ok(());
        }
        let ResultBody::SchemaChange(change) = result else {
            return Ok(());
        };
        let resource = match &change.target {
            SchemaTarget::Keyspace { keyspace } => Resource::Keyspace(keyspace.clone()),
            SchemaTarget::Table { keyspace, name } => {
                Resource::Table(keyspace.clone(), name.clone())
            }
            _ => return Ok(()),
        };
        match change.change {
            ChangeType::Created => {
                if let Some(user) = user {
                    let all = resource.applicable_set();
                    self.add_permissions(user, &resource, &all)?;
                }
            }
            ChangeType::Dropped => self.revoke_all_on(|r| match (&resource, r) {
                (Resource::Keyspace(ks), Resource::Table(k, _)) => ks == k,
                _ => *r == resource,
            })?,
            ChangeType::Updated => return Ok(()),
        }
        self.access.clear();
        Ok(())
    }

    /// Deletes every grant on a resource `on` selects.
    pub(super) fn revoke_all_on(&self, on: impl Fn(&Resource) -> bool) -> Result<()> {
        for (role, resource, _) in self.all_grants()? {
            if on(&resource) {
                self.delete_grant(&role, &resource)?;
            }
        }
        Ok(())
    }
}
