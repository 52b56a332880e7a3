//! CREATE / ALTER / DROP ROLE and USER, GRANT and REVOKE of roles, LIST ROLES and LIST USERS,
//! with Cassandra's checks in Cassandra's order: the statement's own validity, the login, the
//! existence of what it names, then the permissions of the role running it.

use std::collections::BTreeSet;

use ilion_cql::language::ast::{
    AlterRole, AlterUser, CreateRole, CreateUser, ListRoles, Permission, RoleOption,
};
use ilion_cql::protocol::{ColumnSpec, CqlType, ResultBody, Rows, RowsMetadata, TableSpec, Value};

use super::super::Coordinator;
use super::store::lit;
use crate::auth::grants::{self, grant_cycle};
use crate::auth::{Resource, sasl};
use crate::{Error, Result};

/// The options of CREATE / ALTER ROLE that Ilion stores.
#[derive(Debug, Default)]
struct Options {
    password: Option<String>,
    hashed_password: Option<String>,
    login: Option<bool>,
    superuser: Option<bool>,
}

impl Options {
    fn of(options: &[RoleOption]) -> Result<Options> {
        let mut out = Options::default();
        for o in options {
            match o {
                RoleOption::Password(p) => out.password = Some(p.clone()),
                RoleOption::HashedPassword(h) => out.hashed_password = Some(h.clone()),
                RoleOption::Login(b) => out.login = Some(*b),
                RoleOption::Superuser(b) => out.superuser = Some(*b),
                RoleOption::Options(_) => {
                    return Err(Error::invalid(
                        "OPTIONS is not supported by CassandraRoleManager",
                    ));
                }
                RoleOption::AccessToAllDatacenters | RoleOption::AccessToDatacenters(_) => {
                    return Err(Error::not_supported("ACCESS TO DATACENTERS"));
                }
            }
        }
        if out.password.is_some() && out.hashed_password.is_some() {
            return Err(Error::invalid(
                "Options 'password' and 'hashed password' are mutually exclusive",
            ));
        }
        if let Some(h) = &out.hashed_password
            && !sasl::is_bcrypt_hash(h)
        {
            return Err(Error::invalid("Hashed password is invalid"));
        }
        Ok(out)
    }

    /// The option names Cassandra's messages use.
    fn names(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.password.is_some() {
            out.push("PASSWORD");
        }
        if self.hashed_password.is_some() {
            out.push("HASHED_PASSWORD");
        }
        if self.login.is_some() {
            out.push("LOGIN");
        }
        if self.superuser.is_some() {
            out.push("SUPERUSER");
        }
        out
    }

    /// The bcrypt hash to store, if the options set a password.
    fn hash(&self) -> Result<Option<String>> {
        if let Some(h) = &self.hashed_password {
            return Ok(Some(h.clone()));
        }
        match &self.password {
            Some(p) => sasl::hash_password(p)
                .map(Some)
                .map_err(|e| Error::invalid(format!("cannot hash the password: {e}"))),
            None => Ok(None),
        }
    }

    /// `col = value, ...` of the options set, for an UPDATE of `system_auth.roles`.
    fn assignments(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        if let Some(h) = self.hash()? {
            out.push(format!("salted_hash = {}", lit(&h)));
        }
        if let Some(l) = self.login {
            out.push(format!("can_login = {l}"));
        }
        if let Some(s) = self.superuser {
            out.push(format!("is_superuser = {s}"));
        }
        Ok(out)
    }
}

fn role_spec(name: &str, ty: CqlType) -> ColumnSpec {
    ColumnSpec {
        table: TableSpec {
            keyspace: "system_auth".to_owned(),
            table: "roles".to_owned(),
        },
        name: name.to_owned(),
        ty,
    }
}

