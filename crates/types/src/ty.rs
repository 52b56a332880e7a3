//! The typed CQL type, its one name table and its CQL text.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A CQL type: every native type, the collections (frozen or not), tuples, user-defined types,
/// vectors and custom types.
///
/// `text` and `varchar` are one type ([`CqlType::Text`]). Tuples are always frozen. A
/// `frozen<...>` around a type that has no non-frozen form (a native type, a tuple, a vector)
/// is the type itself.
///
/// A user-defined type carries its fields once they are known; a type as written in a
/// statement names the UDT only (its `fields` are empty, see [`UdtType::is_resolved`]) until
/// the schema resolves it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CqlType {
    Ascii,
    Bigint,
    Blob,
    Boolean,
    Counter,
    Date,
    Decimal,
    Double,
    Duration,
    Float,
    Inet,
    Int,
    Smallint,
    /// `text`, alias `varchar`.
    Text,
    Time,
    Timestamp,
    Timeuuid,
    Tinyint,
    Uuid,
    Varint,
    /// A list; the element keys of a non-frozen list are timeuuids chosen by the writer.
    List {
        element: Box<CqlType>,
        frozen: bool,
    },
    Set {
        element: Box<CqlType>,
        frozen: bool,
    },
    Map {
        key: Box<CqlType>,
        value: Box<CqlType>,
        frozen: bool,
    },
    /// `tuple<...>`, always frozen.
    Tuple(Vec<CqlType>),
    /// A user-defined type; a non-frozen UDT is stored one cell per field.
    Udt(UdtType),
    /// `vector<element, dimension>`: exactly `dimension` elements, always frozen.
    Vector {
        element: Box<CqlType>,
        dimension: u32,
    },
    /// A custom type by its Java class name: `'org.example.MyType'`.
    Custom(String),
}

/// A user-defined type: its name, the keyspace when known, and its fields in declaration
/// order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UdtType {
    /// The keyspace, when written `ks.name` or known from the schema.
    #[serde(default)]
    pub keyspace: Option<String>,
    pub name: String,
    /// Field names and types; empty until resolved (CQL forbids a UDT without fields).
    pub fields: Vec<(String, CqlType)>,
    pub frozen: bool,
}

impl UdtType {
    /// A UDT known by name only, its fields to be resolved from a schema.
    pub fn named(keyspace: Option<String>, name: impl Into<String>) -> UdtType {
        UdtType {
            keyspace,
            name: name.into(),
            fields: Vec::new(),
            frozen: false,
        }
    }

    /// Whether the fields are known (a UDT as written in a statement has none yet).
    pub fn is_resolved(&self) -> bool {
        !self.fields.is_empty()
    }
}

/// The one table of native type names: every CQL name of a native type, `varchar` included.
/// Names are lowercase; CQL type names are case-insensitive.
pub const NATIVE_TYPES: [(&str, CqlType); 21] = [
    ("ascii", CqlType::Ascii),
    ("bigint", CqlType::Bigint),
    ("blob", CqlType::Blob),
    ("boolean", CqlType::Boolean),
    ("counter", CqlType::Counter),
    ("date", CqlType::Date),
    ("decimal", CqlType::Decimal),
    ("double", CqlType::Double),
    ("duration", CqlType::Duration),
    ("float", CqlType::Float),
    ("inet", CqlType::Inet),
    ("int", CqlType::Int),
    ("smallint", CqlType::Smallint),
    ("text", CqlType::Text),
    ("time", CqlType::Time),
    ("timestamp", CqlType::Timestamp),
    ("timeuuid", CqlType::Timeuuid),
    ("tinyint", CqlType::Tinyint),
    ("uuid", CqlType::Uuid),
    ("varchar", CqlType::Text),
    ("varint", CqlType::Varint),
];

