//! Schema files written before `ilion-types` (2026-12-07) stored column types as the
//! coordinator's own `DataType` enum: `{"Native":"int"}`, `{"List":{..}}`, `{"Map":[k, v]}`,
//! `{"Tuple":[..]}`, `{"Frozen":{..}}`, `{"Udt":"name"}`. A node upgraded over such a data
//! directory reads them here into [`CqlType`] (and writes the current form on the next schema
//! change), so an upgrade never leaves a node unable to load its schema.

use ilion_types::{CqlType, UdtType};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A stored type in either form.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored {
    Current(CqlType),
    Legacy(Legacy),
}

/// The earlier form.
#[derive(Deserialize)]
enum Legacy {
    Native(String),
    List(Box<Legacy>),
    Set(Box<Legacy>),
    Map(Box<Legacy>, Box<Legacy>),
    Tuple(Vec<Legacy>),
    Frozen(Box<Legacy>),
    Udt(String),
}

impl Legacy {
    fn into_type(self) -> Result<CqlType, String> {
        Ok(match self {
            Legacy::Native(name) => {
                CqlType::native(&name).ok_or_else(|| format!("unknown native type {name}"))?
            }
            Legacy::List(t) => CqlType::list(t.into_type()?),
            Legacy::Set(t) => CqlType::set(t.into_type()?),
            Legacy::Map(k, v) => CqlType::map(k.into_type()?, v.into_type()?),
            Legacy::Tuple(ts) => CqlType::Tuple(
                ts.into_iter()
                    .map(Legacy::into_type)
                    .collect::<Result<_, _>>()?,
            ),
            Legacy::Frozen(t) => t.into_type()?.frozen(),
            Legacy::Udt(name) => CqlType::Udt(UdtType::named(None, name)),
        })
    }
}

impl Stored {
    fn into_type<E: serde::de::Error>(self) -> Result<CqlType, E> {
        match self {
            Stored::Current(t) => Ok(t),
            Stored::Legacy(l) => l.into_type().map_err(E::custom),
        }
    }
}

/// `#[serde(with = "legacy::ty")]` for a stored column type.
pub(crate) mod ty {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(ty: &CqlType, s: S) -> Result<S::Ok, S::Error> {
        ty.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CqlType, D::Error> {
        Stored::deserialize(d)?.into_type()
    }
}

/// `#[serde(with = "legacy::fields")]` for a user type's stored fields.
pub(crate) mod fields {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        fields: &[(String, CqlType)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        fields.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, CqlType)>, D::Error> {
        Vec::<(String, Stored)>::deserialize(d)?
            .into_iter()
            .map(|(name, t)| Ok((name, t.into_type()?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Column, UserType};

    #[test]
    fn columns_and_user_types_of_the_earlier_schema_format_load() {
        let column: Column = serde_json::from_str(
            r#"{"name":"m","kind":"Regular","position":-1,"order":"Asc",
                "ty":{"Map":[{"Native":"varchar"},{"Frozen":{"List":{"Udt":"addr"}}}]}}"#,
        )
        .unwrap();
        assert_eq!(
            column.ty,
            CqlType::map(
                CqlType::Text,
                CqlType::list(CqlType::Udt(UdtType::named(None, "addr"))).frozen()
            )
        );
        let ut: UserType = serde_json::from_str(
            r#"{"keyspace":"ks","name":"addr","fields":[["street",{"Native":"text"}],
                ["pos",{"Tuple":[{"Native":"double"},{"Native":"double"}]}]]}"#,
        )
        .unwrap();
        assert_eq!(
            ut.fields,
            vec![
                ("street".to_owned(), CqlType::Text),
                (
                    "pos".to_owned(),
                    CqlType::Tuple(vec![CqlType::Double, CqlType::Double])
                ),
            ]
        );
        // The current form is written, and read back as it was.
        let again: Column = serde_json::from_str(&serde_json::to_string(&column).unwrap()).unwrap();
        assert_eq!(again, column);
        // A name no version knew is an error naming it, not a default.
        let err = serde_json::from_str::<Column>(
            r#"{"name":"x","kind":"Regular","position":-1,"order":"Asc","ty":{"Native":"nope"}}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("unknown native type nope"),
            "{err}"
        );
    }

    use super::*;
}
