//! Roles, users, GRANT, REVOKE and LIST.

use super::Parser;
use crate::language::ast::{
    AlterRole, AlterUser, CreateRole, CreateUser, DropRole, DropUser, Grant, GrantRole, Ident,
    ListPermissions, ListRoles, Permission, Permissions, Resource, Revoke, RevokeRole, RoleOption,
    Statement,
};
use crate::language::error::SyntaxError;
use crate::language::token::{Sym, TokenKind};

fn permission_named(w: &str) -> Option<Permission> {
    Some(match w {
        "create" => Permission::Create,
        "alter" => Permission::Alter,
        "drop" => Permission::Drop,
        "select" => Permission::Select,
        "modify" => Permission::Modify,
        "authorize" => Permission::Authorize,
        "describe" => Permission::Describe,
        "execute" => Permission::Execute,
        _ => return None,
    })
}

impl Parser<'_> {
    fn bool_literal(&mut self) -> Result<bool, SyntaxError> {
        let b = match self.peek_word().as_deref() {
            Some("true") => true,
            Some("false") => false,
            _ => return Err(self.expected("true or false")),
        };
        self.advance();
        Ok(b)
    }

    fn role_options(&mut self) -> Result<Vec<RoleOption>, SyntaxError> {
        let mut out = Vec::new();
        loop {
            let w = self.peek_word();
            let opt = match w.as_deref() {
                Some("password") => {
                    self.advance();
                    self.expect_sym(Sym::Eq)?;
                    RoleOption::Password(self.string()?)
                }
                Some("hashed") => {
                    self.advance();
                    self.expect_kw("password")?;
                    self.expect_sym(Sym::Eq)?;
                    RoleOption::HashedPassword(self.string()?)
                }
                Some("login") => {
                    self.advance();
                    self.expect_sym(Sym::Eq)?;
                    RoleOption::Login(self.bool_literal()?)
                }
                Some("superuser") => {
                    self.advance();
                    self.expect_sym(Sym::Eq)?;
                    RoleOption::Superuser(self.bool_literal()?)
                }
                Some("options") => {
                    self.advance();
                    self.expect_sym(Sym::Eq)?;
                    self.expect_sym(Sym::LBrace)?;
                    RoleOption::Options(self.literal_map_rest()?)
                }
                Some("access") => {
                    self.advance();
                    self.expect_kw("to")?;
                    if self.eat_kw("all") {
                        self.expect_kw("datacenters")?;
                        RoleOption::AccessToAllDatacenters
                    } else {
                        self.expect_kw("datacenters")?;
                        self.expect_sym(Sym::LBrace)?;
                        let dcs = self.comma_list(|p| p.string())?;
                        self.expect_sym(Sym::RBrace)?;
                        RoleOption::AccessToDatacenters(dcs)
                    }
                }
                _ => {
                    return Err(self.expected(
                        "PASSWORD, HASHED PASSWORD, LOGIN, SUPERUSER, OPTIONS or ACCESS",
                    ));
                }
            };
            out.push(opt);
            if !self.eat_kw("and") {
                return Ok(out);
            }
        }
    }

    pub(crate) fn create_role(&mut self) -> Result<Statement, SyntaxError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.role_name()?;
        let options = if self.eat_kw("with") {
            self.role_options()?
        } else {
            Vec::new()
        };
        Ok(Statement::CreateRole(CreateRole {
            if_not_exists,
            name,
            options,
        }))
    }

    pub(crate) fn alter_role(&mut self) -> Result<Statement, SyntaxError> {
        let if_exists = self.if_exists()?;
        let name = self.role_name()?;
        self.expect_kw("with")?;
        let options = self.role_options()?;
        Ok(Statement::AlterRole(AlterRole {
            if_exists,
            name,
            options,
        }))
    }

    pub(crate) fn drop_role(&mut self) -> Result<Statement, SyntaxError> {
        let if_exists = self.if_exists()?;
        Ok(Statement::DropRole(DropRole {
            if_exists,
            name: self.role_name()?,
        }))
    }

    /// `[WITH PASSWORD 'p'] [SUPERUSER | NOSUPERUSER]`.
    fn user_options(&mut self) -> Result<(Option<String>, Option<bool>), SyntaxError> {
        let password = if self.eat_kw("with") {
            self.expect_kw("password")?;
            Some(self.string()?)
        } else {
            None
        };
        let superuser = if self.eat_kw("superuser") {
            Some(true)
        } else if self.eat_kw("nosuperuser") {
            Some(false)
        } else {
            None
        };
        Ok((password, superuser))
    }

    pub(crate) fn create_user(&mut self) -> Result<Statement, SyntaxError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.role_name()?;
        let (password, superuser) = self.user_options()?;
        Ok(Statement::CreateUser(CreateUser {
            if_not_exists,
            name,
            password,
            superuser,
        }))
    }

    pub(crate) fn alter_user(&mut self) -> Result<Statement, SyntaxError> {
        let if_exists = self.if_exists()?;
        let name = self.role_name()?;
        let (password, superuser) = self.user_options()?;
        Ok(Statement::AlterUser(AlterUser {
            if_exists,
            name,
            password,
            superuser,
        }))
    }

    pub(crate) fn drop_user(&mut self) -> Result<Statement, SyntaxError> {
        let if_exists = self.if_exists()?;
        Ok(Statement::DropUser(DropUser {
            if_exists,
            name: self.role_name()?,
        }))
    }

    fn is_permission_start(&self) -> bool {
        match self.peek_word().as_deref() {
            Some("all") => true,
            Some(w) => permission_named(w).is_some(),
            None => false,
        }
    }

    fn permissions(&mut self) -> Result<Permissions, SyntaxError> {
        if self.eat_kw("all") {
            self.eat_kw("permissions");
            return Ok(Permissions::All);
        }
        let p = self.peek_word().as_deref().and_then(permission_named);
        let Some(p) = p else {
            return Err(self.expected("a permission"));
        };
        self.advance();
        self.eat_kw("permission");
        Ok(Permissions::One(p))
    }

    fn resource(&mut self) -> Result<Resource, SyntaxError> {
        if self.is_kw("all") {
            let what = self.word_at(1);
            let r = match what.as_deref() {
                Some("keyspaces") => Resource::AllKeyspaces,
                Some("roles") => Resource::AllRoles,
                Some("mbeans") => Resource::AllMbeans,
                Some("functions") => {
                    self.pos += 2;
                    let keyspace = if self.eat_kw("in") {
                        self.expect_kw("keyspace")?;
                        Some(self.ident()?)
                    } else {
                        None
                    };
                    return Ok(Resource::AllFunctions { keyspace });
                }
                _ => {
                    self.advance();
                    return Err(self.expected("KEYSPACES, ROLES, FUNCTIONS or MBEANS"));
                }
            };
            self.pos += 2;
            return Ok(r);
        }
        if self.eat_kw("keyspace") {
            return Ok(Resource::Keyspace(self.ident()?));
        }
        if self.is_kw("role")
            && !self.is_sym_at(1, Sym::Dot)
            && self.peek_at(1).kind != TokenKind::Eof
        {
            self.advance();
            return Ok(Resource::Role(self.role_name()?));
        }
        if self.is_kw("function")
            && !self.is_sym_at(1, Sym::Dot)
            && self.peek_at(1).kind != TokenKind::Eof
        {
            self.advance();
            let name = self.function_name()?;
            let args = self.paren_list(true, |p| p.cql_type())?;
            return Ok(Resource::Function { name, args });
        }
        if self.eat_kw("mbean") {
            return Ok(Resource::Mbean(self.string()?));
        }
        if self.eat_kw("mbeans") {
            return Ok(Resource::Mbeans(self.string()?));
        }
        self.eat_kw("table");
        Ok(Resource::Table(self.qualified_name()?))
    }

    pub(crate) fn grant(&mut self) -> Result<Statement, SyntaxError> {
        self.expect_kw("grant")?;
        if self.is_permission_start() {
            let permissions = self.permissions()?;
            self.expect_kw("on")?;
            let resource = self.resource()?;
            self.expect_kw("to")?;
            let role = self.role_name()?;
            return Ok(Statement::Grant(Grant {
                permissions,
                resource,
                role,
            }));
        }
        let role = self.role_name()?;
        self.expect_kw("to")?;
        Ok(Statement::GrantRole(GrantRole {
            role,
            grantee: self.role_name()?,
        }))
    }

    pub(crate) fn revoke(&mut self) -> Result<Statement, SyntaxError> {
        self.expect_kw("revoke")?;
        if self.is_permission_start() {
            let permissions = self.permissions()?;
            self.expect_kw("on")?;
            let resource = self.resource()?;
            self.expect_kw("from")?;
            let role = self.role_name()?;
            return Ok(Statement::Revoke(Revoke {
                permissions,
                resource,
                role,
            }));
        }
        let role = self.role_name()?;
        self.expect_kw("from")?;
        Ok(Statement::RevokeRole(RevokeRole {
            role,
            revokee: self.role_name()?,
        }))
    }

    fn of_role(&mut self) -> Result<(Option<Ident>, bool), SyntaxError> {
        let of = if self.eat_kw("of") {
            Some(self.role_name()?)
        } else {
            None
        };
        let recursive = !self.eat_kw("norecursive");
        Ok((of, recursive))
    }

    pub(crate) fn list(&mut self) -> Result<Statement, SyntaxError> {
        self.expect_kw("list")?;
        if self.eat_kw("roles") {
            let (of, recursive) = self.of_role()?;
            return Ok(Statement::ListRoles(ListRoles { of, recursive }));
        }
        if self.eat_kw("users") {
            return Ok(Statement::ListUsers);
        }
        if !self.is_permission_start() {
            return Err(self.expected("ROLES, USERS or a permission"));
        }
        let permissions = self.permissions()?;
        let resource = if self.eat_kw("on") {
            Some(self.resource()?)
        } else {
            None
        };
        let (of, recursive) = self.of_role()?;
        Ok(Statement::ListPermissions(ListPermissions {
            permissions,
            resource,
            of,
            recursive,
        }))
    }
}