impl CqlType {
    /// The native type called `name` (any case), from [`NATIVE_TYPES`].
    pub fn native(name: &str) -> Option<CqlType> {
        NATIVE_TYPES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, t)| t.clone())
    }

    /// The CQL name of a native type (`text` for text/varchar); `None` for other types.
    pub fn native_name(&self) -> Option<&'static str> {
        NATIVE_TYPES
            .iter()
            .find(|(_, t)| t == self)
            .map(|(n, _)| *n)
    }

    /// Whether this is a native (non-parameterised) type.
    pub fn is_native(&self) -> bool {
        self.native_name().is_some()
    }

    /// A non-frozen list of `element`.
    pub fn list(element: CqlType) -> CqlType {
        CqlType::List {
            element: Box::new(element),
            frozen: false,
        }
    }

    /// A non-frozen set of `element`.
    pub fn set(element: CqlType) -> CqlType {
        CqlType::Set {
            element: Box::new(element),
            frozen: false,
        }
    }

    /// A non-frozen map.
    pub fn map(key: CqlType, value: CqlType) -> CqlType {
        CqlType::Map {
            key: Box::new(key),
            value: Box::new(value),
            frozen: false,
        }
    }

    /// `vector<element, dimension>`.
    pub fn vector(element: CqlType, dimension: u32) -> CqlType {
        CqlType::Vector {
            element: Box::new(element),
            dimension,
        }
    }

    /// The same type, frozen (collections and UDTs; other types are unchanged).
    pub fn frozen(self) -> CqlType {
        self.with_frozen(true)
    }

    /// The same type, not frozen (collections and UDTs; other types are unchanged).
    pub fn unfrozen(self) -> CqlType {
        self.with_frozen(false)
    }

    fn with_frozen(self, frozen: bool) -> CqlType {
        match self {
            CqlType::List { element, .. } => CqlType::List { element, frozen },
            CqlType::Set { element, .. } => CqlType::Set { element, frozen },
            CqlType::Map { key, value, .. } => CqlType::Map { key, value, frozen },
            CqlType::Udt(u) => CqlType::Udt(UdtType { frozen, ..u }),
            other => other,
        }
    }

    /// This type with every level unfrozen: what the native protocol's type descriptors can
    /// say (they have no frozen flag).
    pub fn unfrozen_deep(&self) -> CqlType {
        match self {
            CqlType::List { element, .. } => CqlType::list(element.unfrozen_deep()),
            CqlType::Set { element, .. } => CqlType::set(element.unfrozen_deep()),
            CqlType::Map { key, value, .. } => {
                CqlType::map(key.unfrozen_deep(), value.unfrozen_deep())
            }
            CqlType::Tuple(items) => {
                CqlType::Tuple(items.iter().map(CqlType::unfrozen_deep).collect())
            }
            CqlType::Udt(u) => CqlType::Udt(UdtType {
                keyspace: u.keyspace.clone(),
                name: u.name.clone(),
                fields: u
                    .fields
                    .iter()
                    .map(|(n, t)| (n.clone(), t.unfrozen_deep()))
                    .collect(),
                frozen: false,
            }),
            CqlType::Vector { element, dimension } => {
                CqlType::vector(element.unfrozen_deep(), *dimension)
            }
            other => other.clone(),
        }
    }

    /// Whether the type is frozen: a frozen collection or UDT, a tuple or a vector.
    pub fn is_frozen(&self) -> bool {
        match self {
            CqlType::List { frozen, .. }
            | CqlType::Set { frozen, .. }
            | CqlType::Map { frozen, .. } => *frozen,
            CqlType::Udt(u) => u.frozen,
            CqlType::Tuple(_) | CqlType::Vector { .. } => true,
            _ => false,
        }
    }

    /// True when a column of this type is stored one cell per element (a non-frozen
    /// collection or UDT).
    pub fn is_multi_cell(&self) -> bool {
        matches!(
            self,
            CqlType::List { frozen: false, .. }
                | CqlType::Set { frozen: false, .. }
                | CqlType::Map { frozen: false, .. }
        ) || matches!(self, CqlType::Udt(u) if !u.frozen)
    }

    /// Whether this is a non-frozen list, set or map.
    pub fn is_multi_cell_collection(&self) -> bool {
        matches!(
            self,
            CqlType::List { frozen: false, .. }
                | CqlType::Set { frozen: false, .. }
                | CqlType::Map { frozen: false, .. }
        )
    }

    /// Whether this is `counter`.
    pub fn is_counter(&self) -> bool {
        matches!(self, CqlType::Counter)
    }

    /// Whether values of this type have an order and so can be keys (primary key components,
    /// set elements, map keys): everything but counters, durations and what contains them.
    /// (Custom types order by their bytes.)
    pub fn is_orderable(&self) -> bool {
        match self {
            CqlType::Counter | CqlType::Duration => false,
            CqlType::List { element, .. }
            | CqlType::Set { element, .. }
            | CqlType::Vector { element, .. } => element.is_orderable(),
            CqlType::Map { key, value, .. } => key.is_orderable() && value.is_orderable(),
            CqlType::Tuple(items) => items.iter().all(CqlType::is_orderable),
            CqlType::Udt(u) => u.fields.iter().all(|(_, t)| t.is_orderable()),
            _ => true,
        }
    }

    /// The types directly inside this one (elements, key and value, components, fields).
    pub fn children(&self) -> Vec<&CqlType> {
        match self {
            CqlType::List { element, .. }
            | CqlType::Set { element, .. }
            | CqlType::Vector { element, .. } => vec![element],
            CqlType::Map { key, value, .. } => vec![key, value],
            CqlType::Tuple(items) => items.iter().collect(),
            CqlType::Udt(u) => u.fields.iter().map(|(_, t)| t).collect(),
            _ => Vec::new(),
        }
    }

    /// This type as CQL text in a given [`Style`].
    pub fn styled(&self, style: Style) -> Styled<'_> {
        Styled { ty: self, style }
    }

    /// The text of `system_schema.columns.type`: UDTs without their keyspace and tuples
    /// written `frozen<tuple<...>>`, as Cassandra stores them.
    pub fn schema_text(&self) -> String {
        self.styled(Style::SCHEMA).to_string()
    }
}

