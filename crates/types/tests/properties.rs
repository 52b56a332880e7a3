//! Properties of the codec, the comparator and the order-preserving encoding, over generated
//! types and values of every kind.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{Bytes, BytesMut};
use ilion_types::{CqlType, Duration, NANOS_PER_DAY, UdtType, Value, compare, order};
use proptest::prelude::*;

/// Native types whose values have an order.
fn orderable_native() -> impl Strategy<Value = CqlType> {
    prop_oneof![
        Just(CqlType::Ascii),
        Just(CqlType::Bigint),
        Just(CqlType::Blob),
        Just(CqlType::Boolean),
        Just(CqlType::Date),
        Just(CqlType::Decimal),
        Just(CqlType::Double),
        Just(CqlType::Float),
        Just(CqlType::Inet),
        Just(CqlType::Int),
        Just(CqlType::Smallint),
        Just(CqlType::Text),
        Just(CqlType::Time),
        Just(CqlType::Timestamp),
        Just(CqlType::Timeuuid),
        Just(CqlType::Tinyint),
        Just(CqlType::Uuid),
        Just(CqlType::Varint),
    ]
}

/// Orderable types: natives, frozen collections, tuples, frozen UDTs and vectors of them.
fn orderable_type() -> impl Strategy<Value = CqlType> {
    orderable_native().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| CqlType::list(t).frozen()),
            inner.clone().prop_map(|t| CqlType::set(t).frozen()),
            (inner.clone(), inner.clone()).prop_map(|(k, v)| CqlType::map(k, v).frozen()),
            proptest::collection::vec(inner.clone(), 1..4).prop_map(CqlType::Tuple),
            proptest::collection::vec(inner.clone(), 1..4).prop_map(|ts| {
                CqlType::Udt(UdtType {
                    keyspace: Some("ks".into()),
                    name: "u".into(),
                    fields: ts
                        .into_iter()
                        .enumerate()
                        .map(|(i, t)| (format!("f{i}"), t))
                        .collect(),
                    frozen: true,
                })
            }),
            (inner, 1u32..4).prop_map(|(t, n)| CqlType::vector(t, n)),
        ]
    })
}

/// Every type, the unorderable ones and non-frozen collections included.
fn any_type() -> impl Strategy<Value = CqlType> {
    prop_oneof![
        4 => orderable_type(),
        1 => Just(CqlType::Counter),
        1 => Just(CqlType::Duration),
        1 => Just(CqlType::Custom("org.example.T".into())),
        1 => orderable_native().prop_map(CqlType::list),
        1 => (orderable_native(), any_native_for_values()).prop_map(|(k, v)| CqlType::map(k, v)),
    ]
}

fn any_native_for_values() -> impl Strategy<Value = CqlType> {
    prop_oneof![
        orderable_native(),
        Just(CqlType::Duration),
        Just(CqlType::Counter)
    ]
}

fn bytes_with_zeros(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(
        prop_oneof![Just(0u8), Just(1u8), Just(0xFFu8), any::<u8>()],
        0..max,
    )
    .prop_map(Bytes::from)
}

