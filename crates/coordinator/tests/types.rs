//! Every CQL type written and read back through the coordinator: random values of random
//! types (native, frozen and non-frozen collections, tuples, user types, nested) inserted as
//! bind values and as literals, then read back; and through SELECT JSON / INSERT JSON.

mod common;

use bytes::{Bytes, BytesMut};
use common::{RF1, open, run, select};
use ilion_coordinator::{Coordinator, Error, Session};
use ilion_cql::protocol::{
    Consistency, CqlType, Duration, QueryParameters, RawValue, ResultBody, Value, Values,
};
use proptest::prelude::*;

/// A type as the test generates it (user types by index into [`UDTS`]).
#[derive(Debug, Clone)]
enum T {
    Native(&'static str),
    List(Box<T>),
    Set(Box<T>),
    Map(Box<T>, Box<T>),
    Tuple(Vec<T>),
    Udt(usize),
}

/// The user types of the keyspace, in creation order.
const UDTS: [(&str, &str); 2] = [
    ("u_point", "x int, y text"),
    (
        "u_box",
        "name text, pts frozen<list<frozen<u_point>>>, tag tuple<int, boolean>",
    ),
];

const NATIVES: [&str; 19] = [
    "ascii",
    "bigint",
    "blob",
    "boolean",
    "date",
    "decimal",
    "double",
    "duration",
    "float",
    "inet",
    "int",
    "smallint",
    "text",
    "time",
    "timestamp",
    "timeuuid",
    "tinyint",
    "uuid",
    "varint",
];

fn ty_strategy() -> impl Strategy<Value = T> {
    let leaf = proptest::sample::select(NATIVES.to_vec()).prop_map(T::Native);
    let leaf = prop_oneof![4 => leaf, 1 => (0..UDTS.len()).prop_map(T::Udt)];
    leaf.prop_recursive(2, 8, 3, |inner| {
        // Set elements and map keys cannot be durations.
        let key = inner
            .clone()
            .prop_filter("no duration keys", |t| !has_duration(t));
        prop_oneof![
            inner.clone().prop_map(|t| T::List(Box::new(t))),
            key.clone().prop_map(|t| T::Set(Box::new(t))),
            (key, inner.clone()).prop_map(|(k, v)| T::Map(Box::new(k), Box::new(v))),
            proptest::collection::vec(inner, 2..4).prop_map(T::Tuple),
        ]
    })
}

fn has_duration(t: &T) -> bool {
    match t {
        T::Native(n) => *n == "duration",
        T::List(e) | T::Set(e) => has_duration(e),
        T::Map(k, v) => has_duration(k) || has_duration(v),
        T::Tuple(ts) => ts.iter().any(has_duration),
        T::Udt(_) => false,
    }
}

/// The CQL spelling of `t`; `frozen`: the outermost level frozen too (inner levels always are).
fn ddl(t: &T, frozen: bool) -> String {
    let inner = |t: &T| ddl(t, true);
    let s = match t {
        T::Native(n) => return (*n).to_owned(),
        T::Tuple(ts) => {
            return format!(
                "tuple<{}>",
                ts.iter().map(inner).collect::<Vec<_>>().join(", ")
            );
        }
        T::List(e) => format!("list<{}>", inner(e)),
        T::Set(e) => format!("set<{}>", inner(e)),
        T::Map(k, v) => format!("map<{}, {}>", inner(k), inner(v)),
        T::Udt(i) => UDTS[*i].0.to_owned(),
    };
    if frozen { format!("frozen<{s}>") } else { s }
}

/// Minimal two's complement bytes of `v`.
fn varint(v: i128) -> Bytes {
    let b = v.to_be_bytes();
    let mut start = 0;
    while start + 1 < b.len()
        && ((b[start] == 0 && b[start + 1] & 0x80 == 0)
            || (b[start] == 0xff && b[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    Bytes::copy_from_slice(&b[start..])
}

fn native_value(n: &'static str) -> BoxedStrategy<Value> {
    match n {
        "ascii" => "[ -~]{0,8}".prop_map(Value::Ascii).boxed(),
        "text" => "\\PC{0,8}".prop_map(Value::Text).boxed(),
        "bigint" => any::<i64>().prop_map(Value::Bigint).boxed(),
        "int" => any::<i32>().prop_map(Value::Int).boxed(),
        "smallint" => any::<i16>().prop_map(Value::Smallint).boxed(),
        "tinyint" => any::<i8>().prop_map(Value::Tinyint).boxed(),
        "blob" => proptest::collection::vec(any::<u8>(), 0..8)
            .prop_map(|b| Value::Blob(Bytes::from(b)))
            .boxed(),
        "boolean" => any::<bool>().prop_map(Value::Boolean).boxed(),
        "date" => any::<u32>().prop_map(Value::Date).boxed(),
        // An unscaled value not divisible by 10 has one representation (1.5 == 1.50).
        "decimal" => (
            any::<i64>().prop_filter("one form", |u| u % 10 != 0),
            -3..8i32,
        )
            .prop_map(|(u, scale)| Value::Decimal {
                scale,
                unscaled: varint(i128::from(u)),
            })
            .boxed(),
        "double" => (-1e300..1e300f64).prop_map(Value::Double).boxed(),
        "float" => (-1e30..1e30f32).prop_map(Value::Float).boxed(),
        "duration" => (
            0..1000i32,
            0..1000i32,
            1..1_000_000_000_000_000i64,
            any::<bool>(),
        )
            .prop_map(|(m, d, ns, neg)| {
                let s = if neg { -1 } else { 1 };
                Value::Duration(Duration {
                    months: m * s,
                    days: d * s,
                    nanoseconds: ns * i64::from(s),
                })
            })
            .boxed(),
        "inet" => prop_oneof![
            any::<[u8; 4]>().prop_map(|b| Value::Inet(b.into())),
            any::<[u8; 16]>().prop_map(|b| Value::Inet(b.into())),
        ]
        .boxed(),
        "time" => (0..86_400_000_000_000i64).prop_map(Value::Time).boxed(),
        // Years 1..9999, which timestamps print as.
        "timestamp" => (-62_135_596_800_000..253_402_300_799_999i64)
            .prop_map(Value::Timestamp)
            .boxed(),
        "timeuuid" => any::<[u8; 16]>()
            .prop_map(|mut b| {
                b[6] = (b[6] & 0x0f) | 0x10;
                b[8] = (b[8] & 0x3f) | 0x80;
                Value::Timeuuid(b)
            })
            .boxed(),
        "uuid" => any::<[u8; 16]>()
            .prop_map(|mut b| {
                b[6] = (b[6] & 0x0f) | 0x40;
                b[8] = (b[8] & 0x3f) | 0x80;
                Value::Uuid(b)
            })
            .boxed(),
        "varint" => prop_oneof![
            any::<i64>().prop_map(|v| Value::Varint(varint(i128::from(v)))),
            any::<i128>().prop_map(|v| Value::Varint(varint(v))),
        ]
        .boxed(),
        other => panic!("no generator for {other}"),
    }
}

fn udt_field_types(i: usize) -> Vec<(&'static str, T)> {
    match i {
        0 => vec![("x", T::Native("int")), ("y", T::Native("text"))],
        _ => vec![
            ("name", T::Native("text")),
            ("pts", T::List(Box::new(T::Udt(0)))),
            (
                "tag",
                T::Tuple(vec![T::Native("int"), T::Native("boolean")]),
            ),
        ],
    }
}

fn value_strategy(t: &T) -> BoxedStrategy<Value> {
    match t {
        T::Native(n) => native_value(n),
        T::List(e) => proptest::collection::vec(value_strategy(e), 0..4)
            .prop_map(Value::List)
            .boxed(),
        T::Set(e) => proptest::collection::vec(value_strategy(e), 0..4)
            .prop_map(Value::Set)
            .boxed(),
        T::Map(k, v) => proptest::collection::vec((value_strategy(k), value_strategy(v)), 0..4)
            .prop_map(Value::Map)
            .boxed(),
        T::Tuple(ts) => ts
            .iter()
            .map(|t| proptest::option::weighted(0.8, value_strategy(t)))
            .collect::<Vec<_>>()
            .prop_map(Value::Tuple)
            .boxed(),
        T::Udt(i) => {
            let names: Vec<String> = udt_field_types(*i)
                .iter()
                .map(|(n, _)| (*n).to_owned())
                .collect();
            udt_field_types(*i)
                .iter()
                .map(|(_, t)| proptest::option::weighted(0.8, value_strategy(t)))
                .collect::<Vec<_>>()
                .prop_map(move |vs| Value::Udt(names.iter().cloned().zip(vs).collect()))
                .boxed()
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `v` as a CQL literal.
fn literal(v: &Value) -> String {
    match v {
        Value::Ascii(s) | Value::Text(s) => quote(s),
        Value::Bigint(i) => i.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Smallint(i) => i.to_string(),
        Value::Tinyint(i) => i.to_string(),
        Value::Blob(b) => format!("0x{}", hex(b)),
        Value::Boolean(b) => b.to_string(),
        Value::Date(d) => d.to_string(),
        Value::Decimal { scale, unscaled } => {
            let mut u = [0xffu8; 16];
            if unscaled.first().is_some_and(|b| b & 0x80 == 0) {
                u = [0; 16];
            }
            u[16 - unscaled.len()..].copy_from_slice(unscaled);
            format!("{}E{}", i128::from_be_bytes(u), -scale)
        }
        Value::Double(d) => format!("{d:e}"),
        Value::Float(f) => format!("{f:e}"),
        Value::Duration(d) => {
            let neg = d.months < 0 || d.days < 0 || d.nanoseconds < 0;
            format!(
                "{}{}mo{}d{}ns",
                if neg { "-" } else { "" },
                d.months.abs(),
                d.days.abs(),
                d.nanoseconds.abs()
            )
        }
        Value::Inet(ip) => quote(&ip.to_string()),
        Value::Time(n) => quote(&format!(
            "{:02}:{:02}:{:02}.{:09}",
            n / 3_600_000_000_000,
            n / 60_000_000_000 % 60,
            n / 1_000_000_000 % 60,
            n % 1_000_000_000
        )),
        Value::Timestamp(ms) => ms.to_string(),
        Value::Uuid(u) | Value::Timeuuid(u) => uuid::Uuid::from_bytes(*u).to_string(),
        Value::Varint(b) => {
            let mut u = [0xffu8; 16];
            if b.first().is_some_and(|x| x & 0x80 == 0) {
                u = [0; 16];
            }
            u[16 - b.len()..].copy_from_slice(b);
            i128::from_be_bytes(u).to_string()
        }
        Value::List(items) => format!(
            "[{}]",
            items.iter().map(literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Set(items) => format!(
            "{{{}}}",
            items.iter().map(literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", literal(k), literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Tuple(items) => format!(
            "({})",
            items
                .iter()
                .map(|v| v.as_ref().map_or("null".to_owned(), literal))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Udt(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(n, v)| format!("{n}: {}", v.as_ref().map_or("null".to_owned(), literal)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => panic!("no literal for {other:?}"),
    }
}

/// `v` with set elements and map keys in one canonical order, duplicates removed (a map keeps
/// the last value of a key), so that values compare whatever order they were written in.
fn canon(v: &Value) -> Value {
    let key = |v: &Value| format!("{v:?}");
    match v {
        Value::List(items) => Value::List(items.iter().map(canon).collect()),
        Value::Set(items) => {
            let mut items: Vec<Value> = items.iter().map(canon).collect();
            items.sort_by_key(key);
            items.dedup_by_key(|v| key(v));
            Value::Set(items)
        }
        Value::Map(entries) => {
            let mut out: Vec<(Value, Value)> = Vec::new();
            for (k, v) in entries {
                let (k, v) = (canon(k), canon(v));
                out.retain(|(o, _)| key(o) != key(&k));
                out.push((k, v));
            }
            out.sort_by_key(|(k, _)| key(k));
            Value::Map(out)
        }
        Value::Tuple(items) => Value::Tuple(items.iter().map(|v| v.as_ref().map(canon)).collect()),
        Value::Udt(fields) => Value::Udt(
            fields
                .iter()
                .map(|(n, v)| (n.clone(), v.as_ref().map(canon)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What a column of `t` reads back after `v` was written: a non-frozen collection without
/// elements, or a non-frozen user type without a field, is null.
fn expected(t: &T, frozen: bool, v: &Value) -> Option<Value> {
    let empty = match v {
        Value::List(i) | Value::Set(i) => i.is_empty(),
        Value::Map(e) => e.is_empty(),
        Value::Udt(f) => f.iter().all(|(_, v)| v.is_none()),
        _ => false,
    };
    let multi = !frozen && matches!(t, T::List(_) | T::Set(_) | T::Map(..) | T::Udt(_));
    if multi && empty { None } else { Some(canon(v)) }
}

fn params(values: Vec<RawValue>) -> QueryParameters {
    let mut p = QueryParameters::new(Consistency::One);
    p.values = Values::Positional(values);
    p
}

fn encode(ty: &CqlType, v: &Value) -> RawValue {
    let mut out = BytesMut::new();
    ty.encode(v, &mut out).unwrap();
    RawValue::Bytes(out.freeze())
}

fn read(c: &Coordinator, table: &str, k: i32) -> Vec<Option<Value>> {
    let rows = select(c, &format!("SELECT f, m FROM ks.{table} WHERE k = {k}"));
    assert_eq!(rows.len(), 1, "{table} k={k}: {rows:?}");
    rows[0].iter().map(|v| v.as_ref().map(canon)).collect()
}

fn setup(c: &Coordinator) {
    run(c, &format!("CREATE KEYSPACE ks WITH replication = {RF1}")).unwrap();
    for (name, fields) in UDTS {
        run(c, &format!("CREATE TYPE ks.{name} ({fields})")).unwrap();
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 40,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7e57_ca11),
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// A value of any type reads back as written, whether bound or written as a literal, in a
    /// frozen column and (for collections and user types) a non-frozen one; and SELECT JSON
    /// read back through INSERT JSON gives the same row.
    #[test]
    fn values_of_every_type_round_trip_through_insert_and_select(
        (t, v) in ty_strategy().prop_flat_map(|t| {
            let v = value_strategy(&t);
            (Just(t), v)
        })
    ) {
        let dir = tempfile::tempdir().unwrap();
        let c = open(dir.path());
        setup(&c);
        let frozen = ddl(&t, true);
        let plain = ddl(&t, false);
        run(&c, &format!("CREATE TABLE ks.t (k int PRIMARY KEY, f {frozen}, m {plain})")).unwrap();
        let want = (expected(&t, true, &v), expected(&t, false, &v));

        let prepared = c
            .prepare(&Session::default(), "INSERT INTO ks.t (k, f, m) VALUES (?, ?, ?)", None)
            .unwrap();
        let ty = prepared.metadata.columns[1].ty.clone();
        prop_assert_eq!(&prepared.metadata.columns[2].ty, &ty);
        let bound = encode(&ty, &v);
        c.execute(
            &prepared.id,
            &params(vec![encode(&CqlType::Int, &Value::Int(1)), bound.clone(), bound]),
        )
        .unwrap();
        let got = read(&c, "t", 1);
        prop_assert_eq!(&got[0], &want.0, "bound, frozen {}", frozen);
        prop_assert_eq!(&got[1], &want.1, "bound, {}", plain);

        let lit = literal(&v);
        run(&c, &format!("INSERT INTO ks.t (k, f, m) VALUES (2, {lit}, {lit})"))
            .unwrap_or_else(|e| panic!("{lit}: {e}"));
        let got = read(&c, "t", 2);
        prop_assert_eq!(&got[0], &want.0, "literal {}, frozen {}", lit, frozen);
        prop_assert_eq!(&got[1], &want.1, "literal {}, {}", lit, plain);

        let ResultBody::Rows(rows) = run(&c, "SELECT JSON f, m FROM ks.t WHERE k = 2").unwrap() else {
            panic!("not rows");
        };
        let doc = match rows.value(0, 0).unwrap() {
            Some(Value::Text(doc)) => doc,
            other => panic!("not text: {other:?}"),
        };
        let doc = format!("{{\"k\": 3, {}", doc.strip_prefix('{').unwrap());
        run(&c, &format!("INSERT INTO ks.t JSON {}", quote(&doc)))
            .unwrap_or_else(|e| panic!("{doc}: {e}"));
        let got = read(&c, "t", 3);
        prop_assert_eq!(&got[0], &want.0, "json {}", doc);
        prop_assert_eq!(&got[1], &want.1, "json {}", doc);
    }
}

#[test]
fn sets_and_maps_come_back_sorted_by_their_type_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(
        &c,
        "CREATE TABLE ks.s (k int PRIMARY KEY, f frozen<set<int>>, m map<text, int>, \
         l list<frozen<set<varint>>>)",
    )
    .unwrap();
    run(
        &c,
        "INSERT INTO ks.s (k, f, m, l) VALUES (1, {3, -1, 2, 3}, {'b': 1, 'a': 2, 'b': 3}, \
         [{10, -300, 2}])",
    )
    .unwrap();
    let rows = select(&c, "SELECT f, m, l FROM ks.s WHERE k = 1");
    let ints = |v: &[i32]| v.iter().map(|i| Value::Int(*i)).collect::<Vec<_>>();
    assert_eq!(rows[0][0], Some(Value::Set(ints(&[-1, 2, 3]))));
    assert_eq!(
        rows[0][1],
        Some(Value::Map(vec![
            (Value::Text("a".into()), Value::Int(2)),
            (Value::Text("b".into()), Value::Int(3)),
        ]))
    );
    assert_eq!(
        rows[0][2],
        Some(Value::List(vec![Value::Set(vec![
            Value::Varint(varint(-300)),
            Value::Varint(varint(2)),
            Value::Varint(varint(10)),
        ])]))
    );
}

#[test]
fn collection_operators_touch_single_elements() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(
        &c,
        "CREATE TABLE ks.o (k int PRIMARY KEY, l list<int>, s set<int>, m map<int, text>, \
         u u_point)",
    )
    .unwrap();
    let get = |col: &str| select(&c, &format!("SELECT {col} FROM ks.o WHERE k = 1"))[0][0].clone();
    let list = |v: &[i32]| Some(Value::List(v.iter().map(|i| Value::Int(*i)).collect()));
    run(&c, "INSERT INTO ks.o (k, l) VALUES (1, [1, 2])").unwrap();
    run(&c, "UPDATE ks.o SET l = l + [3], l = [0] + l WHERE k = 1").unwrap();
    assert_eq!(get("l"), list(&[0, 1, 2, 3]));
    run(&c, "UPDATE ks.o SET l[2] = 20 WHERE k = 1").unwrap();
    run(&c, "DELETE l[0] FROM ks.o WHERE k = 1").unwrap();
    assert_eq!(get("l"), list(&[1, 20, 3]));
    let err = run(&c, "UPDATE ks.o SET l[3] = 1 WHERE k = 1").unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("List index 3 out of bound, list has size 3"),
        "{err}"
    );
    run(&c, "UPDATE ks.o SET l = l - [20, 3] WHERE k = 1").unwrap();
    assert_eq!(get("l"), list(&[1]));

    run(
        &c,
        "UPDATE ks.o SET s = s + {5, 1}, m[2] = 'b', m = m + {1: 'a'} WHERE k = 1",
    )
    .unwrap();
    run(&c, "UPDATE ks.o SET s = s - {5}, m = m - {2} WHERE k = 1").unwrap();
    assert_eq!(get("s"), Some(Value::Set(vec![Value::Int(1)])));
    assert_eq!(
        get("m"),
        Some(Value::Map(vec![(Value::Int(1), Value::Text("a".into()))]))
    );
    run(&c, "DELETE m[1], s FROM ks.o WHERE k = 1").unwrap();
    assert_eq!((get("s"), get("m")), (None, None));

    run(&c, "UPDATE ks.o SET u.y = 'why' WHERE k = 1").unwrap();
    assert_eq!(
        get("u"),
        Some(Value::Udt(vec![
            ("x".into(), None),
            ("y".into(), Some(Value::Text("why".into())))
        ]))
    );
    run(&c, "DELETE u.y FROM ks.o WHERE k = 1").unwrap();
    assert_eq!(get("u"), None);
    // A whole write replaces the elements written before it.
    run(&c, "UPDATE ks.o SET l = [7] WHERE k = 1").unwrap();
    assert_eq!(get("l"), list(&[7]));
}

#[test]
fn wrongly_typed_values_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(
        &c,
        "CREATE TABLE ks.w (k int PRIMARY KEY, i int, l list<int>, f frozen<list<int>>, \
         p u_point)",
    )
    .unwrap();
    for stmt in [
        "INSERT INTO ks.w (k, i) VALUES (1, 'x')",
        "INSERT INTO ks.w (k, i) VALUES (1, 1.5)",
        "INSERT INTO ks.w (k, l) VALUES (1, {1})",
        "INSERT INTO ks.w (k, l) VALUES (1, [null])",
        "INSERT INTO ks.w (k, p) VALUES (1, {z: 1})",
        "INSERT INTO ks.w (k, p) VALUES (1, (1, 'a'))",
        "UPDATE ks.w SET f = f + [1] WHERE k = 1",
        "UPDATE ks.w SET i = i + 1 WHERE k = 1",
        "UPDATE ks.w SET l[0] = 1 WHERE k = 1",
        "INSERT INTO ks.w JSON '{\"k\": 1, \"zz\": 2}'",
        "INSERT INTO ks.w JSON '{\"k\": 1, \"l\": {\"a\": 1}}'",
    ] {
        let err = run(&c, stmt).unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{stmt}: {err:?}");
    }
}

#[test]
fn prepared_markers_take_the_types_of_elements_keys_indexes_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(
        &c,
        "CREATE TABLE ks.p (k int, c text, l list<bigint>, m map<uuid, text>, u u_point, \
         t tuple<int, blob>, PRIMARY KEY (k, c))",
    )
    .unwrap();
    let types = |q: &str| -> Vec<(String, CqlType)> {
        c.prepare(&Session::default(), q, None)
            .unwrap()
            .metadata
            .columns
            .into_iter()
            .map(|s| (s.name, s.ty))
            .collect()
    };
    let p = types(
        "UPDATE ks.p SET l[?] = ?, m[?] = ?, u.x = ?, l = l + [?], m = m - ? \
         WHERE k = ? AND c > ?",
    );
    let uuid_set = CqlType::set(CqlType::Uuid);
    assert_eq!(
        p,
        vec![
            ("idx(l)".into(), CqlType::Int),
            ("value(l)".into(), CqlType::Bigint),
            ("key(m)".into(), CqlType::Uuid),
            ("value(m)".into(), CqlType::Text),
            ("u.x".into(), CqlType::Int),
            ("value(l)".into(), CqlType::Bigint),
            ("m".into(), uuid_set),
            ("k".into(), CqlType::Int),
            ("c".into(), CqlType::Text),
        ]
    );
    let p = types("INSERT INTO ks.p (k, c, t, u) VALUES (?, ?, (?, ?), {y: ?})");
    let names: Vec<&str> = p.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["k", "c", "t[0]", "t[1]", "u.y"]);
    assert_eq!(p[3].1, CqlType::Blob);
    assert_eq!(p[4].1, CqlType::Text);
    let p = types("INSERT INTO ks.p JSON ?");
    assert_eq!(p, vec![("[json]".into(), CqlType::Text)]);
    let p = types("DELETE m[?] FROM ks.p WHERE k = ? AND c = ?");
    assert_eq!(p[0], ("key(m)".into(), CqlType::Uuid));
}

#[test]
fn range_deletions_remove_a_clustering_prefix_or_a_slice() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path());
    setup(&c);
    run(
        &c,
        "CREATE TABLE ks.r (k int, a int, b int, v int, PRIMARY KEY (k, a, b)) \
         WITH CLUSTERING ORDER BY (a DESC, b ASC)",
    )
    .unwrap();
    for a in 0..3 {
        for b in 0..3 {
            run(
                &c,
                &format!("INSERT INTO ks.r (k, a, b, v) VALUES (1, {a}, {b}, 0)"),
            )
            .unwrap();
        }
    }
    run(&c, "DELETE FROM ks.r WHERE k = 1 AND a = 1").unwrap();
    run(&c, "DELETE FROM ks.r WHERE k = 1 AND a = 2 AND b >= 1").unwrap();
    run(&c, "DELETE FROM ks.r WHERE k = 1 AND a < 1 AND a >= 0").unwrap();
    let rows = select(&c, "SELECT a, b FROM ks.r WHERE k = 1");
    assert_eq!(rows, vec![vec![Some(Value::Int(2)), Some(Value::Int(0))]]);
    let err = run(&c, "DELETE v FROM ks.r WHERE k = 1 AND a > 1").unwrap_err();
    assert!(
        err.to_string()
            .contains("Range deletions are not supported for specific columns"),
        "{err}"
    );
}
