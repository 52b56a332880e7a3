//! Rows of `system_auth`, read and written as CQL statements the node runs for itself
//! through the data path: at QUORUM, so they are replicated as the keyspace says, each write
//! with a timestamp of its own (strictly increasing on this node), so the writes of one role
//! statement apply in order.

use std::collections::{BTreeMap, BTreeSet};

use ilion_cql::language::ast::{Permission, Statement};
use ilion_cql::protocol::{Consistency, QueryParameters, ResultBody, Value, Values};

use super::super::{Coordinator, parse};
use crate::auth::grants::RoleRecord;
use crate::auth::resource::{permission_name, permission_named};
use crate::auth::{AUTH_KEYSPACE, Resource};
use crate::values::Bound;
use crate::{Error, Result, data, select};

/// A row by column name; null columns are absent.
pub(super) type Row = BTreeMap<String, Value>;

/// `s` as a CQL string literal.
pub(super) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `{'A', 'B'}`: a set of permission names.
fn permission_set(perms: &BTreeSet<Permission>) -> String {
    let names: Vec<String> = perms.iter().map(|p| lit(permission_name(*p))).collect();
    format!("{{{}}}", names.join(", "))
}

fn text(row: &Row, column: &str) -> Option<String> {
    match row.get(column) {
        Some(Value::Text(s) | Value::Ascii(s)) => Some(s.clone()),
        _ => None,
    }
}

fn boolean(row: &Row, column: &str) -> bool {
    matches!(row.get(column), Some(Value::Boolean(true)))
}

