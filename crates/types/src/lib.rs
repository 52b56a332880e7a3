//! The vocabulary of CQL types and values, owned once for all of Ilion.
//!
//! - [`CqlType`]: the typed CQL type (every native type, list/set/map frozen or not, tuples,
//!   user-defined types with their fields, `vector<type, n>`, custom types), with the one
//!   table of native type names ([`NATIVE_TYPES`], [`CqlType::native`]) and its CQL text
//!   ([`std::fmt::Display`], [`CqlType::schema_text`]).
//! - The value codec: [`CqlType::decode`] and [`CqlType::encode`] between the native
//!   protocol's serialized bytes and a [`Value`]. Malformed bytes are an [`Error`], never a
//!   panic.
//! - [`compare`]: the one comparison of serialized values of a type (Cassandra's comparators),
//!   and [`order`]: the order-preserving byte encoding storage keys are made of, whose
//!   bytewise order is that comparison.
//! - [`text`]: the text forms of dates, times, timestamps, durations, varints, decimals and
//!   uuids.
//!
//! What this crate is not: it knows no schema (a UDT named in a statement stays unresolved
//! until a schema fills its fields), no protocol framing (type descriptors on the wire belong
//! to `ilion-cql`) and no storage layout.
//!
//! ```
//! use bytes::BytesMut;
//! use ilion_types::{CqlType, Value, compare};
//!
//! let ty = CqlType::native("varchar").unwrap_or(CqlType::Blob);
//! assert_eq!(ty, CqlType::Text);
//! let ints = CqlType::list(CqlType::Int).frozen();
//! assert_eq!(ints.to_string(), "frozen<list<int>>");
//!
//! // Values to bytes and back.
//! let mut a = BytesMut::new();
//! CqlType::Int.encode(&Value::Int(-5), &mut a)?;
//! let a = a.freeze();
//! assert_eq!(CqlType::Int.decode(&a)?, Value::Int(-5));
//!
//! // One order: the comparator and the order-preserving keys agree.
//! let b = CqlType::Int.to_bytes(&Value::Int(3))?;
//! assert!(compare(&CqlType::Int, &a, &b)?.is_lt());
//! assert!(CqlType::Int.order_key(&a)? < CqlType::Int.order_key(&b)?);
//! # Ok::<(), ilion_types::Error>(())
//! ```

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod codec;
mod compare;
mod error;
pub mod order;
pub mod text;
mod ty;
mod value;
pub mod vint;

pub use codec::NANOS_PER_DAY;
pub use compare::{compare, compare_values};
pub use error::{Error, Result};
pub use ty::{CqlType, NATIVE_TYPES, Style, Styled, UdtType, write_ident};
pub use value::{Duration, Value};

impl CqlType {
    /// The order-preserving encoding of `value` (serialized as this type): comparing two keys
    /// bytewise is [`compare`] (how clustering keys, set elements and map keys sort).
    pub fn order_key(&self, value: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(value.len() + 4);
        order::encode(self, value, 0, &mut out)?;
        Ok(out)
    }
}
