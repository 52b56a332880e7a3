//! Column types as the schema stores them, and their two outward forms: the text of
//! `system_schema.columns.type` and the protocol's [`ColumnType`].

use ilion_cql::language::ast::{CqlType, NativeType};
use ilion_cql::protocol::{ColumnType, UdtType};
use serde::{Deserialize, Serialize};

use super::Keyspace;
use crate::{Error, Result};

/// A column or field type. `Native` holds the canonical native name (`varchar` is `text`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    Native(String),
    List(Box<DataType>),
    Set(Box<DataType>),
    Map(Box<DataType>, Box<DataType>),
    /// Tuples are always frozen.
    Tuple(Vec<DataType>),
    Frozen(Box<DataType>),
    /// A user type of the same keyspace, by name.
    Udt(String),
}

impl DataType {
    /// Resolves a parsed type in `keyspace` (user types must exist there).
    pub(crate) fn from_ast(ty: &CqlType, keyspace: &Keyspace) -> Result<DataType> {
        Ok(match ty {
            CqlType::Native(n) => {
                let name = match n {
                    NativeType::Varchar => NativeType::Text.name(),
                    other => other.name(),
                };
                DataType::Native(name.to_owned())
            }
            CqlType::List(t) => DataType::List(Box::new(DataType::from_ast(t, keyspace)?)),
            CqlType::Set(t) => DataType::Set(Box::new(DataType::from_ast(t, keyspace)?)),
            CqlType::Map(k, v) => DataType::Map(
                Box::new(DataType::from_ast(k, keyspace)?),
                Box::new(DataType::from_ast(v, keyspace)?),
            ),
            CqlType::Tuple(ts) => DataType::Tuple(
                ts.iter()
                    .map(|t| DataType::from_ast(t, keyspace))
                    .collect::<Result<_>>()?,
            ),
            CqlType::Frozen(t) => match DataType::from_ast(t, keyspace)? {
                // frozen<tuple<..>> is just tuple<..>: tuples are frozen already.
                t @ DataType::Tuple(_) => t,
                t => DataType::Frozen(Box::new(t)),
            },
            CqlType::Udt(name) => {
                if let Some(ks) = &name.keyspace
                    && ks.as_str() != keyspace.name
                {
                    return Err(Error::invalid(format!(
                        "Statement on keyspace {} cannot refer to a user type in keyspace {ks}; \
                         user types can only be used in the keyspace they are defined in",
                        keyspace.name
                    )));
                }
                let n = name.name.as_str();
                if !keyspace.types.contains_key(n) {
                    return Err(Error::invalid(format!(
                        "Unknown type {}.{n}",
                        keyspace.name
                    )));
                }
                DataType::Udt(n.to_owned())
            }
            CqlType::Vector(..) => return Err(Error::not_supported("The vector type")),
            CqlType::Custom(class) => {
                return Err(Error::not_supported(&format!("The custom type '{class}'")));
            }
        })
    }

    /// Whether this is a collection that is not frozen (and so cannot be a key or nested).
    pub fn is_multicell_collection(&self) -> bool {
        matches!(
            self,
            DataType::List(_) | DataType::Set(_) | DataType::Map(..)
        )
    }

    /// Whether the type is (or freezes) a counter.
    pub fn is_counter(&self) -> bool {
        matches!(self, DataType::Native(n) if n == "counter")
    }

    /// The protocol type, with user types expanded from `keyspace`.
    pub fn column_type(&self, keyspace: &Keyspace) -> ColumnType {
        match self {
            DataType::Native(n) => native_column_type(n),
            DataType::List(t) => ColumnType::List(Box::new(t.column_type(keyspace))),
            DataType::Set(t) => ColumnType::Set(Box::new(t.column_type(keyspace))),
            DataType::Map(k, v) => ColumnType::Map(
                Box::new(k.column_type(keyspace)),
                Box::new(v.column_type(keyspace)),
            ),
            DataType::Tuple(ts) => {
                ColumnType::Tuple(ts.iter().map(|t| t.column_type(keyspace)).collect())
            }
            DataType::Frozen(t) => t.column_type(keyspace),
            DataType::Udt(name) => ColumnType::Udt(UdtType {
                keyspace: keyspace.name.clone(),
                name: name.clone(),
                fields: keyspace.types.get(name).map_or_else(Vec::new, |u| {
                    u.fields
                        .iter()
                        .map(|(f, t)| (f.clone(), t.column_type(keyspace)))
                        .collect()
                }),
            }),
        }
    }
}

/// The protocol type of a canonical native type name.
pub(crate) fn native_column_type(name: &str) -> ColumnType {
    match name {
        "ascii" => ColumnType::Ascii,
        "bigint" => ColumnType::Bigint,
        "blob" => ColumnType::Blob,
        "boolean" => ColumnType::Boolean,
        "counter" => ColumnType::Counter,
        "date" => ColumnType::Date,
        "decimal" => ColumnType::Decimal,
        "double" => ColumnType::Double,
        "duration" => ColumnType::Duration,
        "float" => ColumnType::Float,
        "inet" => ColumnType::Inet,
        "int" => ColumnType::Int,
        "smallint" => ColumnType::Smallint,
        "time" => ColumnType::Time,
        "timestamp" => ColumnType::Timestamp,
        "timeuuid" => ColumnType::Timeuuid,
        "tinyint" => ColumnType::Tinyint,
        "uuid" => ColumnType::Uuid,
        "varint" => ColumnType::Varint,
        // "text"; the schema only stores names produced by `from_ast`.
        _ => ColumnType::Varchar,
    }
}

/// The text `system_schema.columns.type` holds: `text`, `frozen<list<int>>`,
/// `map<text, int>`, `frozen<tuple<int, text>>`, `frozen<address>`.
impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataType::Native(n) => f.write_str(n),
            DataType::List(t) => write!(f, "list<{t}>"),
            DataType::Set(t) => write!(f, "set<{t}>"),
            DataType::Map(k, v) => write!(f, "map<{k}, {v}>"),
            DataType::Tuple(ts) => {
                f.write_str("frozen<tuple<")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str(">>")
            }
            DataType::Frozen(t) => write!(f, "frozen<{t}>"),
            DataType::Udt(n) => f.write_str(&quote_if_needed(n)),
        }
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