fn text_set(row: &Row, column: &str) -> BTreeSet<String> {
    match row.get(column) {
        Some(Value::Set(items)) => items
            .iter()
            .filter_map(|v| match v {
                Value::Text(s) | Value::Ascii(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => BTreeSet::new(),
    }
}

fn permissions_of(row: &Row) -> BTreeSet<Permission> {
    text_set(row, "permissions")
        .iter()
        .filter_map(|n| permission_named(n))
        .collect()
}

impl Coordinator {
    fn auth_params(&self) -> QueryParameters {
        let mut params = QueryParameters::new(Consistency::Quorum);
        params.default_timestamp = Some(self.replica.micros());
        params
    }

    /// Runs an INSERT, UPDATE or DELETE of a `system_auth` table.
    pub(super) fn auth_write(&self, cql: &str) -> Result<()> {
        let parsed = parse(cql)?;
        let params = self.auth_params();
        let bound = Bound::new(&Values::None, &parsed.bind_markers)?;
        let schema = self.schema.read().clone();
        let table_of = |name| self.resolve_table(&schema, name, Some(AUTH_KEYSPACE));
        let writes = match &parsed.statement {
            Statement::Insert(s) => {
                let (ks, t) = table_of(&s.table)?;
                data::insert(&*self.data, ks, t, s, &bound, &params)?
            }
            Statement::Update(s) => {
                let (ks, t) = table_of(&s.table)?;
                data::update(&*self.data, ks, t, s, &bound, &params)?
            }
            Statement::Delete(s) => {
                let (ks, t) = table_of(&s.table)?;
                data::delete(&*self.data, ks, t, s, &bound, &params)?
            }
            _ => return Err(Error::server("not a write of system_auth")),
        };
        self.data.write(&writes, params.consistency, false)
    }

    /// Runs a SELECT of a `system_auth` table; its rows by column name.
    pub(super) fn auth_read(&self, cql: &str) -> Result<Vec<Row>> {
        let parsed = parse(cql)?;
        let Statement::Select(s) = &parsed.statement else {
            return Err(Error::server("not a read of system_auth"));
        };
        let params = QueryParameters::new(Consistency::Quorum);
        let bound = Bound::new(&Values::None, &parsed.bind_markers)?;
        let schema = self.schema.read().clone();
        let (ks, table) = self.resolve_table(&schema, &s.table, Some(AUTH_KEYSPACE))?;
        let selection = select::Selection::compile(s, table, ks)?;
        let executed = data::select(&*self.data, ks, table, s, &selection, &bound, &params)?;
        let ResultBody::Rows(rows) = executed.result else {
            return Ok(Vec::new());
        };
        let columns = rows.metadata.columns.clone().unwrap_or_default();
        let mut out = Vec::with_capacity(rows.rows_count);
        for cells in rows.rows() {
            let mut row = Row::new();
            for (spec, cell) in columns.iter().zip(cells) {
                if let Some(raw) = cell {
                    let v = spec
                        .ty
                        .decode(raw)
                        .map_err(|e| Error::server(format!("system_auth value: {e}")))?;
                    row.insert(spec.name.clone(), v);
                }
            }
            out.push(row);
        }
        Ok(out)
    }

    /// The row of `system_auth.roles` for `name`.
    pub(super) fn role_record(&self, name: &str) -> Result<Option<RoleRecord>> {
        let rows = self.auth_read(&format!(
            "SELECT role, can_login, is_superuser, member_of, salted_hash \
             FROM system_auth.roles WHERE role = {}",
            lit(name)
        ))?;
        Ok(rows.first().map(|row| RoleRecord {
            name: name.to_owned(),
            superuser: boolean(row, "is_superuser"),
            login: boolean(row, "can_login"),
            member_of: text_set(row, "member_of"),
            salted_hash: text(row, "salted_hash"),
        }))
    }

    /// Every role's name.
    pub(super) fn all_role_names(&self) -> Result<BTreeSet<String>> {
        let rows = self.auth_read("SELECT role FROM system_auth.roles")?;
        Ok(rows.iter().filter_map(|r| text(r, "role")).collect())
    }

    /// The permissions granted to `role` directly on exactly `resource`.
    pub(super) fn granted(&self, role: &str, resource: &Resource) -> Result<BTreeSet<Permission>> {
        let rows = self.auth_read(&format!(
            "SELECT permissions FROM system_auth.role_permissions WHERE role = {} AND resource = {}",
            lit(role),
            lit(&resource.name())
        ))?;
        Ok(rows.first().map(permissions_of).unwrap_or_default())
    }

    /// Every grant of permissions: (role, resource, permissions).
    pub(super) fn all_grants(&self) -> Result<Vec<(String, Resource, BTreeSet<Permission>)>> {
        let rows =
            self.auth_read("SELECT role, resource, permissions FROM system_auth.role_permissions")?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let role = text(r, "role")?;
                let resource = Resource::from_name(&text(r, "resource")?)?;
                Some((role, resource, permissions_of(r)))
            })
            .collect())
    }

    /// The roles `role` is granted to (`role_members`).
    pub(super) fn members_of(&self, role: &str) -> Result<Vec<String>> {
        let rows = self.auth_read(&format!(
            "SELECT member FROM system_auth.role_members WHERE role = {}",
            lit(role)
        ))?;
        Ok(rows.iter().filter_map(|r| text(r, "member")).collect())
    }

    /// Adds `perms` to what `role` holds on `resource`.
    pub(super) fn add_permissions(
        &self,
        role: &str,
        resource: &Resource,
        perms: &BTreeSet<Permission>,
    ) -> Result<()> {
        if perms.is_empty() {
            return Ok(());
        }
        self.auth_write(&format!(
            "UPDATE system_auth.role_permissions SET permissions = permissions + {} \
             WHERE role = {} AND resource = {}",
            permission_set(perms),
            lit(role),
            lit(&resource.name())
        ))?;
        self.auth_write(&format!(
            "INSERT INTO system_auth.resource_role_permissons_index (resource, role) VALUES ({}, {})",
            lit(&resource.name()),
            lit(role)
        ))
    }

    /// Takes `perms` from what `role` holds on `resource`; the row and its index entry go
    /// when nothing is left.
    pub(super) fn remove_permissions(
        &self,
        role: &str,
        resource: &Resource,
        perms: &BTreeSet<Permission>,
    ) -> Result<()> {
        self.auth_write(&format!(
            "UPDATE system_auth.role_permissions SET permissions = permissions - {} \
             WHERE role = {} AND resource = {}",
            permission_set(perms),
            lit(role),
            lit(&resource.name())
        ))?;
        if self.granted(role, resource)?.is_empty() {
            self.delete_grant(role, resource)?;
        }
        Ok(())
    }

    /// Deletes the grant row of `role` on `resource` and its index entry.
    pub(super) fn delete_grant(&self, role: &str, resource: &Resource) -> Result<()> {
        self.auth_write(&format!(
            "DELETE FROM system_auth.role_permissions WHERE role = {} AND resource = {}",
            lit(role),
            lit(&resource.name())
        ))?;
        self.auth_write(&format!(
            "DELETE FROM system_auth.resource_role_permissons_index WHERE resource = {} AND role = {}",
            lit(&resource.name()),
            lit(role)
        ))
    }
}
