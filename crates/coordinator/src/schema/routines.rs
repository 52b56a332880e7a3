//! User-defined functions and aggregates: this build runs Cassandra 5.0 with
//! `user_defined_functions_enabled: false` (its default), so CREATE FUNCTION is refused with
//! Cassandra's message, and no aggregate can be created because its state function, which
//! must be a user-defined function of the keyspace, cannot exist.

use ilion_cql::language::ast::{CreateAggregate, CreateFunction, DropRoutine, QualifiedName};

use super::Schema;
use crate::{Error, Result};

/// The keyspace a routine's name lives in: its own, or the session's.
fn keyspace_of<'n>(name: &'n QualifiedName, session: Option<&'n str>) -> Result<&'n str> {
    name.keyspace
        .as_ref()
        .map(|k| k.as_str())
        .or(session)
        .ok_or_else(|| {
            Error::invalid(
                "No keyspace has been specified. USE a keyspace, or explicitly specify \
                 keyspace.tablename",
            )
        })
}

fn both_directives(or_replace: bool, if_not_exists: bool) -> Result<()> {
    if or_replace && if_not_exists {
        return Err(Error::invalid(
            "Cannot use both 'OR REPLACE' and 'IF NOT EXISTS' directives",
        ));
    }
    Ok(())
}

/// CREATE FUNCTION: refused, user-defined functions being disabled.
pub(crate) fn create_function(s: &CreateFunction) -> Result<()> {
    both_directives(s.or_replace, s.if_not_exists)?;
    Err(Error::invalid(
        "User-defined functions are disabled in cassandra.yaml - set \
         user_defined_functions_enabled=true to enable",
    ))
}

/// CREATE AGGREGATE: its state function does not exist (there are no user-defined functions).
pub(crate) fn create_aggregate(
    schema: &Schema,
    s: &CreateAggregate,
    session: Option<&str>,
) -> Result<()> {
    both_directives(s.or_replace, s.if_not_exists)?;
    let ks = keyspace_of(&s.name, session)?;
    if !schema.keyspaces.contains_key(ks) {
        return Err(Error::invalid(format!("Keyspace '{ks}' doesn't exist")));
    }
    let types: Vec<String> = std::iter::once(&s.stype)
        .chain(&s.arg_types)
        .map(ToString::to_string)
        .collect();
    Err(Error::invalid(format!(
        "State function {ks}.{}({}) doesn't exist",
        s.sfunc.as_str(),
        types.join(", ")
    )))
}

/// DROP FUNCTION / DROP AGGREGATE (`what`: "Function" or "Aggregate"): there is none to drop.
pub(crate) fn drop_routine(
    schema: &Schema,
    s: &DropRoutine,
    session: Option<&str>,
    what: &str,
) -> Result<()> {
    let ks = keyspace_of(&s.name, session)?;
    if s.if_exists {
        return Ok(());
    }
    if !schema.keyspaces.contains_key(ks) {
        return Err(Error::invalid(format!("Keyspace '{ks}' doesn't exist")));
    }
    Err(Error::invalid(format!(
        "{what} '{ks}.{}' doesn't exist",
        s.name.name.as_str()
    )))
}