/// A result of text, boolean and map cells, or Void when there are no rows (as Cassandra).
pub(super) fn rows_result(columns: Vec<ColumnSpec>, rows: Vec<Vec<Value>>) -> Result<ResultBody> {
    if rows.is_empty() {
        return Ok(ResultBody::Void);
    }
    let mut cells = Vec::with_capacity(rows.len() * columns.len());
    for row in &rows {
        for (spec, v) in columns.iter().zip(row) {
            let bytes = spec
                .ty
                .to_bytes(v)
                .map_err(|e| Error::server(format!("cannot encode a result: {e}")))?;
            cells.push(Some(bytes));
        }
    }
    Ok(ResultBody::Rows(Rows {
        rows_count: rows.len(),
        metadata: RowsMetadata::new(columns),
        cells,
    }))
}

impl Coordinator {
    fn role_exists(&self, name: &str) -> Result<bool> {
        Ok(self.role_record(name)?.is_some())
    }

    fn create_role_with(
        &self,
        user: Option<&str>,
        name: &str,
        if_not_exists: bool,
        options: &Options,
    ) -> Result<ResultBody> {
        if name.is_empty() {
            return Err(Error::invalid("Role name can't be an empty string"));
        }
        let user = self.login(user)?;
        let exists = self.role_exists(name)?;
        if exists && !if_not_exists {
            return Err(Error::invalid(format!("{name} already exists")));
        }
        if self.access.authorizing() {
            self.ensure(user, Permission::Create, &Resource::AllRoles)?;
        }
        if options.superuser == Some(true) && !self.held_roles(user)?.superuser {
            return Err(Error::unauthorized(
                "Only superusers can create a role with superuser status",
            ));
        }
        if exists {
            return Ok(ResultBody::Void);
        }
        let hash = options.hash()?;
        self.auth_write(&format!(
            "INSERT INTO system_auth.roles (role, is_superuser, can_login, salted_hash) \
             VALUES ({}, {}, {}, {})",
            lit(name),
            options.superuser.unwrap_or(false),
            options.login.unwrap_or(false),
            hash.as_deref().map_or_else(|| "null".to_owned(), lit)
        ))?;
        if self.access.authorizing() {
            let role = Resource::Role(name.to_owned());
            let all = role.applicable_set();
            self.add_permissions(user, &role, &all)?;
        }
        self.access.clear();
        Ok(ResultBody::Void)
    }

    pub(super) fn create_role(&self, user: Option<&str>, s: &CreateRole) -> Result<ResultBody> {
        let options = Options::of(&s.options)?;
        self.create_role_with(user, s.name.as_str(), s.if_not_exists, &options)
    }

    pub(super) fn create_user(&self, user: Option<&str>, s: &CreateUser) -> Result<ResultBody> {
        let options = Options {
            password: s.password.clone(),
            login: Some(true),
            superuser: Some(s.superuser.unwrap_or(false)),
            ..Options::default()
        };
        self.create_role_with(user, s.name.as_str(), s.if_not_exists, &options)
    }

    fn alter_role_with(
        &self,
        user: Option<&str>,
        name: &str,
        if_exists: bool,
        options: &Options,
    ) -> Result<ResultBody> {
        if options.names().is_empty() {
            return Err(Error::invalid("ALTER [ROLE|USER] can't be empty"));
        }
        let user = self.login(user)?;
        if !self.role_exists(name)? {
            if if_exists {
                return Ok(ResultBody::Void);
            }
            return Err(Error::invalid(format!("{name} doesn't exist")));
        }
        let held = self.held_roles(user)?;
        if options.superuser.is_some() && held.names.iter().any(|r| r == name) {
            return Err(Error::unauthorized(
                "You aren't allowed to alter your own superuser status or that of a role granted to you",
            ));
        }
        if options.superuser.is_some() && !held.superuser {
            return Err(Error::unauthorized(
                "Only superusers are allowed to alter superuser status",
            ));
        }
        if !held.superuser {
            if user == name {
                if let Some(o) = options
                    .names()
                    .into_iter()
                    .find(|o| !matches!(*o, "PASSWORD" | "HASHED_PASSWORD"))
                {
                    return Err(Error::unauthorized(format!(
                        "You aren't allowed to alter {o}"
                    )));
                }
            } else if self.access.authorizing() {
                self.ensure(user, Permission::Alter, &Resource::Role(name.to_owned()))?;
            }
        }
        self.auth_write(&format!(
            "UPDATE system_auth.roles SET {} WHERE role = {}",
            options.assignments()?.join(", "),
            lit(name)
        ))?;
        self.access.clear();
        Ok(ResultBody::Void)
    }