/// A value of `ty` (never `Value::Empty`).
fn value_of(ty: &CqlType) -> BoxedStrategy<Value> {
    match ty {
        CqlType::Ascii => "[ -~]{0,8}".prop_map(Value::Ascii).boxed(),
        CqlType::Text => any::<String>().prop_map(Value::Text).boxed(),
        CqlType::Blob => bytes_with_zeros(8).prop_map(Value::Blob).boxed(),
        CqlType::Custom(_) => bytes_with_zeros(8).prop_map(Value::Custom).boxed(),
        CqlType::Bigint => any::<i64>().prop_map(Value::Bigint).boxed(),
        CqlType::Counter => any::<i64>().prop_map(Value::Counter).boxed(),
        CqlType::Timestamp => any::<i64>().prop_map(Value::Timestamp).boxed(),
        CqlType::Time => (0..NANOS_PER_DAY).prop_map(Value::Time).boxed(),
        CqlType::Int => any::<i32>().prop_map(Value::Int).boxed(),
        CqlType::Smallint => any::<i16>().prop_map(Value::Smallint).boxed(),
        CqlType::Tinyint => any::<i8>().prop_map(Value::Tinyint).boxed(),
        CqlType::Boolean => any::<bool>().prop_map(Value::Boolean).boxed(),
        CqlType::Date => any::<u32>().prop_map(Value::Date).boxed(),
        CqlType::Float => prop_oneof![
            any::<f32>(),
            Just(f32::NAN),
            Just(-0.0f32),
            Just(0.0f32),
            Just(f32::INFINITY)
        ]
        .prop_map(Value::Float)
        .boxed(),
        CqlType::Double => prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(-f64::NAN),
            Just(-0.0f64),
            Just(f64::NEG_INFINITY)
        ]
        .prop_map(Value::Double)
        .boxed(),
        CqlType::Uuid => any::<[u8; 16]>()
            .prop_flat_map(|u| {
                prop_oneof![Just(1u8), Just(4u8), any::<u8>()].prop_map(move |v| {
                    let mut u = u;
                    u[6] = (u[6] & 0x0f) | (v << 4);
                    Value::Uuid(u)
                })
            })
            .boxed(),
        CqlType::Timeuuid => any::<[u8; 16]>()
            .prop_map(|mut u| {
                u[6] = (u[6] & 0x0f) | 0x10;
                Value::Timeuuid(u)
            })
            .boxed(),
        CqlType::Inet => prop_oneof![
            any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
            any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        ]
        .prop_map(Value::Inet)
        .boxed(),
        CqlType::Varint => proptest::collection::vec(any::<u8>(), 1..20)
            .prop_map(|v| Value::Varint(Bytes::from(v)))
            .boxed(),
        CqlType::Decimal => (-20i32..20, proptest::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(scale, u)| Value::Decimal {
                scale,
                unscaled: Bytes::from(u),
            })
            .boxed(),
        CqlType::Duration => (any::<bool>(), 0i32..1000, 0i32..1000, 0i64..i64::MAX)
            .prop_map(|(neg, m, d, n)| {
                let s = if neg { -1 } else { 1 };
                Value::Duration(Duration {
                    months: m * s,
                    days: d * s,
                    nanoseconds: n * i64::from(s),
                })
            })
            .boxed(),
        CqlType::List { element, .. } => proptest::collection::vec(value_of(element), 0..4)
            .prop_map(Value::List)
            .boxed(),
        CqlType::Set { element, .. } => proptest::collection::vec(value_of(element), 0..4)
            .prop_map(Value::Set)
            .boxed(),
        CqlType::Map { key, value, .. } => {
            proptest::collection::vec((value_of(key), value_of(value)), 0..4)
                .prop_map(Value::Map)
                .boxed()
        }
        CqlType::Tuple(types) => types
            .iter()
            .map(|t| proptest::option::weighted(0.8, value_of(t)))
            .collect::<Vec<_>>()
            .prop_map(Value::Tuple)
            .boxed(),
        CqlType::Udt(u) => {
            let names: Vec<String> = u.fields.iter().map(|(n, _)| n.clone()).collect();
            let n = u.fields.len();
            (
                u.fields
                    .iter()
                    .map(|(_, t)| proptest::option::weighted(0.8, value_of(t)))
                    .collect::<Vec<_>>(),
                0..=n,
            )
                .prop_map(move |(vals, keep)| {
                    // Trailing fields may be absent.
                    Value::Udt(names.iter().cloned().zip(vals).take(keep.max(1)).collect())
                })
                .boxed()
        }
        CqlType::Vector { element, dimension } => {
            proptest::collection::vec(value_of(element), *dimension as usize)
                .prop_map(Value::List)
                .boxed()
        }
    }
}

fn typed_value() -> impl Strategy<Value = (CqlType, Value)> {
    any_type().prop_flat_map(|t| value_of(&t).prop_map(move |v| (t.clone(), v)))
}

fn typed_pair() -> impl Strategy<Value = (CqlType, Value, Value)> {
    orderable_type()
        .prop_flat_map(|t| (value_of(&t), value_of(&t)).prop_map(move |(a, b)| (t.clone(), a, b)))
}

