//! Column types as the schema stores them: `ilion-types`' [`CqlType`], resolved in a keyspace.
//!
//! A stored type names its user types only (a [`CqlType::Udt`] without fields or keyspace):
//! fields change with ALTER TYPE, so they are looked up from the keyspace when a type is used
//! ([`expand`]). Its two outward forms are the text of `system_schema.columns.type`
//! ([`CqlType::schema_text`]) and the protocol's column type ([`expand`]).

use ilion_types::{CqlType, UdtType};

use super::Keyspace;
use crate::{Error, Result};

/// Resolves a parsed type in `keyspace`: user types must exist there; `frozen<tuple<..>>` is
/// `tuple<..>` (tuples are frozen already).
pub(crate) fn resolve(ty: &CqlType, keyspace: &Keyspace) -> Result<CqlType> {
    // Counters are columns of their own, never parts of a value (Cassandra's messages).
    match ty {
        CqlType::List { element: v, .. } | CqlType::Set { element: v, .. } if v.is_counter() => {
            return Err(Error::invalid(format!(
                "Counters are not allowed inside collections: {ty}"
            )));
        }
        CqlType::Map { key, value, .. } if key.is_counter() || value.is_counter() => {
            return Err(Error::invalid(format!(
                "Counters are not allowed inside collections: {ty}"
            )));
        }
        CqlType::Tuple(ts) if ts.iter().any(CqlType::is_counter) => {
            return Err(Error::invalid("Counters are not allowed inside tuples"));
        }
        _ => {}
    }
    Ok(match ty {
        CqlType::List { element, frozen } => CqlType::List {
            element: Box::new(resolve(element, keyspace)?),
            frozen: *frozen,
        },
        CqlType::Set { element, frozen } => CqlType::Set {
            element: Box::new(resolve(element, keyspace)?),
            frozen: *frozen,
        },
        CqlType::Map { key, value, frozen } => CqlType::Map {
            key: Box::new(resolve(key, keyspace)?),
            value: Box::new(resolve(value, keyspace)?),
            frozen: *frozen,
        },
        CqlType::Tuple(ts) => CqlType::Tuple(
            ts.iter()
                .map(|t| resolve(t, keyspace))
                .collect::<Result<_>>()?,
        ),
        CqlType::Udt(u) => {
            if let Some(ks) = &u.keyspace
                && ks.as_str() != keyspace.name
            {
                return Err(Error::invalid(format!(
                    "Statement on keyspace {} cannot refer to a user type in keyspace {ks}; \
                     user types can only be used in the keyspace they are defined in",
                    keyspace.name
                )));
            }
            if !keyspace.types.contains_key(&u.name) {
                return Err(Error::invalid(format!(
                    "Unknown type {}.{}",
                    keyspace.name, u.name
                )));
            }
            CqlType::Udt(UdtType {
                keyspace: None,
                name: u.name.clone(),
                fields: Vec::new(),
                frozen: u.frozen,
            })
        }
        CqlType::Vector { element, dimension } => {
            if *dimension == 0 {
                return Err(Error::invalid(format!(
                    "vectors may only have positive dimensions; given {dimension}"
                )));
            }
            if element.is_counter() {
                return Err(Error::invalid("vectors may not contain counters"));
            }
            CqlType::Vector {
                element: Box::new(resolve(element, keyspace)?),
                dimension: *dimension,
            }
        }
        CqlType::Custom(class) => {
            return Err(Error::not_supported(&format!("The custom type '{class}'")));
        }
        native => native.clone(),
    })
}

/// The full type of a stored type: user types with their keyspace and current fields from
/// `keyspace` (what storage stores and orders by).
pub(crate) fn expand(ty: &CqlType, keyspace: &Keyspace) -> CqlType {
    match ty {
        CqlType::List { element, frozen } => CqlType::List {
            element: Box::new(expand(element, keyspace)),
            frozen: *frozen,
        },
        CqlType::Set { element, frozen } => CqlType::Set {
            element: Box::new(expand(element, keyspace)),
            frozen: *frozen,
        },
        CqlType::Map { key, value, frozen } => CqlType::Map {
            key: Box::new(expand(key, keyspace)),
            value: Box::new(expand(value, keyspace)),
            frozen: *frozen,
        },
        CqlType::Tuple(ts) => CqlType::Tuple(ts.iter().map(|t| expand(t, keyspace)).collect()),
        CqlType::Vector { element, dimension } => CqlType::Vector {
            element: Box::new(expand(element, keyspace)),
            dimension: *dimension,
        },
        CqlType::Udt(u) => CqlType::Udt(UdtType {
            keyspace: Some(keyspace.name.clone()),
            name: u.name.clone(),
            fields: keyspace.types.get(&u.name).map_or_else(Vec::new, |def| {
                def.fields
                    .iter()
                    .map(|(f, t)| (f.clone(), expand(t, keyspace)))
                    .collect()
            }),
            frozen: u.frozen,
        }),
        other => other.clone(),
    }
}

/// Whether `ty` names the user type `name` anywhere inside.
pub(crate) fn uses_type(ty: &CqlType, name: &str) -> bool {
    match ty {
        CqlType::Udt(u) => u.name == name,
        other => other.children().into_iter().any(|t| uses_type(t, name)),
    }
}

/// An identifier as CQL text: quoted when it is not all lowercase alphanumerics.
pub(crate) fn quote_if_needed(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// [`expand`] as a method of stored types.
pub(crate) trait SchemaType {
    /// The protocol's column type: user types expanded from `keyspace`, and no frozen flags
    /// (the protocol has none, so a frozen and a non-frozen column describe alike).
    fn column_type(&self, keyspace: &Keyspace) -> CqlType;
}

impl SchemaType for CqlType {
    fn column_type(&self, keyspace: &Keyspace) -> CqlType {
        expand(self, keyspace).unfrozen_deep()
    }
}