/// How [`CqlType`] prints as CQL text.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Print a UDT's keyspace when it is known (`ks.address`).
    pub qualify_udts: bool,
    /// Print tuples as `frozen<tuple<...>>`.
    pub freeze_tuples: bool,
    /// Writes a UDT or keyspace name as an identifier (quoted when it must be).
    pub ident: fn(&str, &mut fmt::Formatter<'_>) -> fmt::Result,
}

impl Style {
    /// CQL as a user writes it: `frozen<list<int>>`, `tuple<int, text>`, `ks.address`.
    pub const CQL: Style = Style {
        qualify_udts: true,
        freeze_tuples: false,
        ident: write_ident,
    };
    /// The form of `system_schema` (see [`CqlType::schema_text`]).
    pub const SCHEMA: Style = Style {
        qualify_udts: false,
        freeze_tuples: true,
        ident: write_ident,
    };
}

/// An identifier as CQL text: bare when it is lowercase alphanumerics (not starting with a
/// digit) and not a native type's name, quoted otherwise.
pub fn write_ident(name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && CqlType::native(name).is_none();
    if plain {
        f.write_str(name)
    } else {
        write!(f, "\"{}\"", name.replace('"', "\"\""))
    }
}

/// A [`CqlType`] printed in a [`Style`]; see [`CqlType::styled`].
#[derive(Debug, Clone, Copy)]
pub struct Styled<'a> {
    ty: &'a CqlType,
    style: Style,
}