    pub(super) fn alter_role(&self, user: Option<&str>, s: &AlterRole) -> Result<ResultBody> {
        let options = Options::of(&s.options)?;
        self.alter_role_with(user, s.name.as_str(), s.if_exists, &options)
    }

    pub(super) fn alter_user(&self, user: Option<&str>, s: &AlterUser) -> Result<ResultBody> {
        let options = Options {
            password: s.password.clone(),
            superuser: s.superuser,
            ..Options::default()
        };
        self.alter_role_with(user, s.name.as_str(), s.if_exists, &options)
    }

    pub(super) fn drop_role(
        &self,
        user: Option<&str>,
        name: &str,
        if_exists: bool,
    ) -> Result<ResultBody> {
        let user = self.login(user)?;
        let Some(record) = self.role_record(name)? else {
            if if_exists {
                return Ok(ResultBody::Void);
            }
            return Err(Error::invalid(format!("{name} doesn't exist")));
        };
        if user == name {
            return Err(Error::invalid("Cannot DROP primary role for current login"));
        }
        if self.access.authorizing() {
            self.ensure(user, Permission::Drop, &Resource::Role(name.to_owned()))?;
        }
        if record.superuser && !self.held_roles(user)?.superuser {
            return Err(Error::unauthorized(
                "Only superusers can drop a role with superuser status",
            ));
        }
        // Roles it was granted to lose it; the roles it held lose it as a member.
        for member in self.members_of(name)? {
            self.auth_write(&format!(
                "UPDATE system_auth.roles SET member_of = member_of - {{{}}} WHERE role = {}",
                lit(name),
                lit(&member)
            ))?;
        }
        self.auth_write(&format!(
            "DELETE FROM system_auth.role_members WHERE role = {}",
            lit(name)
        ))?;
        for granted in &record.member_of {
            self.auth_write(&format!(
                "DELETE FROM system_auth.role_members WHERE role = {} AND member = {}",
                lit(granted),
                lit(name)
            ))?;
        }
        self.auth_write(&format!(
            "DELETE FROM system_auth.roles WHERE role = {}",
            lit(name)
        ))?;
        // Its grants, and every grant on it.
        let on_it = Resource::Role(name.to_owned());
        for (role, resource, _) in self.all_grants()? {
            if role == name || resource == on_it {
                self.delete_grant(&role, &resource)?;
            }
        }
        self.access.clear();
        Ok(ResultBody::Void)
    }