fn encode(ty: &CqlType, v: &Value) -> Bytes {
    let mut out = BytesMut::new();
    ty.encode(v, &mut out)
        .unwrap_or_else(|e| panic!("{ty}: {v:?}: {e}"));
    out.freeze()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_value_decodes_to_what_was_encoded((ty, v) in typed_value()) {
        let bytes = encode(&ty, &v);
        let back = ty.decode(&bytes).unwrap_or_else(|e| panic!("{ty}: {v:?}: {e}"));
        // Compared by bytes: a NaN is not equal to itself.
        prop_assert_eq!(encode(&ty, &back), bytes.clone());
        if !format!("{v:?}").contains("NaN") {
            prop_assert_eq!(back, v);
        }
    }

    #[test]
    fn order_keys_sort_bytewise_as_the_comparator_orders((ty, a, b) in typed_pair()) {
        let (a, b) = (encode(&ty, &a), encode(&ty, &b));
        let want = compare(&ty, &a, &b).unwrap_or_else(|e| panic!("{ty}: {e}"));
        prop_assert_eq!(compare(&ty, &b, &a).unwrap(), want.reverse());
        let (ka, kb) = (ty.order_key(&a).unwrap(), ty.order_key(&b).unwrap());
        prop_assert_eq!(ka.cmp(&kb), want, "{} {:?} {:?}", ty, a, b);
        // Descending keys (every byte inverted) sort the other way.
        let mut da = Vec::new();
        let mut db = Vec::new();
        order::encode(&ty, &a, 0xFF, &mut da).unwrap();
        order::encode(&ty, &b, 0xFF, &mut db).unwrap();
        prop_assert_eq!(da.cmp(&db), want.reverse());
        // A key decodes to a value equal to the original under the comparator.
        let (back, used) = order::decode(&ty, &ka, 0).unwrap();
        prop_assert_eq!(used, ka.len());
        prop_assert_eq!(compare(&ty, &back, &a).unwrap(), Ordering::Equal);
        let (back, used) = order::decode(&ty, &da, 0xFF).unwrap();
        prop_assert_eq!(used, da.len());
        prop_assert_eq!(compare(&ty, &back, &a).unwrap(), Ordering::Equal);
    }

    #[test]
    fn decoders_return_errors_on_arbitrary_bytes(ty in any_type(), raw in proptest::collection::vec(any::<u8>(), 0..40)) {
        let raw = Bytes::from(raw);
        let _ = ty.decode(&raw);
        let _ = ty.order_key(&raw);
        let _ = order::decode(&ty, &raw, 0);
        let _ = compare(&ty, &raw, &raw);
    }
}

#[test]
fn durations_and_counters_have_no_order_key() {
    let d = encode(
        &CqlType::Duration,
        &Value::Duration(Duration {
            months: 1,
            days: 0,
            nanoseconds: 0,
        }),
    );
    assert!(matches!(
        CqlType::Duration.order_key(&d),
        Err(ilion_types::Error::NotOrderable { .. })
    ));
    assert!(matches!(
        compare(&CqlType::Duration, &d, &d),
        Err(ilion_types::Error::NotOrderable { .. })
    ));
    assert!(!CqlType::Counter.is_orderable());
}

#[test]
fn the_empty_value_sorts_before_every_other() {
    let one = encode(&CqlType::Int, &Value::Int(i32::MIN));
    assert_eq!(compare(&CqlType::Int, &[], &one).unwrap(), Ordering::Less);
    assert_eq!(CqlType::Int.decode(&Bytes::new()).unwrap(), Value::Empty);
}

#[test]
fn vectors_of_variable_size_elements_carry_vint_lengths() {
    let ty = CqlType::vector(CqlType::Text, 2);
    let v = Value::List(vec![Value::Text("ab".into()), Value::Text(String::new())]);
    assert_eq!(&encode(&ty, &v)[..], &[2, b'a', b'b', 0]);
    let floats = CqlType::vector(CqlType::Float, 2);
    let v = Value::List(vec![Value::Float(1.0), Value::Float(2.0)]);
    assert_eq!(encode(&floats, &v).len(), 8);
    assert!(matches!(
        floats.decode(&Bytes::from_static(&[0; 7])),
        Err(ilion_types::Error::Truncated { .. })
    ));
}