impl fmt::Display for Styled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let style = self.style;
        fn inner(ty: &CqlType, style: Style) -> Styled<'_> {
            Styled { ty, style }
        }
        let frozen = |f: &mut fmt::Formatter<'_>, frozen: bool, body: fmt::Arguments<'_>| {
            if frozen {
                write!(f, "frozen<{body}>")
            } else {
                f.write_fmt(body)
            }
        };
        match self.ty {
            CqlType::List {
                element,
                frozen: fr,
            } => frozen(f, *fr, format_args!("list<{}>", inner(element, style))),
            CqlType::Set {
                element,
                frozen: fr,
            } => frozen(f, *fr, format_args!("set<{}>", inner(element, style))),
            CqlType::Map {
                key,
                value,
                frozen: fr,
            } => frozen(
                f,
                *fr,
                format_args!("map<{}, {}>", inner(key, style), inner(value, style)),
            ),
            CqlType::Tuple(items) => {
                if style.freeze_tuples {
                    f.write_str("frozen<")?;
                }
                f.write_str("tuple<")?;
                for (i, t) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", inner(t, style))?;
                }
                f.write_str(">")?;
                if style.freeze_tuples {
                    f.write_str(">")?;
                }
                Ok(())
            }
            CqlType::Udt(u) => {
                if u.frozen {
                    f.write_str("frozen<")?;
                }
                if style.qualify_udts
                    && let Some(ks) = &u.keyspace
                {
                    (style.ident)(ks, f)?;
                    f.write_str(".")?;
                }
                (style.ident)(&u.name, f)?;
                if u.frozen {
                    f.write_str(">")?;
                }
                Ok(())
            }
            CqlType::Vector { element, dimension } => {
                write!(f, "vector<{}, {dimension}>", inner(element, style))
            }
            CqlType::Custom(class) => write!(f, "'{}'", class.replace('\'', "''")),
            native => f.write_str(native.native_name().unwrap_or("?")),
        }
    }
}

/// CQL as a user writes it ([`Style::CQL`]).
impl fmt::Display for CqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.styled(Style::CQL).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_native_name_maps_to_a_type_that_prints_its_canonical_name() {
        for (name, ty) in NATIVE_TYPES {
            assert_eq!(CqlType::native(name), Some(ty.clone()));
            assert_eq!(CqlType::native(&name.to_uppercase()), Some(ty.clone()));
            let canonical = if name == "varchar" { "text" } else { name };
            assert_eq!(ty.to_string(), canonical);
        }
        assert_eq!(CqlType::native("address"), None);
    }

    #[test]
    fn composite_types_print_as_cql_and_as_schema_text() {
        let udt = CqlType::Udt(UdtType {
            keyspace: Some("ks".into()),
            name: "Addr".into(),
            fields: vec![("street".into(), CqlType::Text)],
            frozen: true,
        });
        let ty = CqlType::map(CqlType::Text, CqlType::Tuple(vec![CqlType::Int, udt]));
        assert_eq!(ty.to_string(), "map<text, tuple<int, frozen<ks.\"Addr\">>>");
        assert_eq!(
            ty.schema_text(),
            "map<text, frozen<tuple<int, frozen<\"Addr\">>>>"
        );
        assert_eq!(
            CqlType::list(CqlType::Int).frozen().to_string(),
            "frozen<list<int>>"
        );
        assert_eq!(
            CqlType::vector(CqlType::Float, 3).to_string(),
            "vector<float, 3>"
        );
        assert_eq!(CqlType::Custom("a'b".into()).to_string(), "'a''b'");
    }

    #[test]
    fn freezing_changes_collections_and_udts_only() {
        assert_eq!(CqlType::Int.frozen(), CqlType::Int);
        assert!(CqlType::set(CqlType::Int).is_multi_cell());
        assert!(!CqlType::set(CqlType::Int).frozen().is_multi_cell());
        assert!(CqlType::Udt(UdtType::named(None, "a")).is_multi_cell());
        assert!(!CqlType::map(CqlType::Int, CqlType::Duration).is_orderable());
    }
}