    /// Checks shared by GRANT and REVOKE of a role; returns the login.
    fn role_grant_checks<'u>(
        &self,
        user: Option<&'u str>,
        role: &str,
        grantee: &str,
    ) -> Result<&'u str> {
        let user = self.login(user)?;
        for r in [role, grantee] {
            if !self.role_exists(r)? {
                return Err(Error::invalid(format!("{r} doesn't exist")));
            }
        }
        if self.access.authorizing() {
            self.ensure(
                user,
                Permission::Authorize,
                &Resource::Role(role.to_owned()),
            )?;
        }
        Ok(user)
    }

    pub(super) fn grant_role(
        &self,
        user: Option<&str>,
        role: &str,
        grantee: &str,
    ) -> Result<ResultBody> {
        self.role_grant_checks(user, role, grantee)?;
        let direct = |name: &str| grants::held_roles(name, true, |r| self.role_record(r));
        if let Some((a, b)) = grant_cycle(&direct(role)?, &direct(grantee)?) {
            return Err(Error::invalid(format!("{a} is a member of {b}")));
        }
        self.auth_write(&format!(
            "UPDATE system_auth.roles SET member_of = member_of + {{{}}} WHERE role = {}",
            lit(role),
            lit(grantee)
        ))?;
        self.auth_write(&format!(
            "INSERT INTO system_auth.role_members (role, member) VALUES ({}, {})",
            lit(role),
            lit(grantee)
        ))?;
        self.access.clear();
        Ok(ResultBody::Void)
    }

    pub(super) fn revoke_role(
        &self,
        user: Option<&str>,
        role: &str,
        revokee: &str,
    ) -> Result<ResultBody> {
        self.role_grant_checks(user, role, revokee)?;
        let member = self
            .role_record(revokee)?
            .is_some_and(|r| r.member_of.contains(role));
        if !member {
            return Err(Error::invalid(format!(
                "{revokee} is not a member of {role}"
            )));
        }
        self.auth_write(&format!(
            "UPDATE system_auth.roles SET member_of = member_of - {{{}}} WHERE role = {}",
            lit(role),
            lit(revokee)
        ))?;
        self.auth_write(&format!(
            "DELETE FROM system_auth.role_members WHERE role = {} AND member = {}",
            lit(role),
            lit(revokee)
        ))?;
        self.access.clear();
        Ok(ResultBody::Void)
    }

    /// Whether `user` may see every role: a superuser, or DESCRIBE on `<all roles>`.
    fn sees_all_roles(&self, user: &str) -> Result<bool> {
        if !self.access.authorizing() {
            return Ok(true);
        }
        Ok(self
            .permissions_on(user, &Resource::AllRoles)?
            .contains(&Permission::Describe))
    }

    /// The roles LIST ROLES shows to `user`, sorted.
    fn listed_roles(&self, user: &str, of: Option<&str>, recursive: bool) -> Result<Vec<String>> {
        if let Some(of) = of
            && !self.role_exists(of)?
        {
            return Err(Error::invalid(format!("<role {of}> doesn't exist")));
        }
        let of_role = |name: &str| -> Result<BTreeSet<String>> {
            Ok(
                grants::held_roles(name, recursive, |r| self.role_record(r))?
                    .names
                    .into_iter()
                    .collect(),
            )
        };
        let roles = if self.sees_all_roles(user)? {
            match of {
                None => self.all_role_names()?,
                Some(of) => of_role(of)?,
            }
        } else {
            match of {
                None => of_role(user)?,
                Some(of) => {
                    if !self.held_roles(user)?.names.iter().any(|r| r == of) {
                        return Err(Error::unauthorized(format!(
                            "You are not authorized to view roles granted to {of} "
                        )));
                    }
                    of_role(of)?
                }
            }
        };
        Ok(roles.into_iter().collect())
    }

    pub(super) fn list_roles(&self, user: Option<&str>, s: &ListRoles) -> Result<ResultBody> {
        let user = self.login(user)?;
        let roles = self.listed_roles(user, s.of.as_ref().map(|r| r.as_str()), s.recursive)?;
        let columns = vec![
            role_spec("role", CqlType::Text),
            role_spec("super", CqlType::Boolean),
            role_spec("login", CqlType::Boolean),
            role_spec(
                "options",
                CqlType::Map {
                    key: Box::new(CqlType::Text),
                    value: Box::new(CqlType::Text),
                    frozen: false,
                },
            ),
            role_spec("datacenters", CqlType::Text),
        ];
        let mut rows = Vec::new();
        for name in roles {
            let record = self.role_record(&name)?.unwrap_or_default();
            rows.push(vec![
                Value::Text(name),
                Value::Boolean(record.superuser),
                Value::Boolean(record.login),
                Value::Map(Vec::new()),
                Value::Text("ALL".to_owned()),
            ]);
        }
        rows_result(columns, rows)
    }

    pub(super) fn list_users(&self, user: Option<&str>) -> Result<ResultBody> {
        let user = self.login(user)?;
        let roles = self.listed_roles(user, None, true)?;
        let columns = vec![
            role_spec("name", CqlType::Text),
            role_spec("super", CqlType::Boolean),
            role_spec("datacenters", CqlType::Text),
        ];
        let mut rows = Vec::new();
        for name in roles {
            let record = self.role_record(&name)?.unwrap_or_default();
            if record.login {
                rows.push(vec![
                    Value::Text(name),
                    Value::Boolean(record.superuser),
                    Value::Text("ALL".to_owned()),
                ]);
            }
        }
        rows_result(columns, rows)
    }
}
