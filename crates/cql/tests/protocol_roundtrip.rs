//! Round-trip properties: for frames of every message in both versions and directions, and for
//! values of every CQL type, `decode(encode(x)) == x` and the encoded length is the predicted
//! `encoded_len()`. Seeded (`PROPTEST_RNG_SEED` overrides) so that a failure replays.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Bytes, BytesMut};
use ilion_cql::protocol::message::{AuthChallenge, AuthResponse, AuthSuccess};
use ilion_cql::protocol::segment::SegmentCodec;
use ilion_cql::protocol::{
    Authenticate, Batch, BatchKind, BatchQuery, BatchStatement, ChangeType, ColumnSpec,
    Compression, Consistency, CqlType, Decoded, Duration, ErrorKind, ErrorResponse, Event, Execute,
    FailureInfo, FrameDecoder, Prepare, Prepared, PreparedMetadata, ProtocolVersion, Query,
    QueryParameters, RawValue, Register, Request, RequestEnvelope, Response, ResponseEnvelope,
    ResultBody, Rows, RowsMetadata, SchemaChange, SchemaTarget, Startup, StatusChange, Supported,
    TableSpec, TopologyChange, TypeOption, UdtType, V5FrameDecoder, Value, Values, WriteType,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config() -> Config {
    Config {
        cases: 256,
        rng_seed: RngSeed::Fixed(0x1710_0006),
        failure_persistence: None,
        ..Config::default()
    }
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(ProtocolVersion::V4), Just(ProtocolVersion::V5)]
}

fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,10}"
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn consistency() -> impl Strategy<Value = Consistency> {
    proptest::sample::select(Consistency::ALL.to_vec())
}

fn raw_value() -> impl Strategy<Value = RawValue> {
    prop_oneof![
        1 => Just(RawValue::Null),
        1 => Just(RawValue::Unset),
        6 => bytes(24).prop_map(RawValue::Bytes),
    ]
}

fn values() -> impl Strategy<Value = Values> {
    prop_oneof![
        Just(Values::None),
        vec(raw_value(), 0..5).prop_map(Values::Positional),
        vec((name(), raw_value()), 0..5).prop_map(Values::Named),
    ]
}

fn v5_only<T: std::fmt::Debug + Clone + 'static>(
    v: ProtocolVersion,
    s: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<Option<T>> {
    if v == ProtocolVersion::V5 {
        option::of(s).boxed()
    } else {
        Just(None).boxed()
    }
}

fn params(v: ProtocolVersion) -> impl Strategy<Value = QueryParameters> {
    (
        (
            consistency(),
            values(),
            any::<bool>(),
            option::of(any::<i32>()),
            option::of(bytes(16)),
        ),
        (
            option::of(consistency()),
            option::of(any::<i64>()),
            v5_only(v, name()),
            v5_only(v, any::<i32>()),
        ),
    )
        .prop_map(
            |(
                (consistency, values, skip_metadata, page_size, paging_state),
                (serial, ts, ks, now),
            )| {
                QueryParameters {
                    consistency,
                    values,
                    skip_metadata,
                    page_size,
                    paging_state,
                    serial_consistency: serial,
                    default_timestamp: ts,
                    keyspace: ks,
                    now_in_seconds: now,
                }
            },
        )
}

fn batch(v: ProtocolVersion) -> impl Strategy<Value = Batch> {
    // A BATCH's values are positional (CASSANDRA-10246: no names).
    let statement = || {
        let query = prop_oneof![
            text().prop_map(BatchQuery::Text),
            bytes(16).prop_map(BatchQuery::Prepared),
        ];
        let vals = vec(raw_value(), 0..4).prop_map(Values::Positional);
        (query, vals).prop_map(|(query, values)| BatchStatement { query, values })
    };
    let kind = prop_oneof![
        Just(BatchKind::Logged),
        Just(BatchKind::Unlogged),
        Just(BatchKind::Counter)
    ];
    (
        kind,
        vec(statement(), 0..4),
        consistency(),
        option::of(consistency()),
        option::of(any::<i64>()),
        v5_only(v, name()),
        v5_only(v, any::<i32>()),
    )
        .prop_map(
            |(kind, statements, consistency, serial, ts, keyspace, now)| Batch {
                kind,
                statements,
                consistency,
                serial_consistency: serial,
                default_timestamp: ts,
                keyspace,
                now_in_seconds: now,
            },
        )
}

fn request(v: ProtocolVersion) -> impl Strategy<Value = Request> {
    let execute_meta = if v == ProtocolVersion::V5 {
        bytes(16).boxed()
    } else {
        Just(Bytes::new()).boxed()
    };
    prop_oneof![
        vec((name(), text()), 0..4).prop_map(|options| Request::Startup(Startup { options })),
        option::of(bytes(32)).prop_map(|token| Request::AuthResponse(AuthResponse { token })),
        Just(Request::Options),
        (text(), params(v)).prop_map(|(query, params)| Request::Query(Query { query, params })),
        (text(), v5_only(v, name()))
            .prop_map(|(query, keyspace)| Request::Prepare(Prepare { query, keyspace })),
        (bytes(16), execute_meta, params(v)).prop_map(|(id, result_metadata_id, params)| {
            Request::Execute(Execute {
                id,
                result_metadata_id,
                params,
            })
        }),
        batch(v).prop_map(Request::Batch),
        vec(name(), 0..4).prop_map(|events| Request::Register(Register { events })),
    ]
}

fn custom_payload() -> impl Strategy<Value = Option<Vec<(String, Option<Bytes>)>>> {
    option::of(vec((name(), option::of(bytes(8))), 0..3))
}

fn request_envelope() -> impl Strategy<Value = RequestEnvelope> {
    version().prop_flat_map(|v| {
        (
            any::<i16>(),
            any::<bool>(),
            any::<bool>(),
            custom_payload(),
            request(v),
        )
            .prop_map(move |(stream, tracing, beta, custom_payload, request)| {
                RequestEnvelope {
                    version: v,
                    stream,
                    tracing,
                    beta,
                    custom_payload,
                    request,
                }
            })
    })
}

fn leaf_type() -> impl Strategy<Value = CqlType> {
    use CqlType as T;
    prop_oneof![
        "[a-z.]{1,20}".prop_map(T::Custom),
        proptest::sample::select(vec![
            T::Ascii,
            T::Bigint,
            T::Blob,
            T::Boolean,
            T::Counter,
            T::Decimal,
            T::Double,
            T::Float,
            T::Int,
            T::Timestamp,
            T::Uuid,
            T::Text,
            T::Varint,
            T::Timeuuid,
            T::Inet,
            T::Date,
            T::Time,
            T::Smallint,
            T::Tinyint,
            T::Duration,
        ]),
    ]
}

fn column_type() -> impl Strategy<Value = CqlType> {
    leaf_type().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(CqlType::list),
            inner.clone().prop_map(CqlType::set),
            (inner.clone(), inner.clone()).prop_map(|(k, v)| CqlType::map(k, v)),
            vec(inner.clone(), 0..4).prop_map(CqlType::Tuple),
            (name(), name(), vec((name(), inner), 0..4)).prop_map(|(keyspace, name, fields)| {
                CqlType::Udt(UdtType {
                    keyspace: Some(keyspace),
                    name,
                    fields,
                    frozen: false,
                })
            }),
        ]
    })
}

fn value_of(t: &CqlType) -> BoxedStrategy<Value> {
    use CqlType as T;
    const DAY: i64 = 86_400_000_000_000;
    let fixed = |s: BoxedStrategy<Value>| prop_oneof![9 => s, 1 => Just(Value::Empty)].boxed();
    match t {
        T::Custom(_) => bytes(16).prop_map(Value::Custom).boxed(),
        T::Ascii => "[ -~]{0,16}".prop_map(Value::Ascii).boxed(),
        T::Text => text().prop_map(Value::Text).boxed(),
        T::Blob => bytes(16).prop_map(Value::Blob).boxed(),
        T::Bigint => fixed(any::<i64>().prop_map(Value::Bigint).boxed()),
        T::Counter => fixed(any::<i64>().prop_map(Value::Counter).boxed()),
        T::Timestamp => fixed(any::<i64>().prop_map(Value::Timestamp).boxed()),
        T::Time => fixed((0..DAY).prop_map(Value::Time).boxed()),
        T::Boolean => fixed(any::<bool>().prop_map(Value::Boolean).boxed()),
        T::Int => fixed(any::<i32>().prop_map(Value::Int).boxed()),
        T::Date => fixed(any::<u32>().prop_map(Value::Date).boxed()),
        T::Smallint => fixed(any::<i16>().prop_map(Value::Smallint).boxed()),
        T::Tinyint => fixed(any::<i8>().prop_map(Value::Tinyint).boxed()),
        T::Double => fixed(
            any::<f64>()
                .prop_filter("nan", |f| !f.is_nan())
                .prop_map(Value::Double)
                .boxed(),
        ),
        T::Float => fixed(
            any::<f32>()
                .prop_filter("nan", |f| !f.is_nan())
                .prop_map(Value::Float)
                .boxed(),
        ),
        T::Uuid => fixed(any::<[u8; 16]>().prop_map(Value::Uuid).boxed()),
        T::Timeuuid => fixed(
            any::<[u8; 16]>()
                .prop_map(|mut id| {
                    id[6] = 0x10 | (id[6] & 0x0f);
                    Value::Timeuuid(id)
                })
                .boxed(),
        ),
        T::Inet => fixed(
            prop_oneof![
                any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
                any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
            ]
            .prop_map(Value::Inet)
            .boxed(),
        ),
        T::Varint => fixed(
            vec(any::<u8>(), 1..12)
                .prop_map(|b| Value::Varint(b.into()))
                .boxed(),
        ),
        T::Decimal => fixed(
            (any::<i32>(), vec(any::<u8>(), 1..12))
                .prop_map(|(scale, b)| Value::Decimal {
                    scale,
                    unscaled: b.into(),
                })
                .boxed(),
        ),
        T::Duration => fixed(
            (0..=i32::MAX, 0..=i32::MAX, 0..=i64::MAX, any::<bool>())
                .prop_map(|(m, d, n, neg)| {
                    let s = if neg { -1 } else { 1 };
                    Value::Duration(Duration {
                        months: m * s,
                        days: d * s,
                        nanoseconds: n * i64::from(s),
                    })
                })
                .boxed(),
        ),
        T::List { element: e, .. } => vec(value_of(e), 0..4).prop_map(Value::List).boxed(),
        T::Set { element: e, .. } => vec(value_of(e), 0..4).prop_map(Value::Set).boxed(),
        T::Map {
            key: k, value: v, ..
        } => vec((value_of(k), value_of(v)), 0..4)
            .prop_map(Value::Map)
            .boxed(),
        T::Vector { element, dimension } => vec(value_of(element), *dimension as usize)
            .prop_map(Value::List)
            .boxed(),
        T::Tuple(types) => {
            let parts: Vec<_> = types.iter().map(|t| option::of(value_of(t))).collect();
            parts.prop_map(Value::Tuple).boxed()
        }
        T::Udt(u) => {
            let fields: Vec<_> = u
                .fields
                .iter()
                .map(|(n, t)| (Just(n.clone()), option::of(value_of(t))))
                .collect();
            (fields, 0..=u.fields.len())
                .prop_map(|(mut f, keep)| {
                    f.truncate(keep);
                    Value::Udt(f)
                })
                .boxed()
        }
    }
}

fn table_spec() -> impl Strategy<Value = TableSpec> {
    (name(), name()).prop_map(|(keyspace, table)| TableSpec { keyspace, table })
}

/// Column specs, with a global table spec (every column in it) or one per column.
fn columns() -> impl Strategy<Value = (Option<TableSpec>, Vec<ColumnSpec>)> {
    (
        option::of(table_spec()),
        vec((table_spec(), name(), column_type()), 0..4),
    )
        .prop_map(|(global, cols)| {
            let cols = cols
                .into_iter()
                .map(|(t, name, ty)| ColumnSpec {
                    table: global.clone().unwrap_or(t),
                    name,
                    ty,
                })
                .collect();
            (global, cols)
        })
}

fn rows_metadata(v: ProtocolVersion) -> impl Strategy<Value = RowsMetadata> {
    (
        any::<bool>(),
        columns(),
        0usize..4,
        option::of(bytes(12)),
        v5_only(v, bytes(16)),
    )
        .prop_map(
            |(no_metadata, (global, cols), count, paging_state, new_id)| {
                if no_metadata {
                    RowsMetadata {
                        column_count: count,
                        paging_state,
                        new_metadata_id: new_id,
                        global_table_spec: None,
                        columns: None,
                    }
                } else {
                    RowsMetadata {
                        column_count: cols.len(),
                        paging_state,
                        new_metadata_id: new_id,
                        global_table_spec: global,
                        columns: Some(cols),
                    }
                }
            },
        )
}

fn rows(v: ProtocolVersion) -> impl Strategy<Value = Rows> {
    (rows_metadata(v), 0usize..5).prop_flat_map(|(metadata, rows_count)| {
        let n = rows_count * metadata.column_count;
        vec(option::of(bytes(10)), n..=n).prop_map(move |cells| Rows {
            metadata: metadata.clone(),
            rows_count,
            cells,
        })
    })
}

fn schema_change() -> impl Strategy<Value = SchemaChange> {
    let change = prop_oneof![
        Just(ChangeType::Created),
        Just(ChangeType::Updated),
        Just(ChangeType::Dropped)
    ];
    let target = prop_oneof![
        name().prop_map(|keyspace| SchemaTarget::Keyspace { keyspace }),
        (name(), name()).prop_map(|(keyspace, name)| SchemaTarget::Table { keyspace, name }),
        (name(), name()).prop_map(|(keyspace, name)| SchemaTarget::Type { keyspace, name }),
        (name(), name(), vec(name(), 0..3)).prop_map(|(keyspace, name, arg_types)| {
            SchemaTarget::Function {
                keyspace,
                name,
                arg_types,
            }
        }),
        (name(), name(), vec(name(), 0..3)).prop_map(|(keyspace, name, arg_types)| {
            SchemaTarget::Aggregate {
                keyspace,
                name,
                arg_types,
            }
        }),
    ];
    (change, target).prop_map(|(change, target)| SchemaChange { change, target })
}

fn result_body(v: ProtocolVersion) -> impl Strategy<Value = ResultBody> {
    let meta_id = if v == ProtocolVersion::V5 {
        bytes(16).boxed()
    } else {
        Just(Bytes::new()).boxed()
    };
    prop_oneof![
        Just(ResultBody::Void),
        rows(v).prop_map(ResultBody::Rows),
        name().prop_map(ResultBody::SetKeyspace),
        (
            bytes(16),
            meta_id,
            vec(any::<u16>(), 0..3),
            columns(),
            rows_metadata(v)
        )
            .prop_map(
                |(id, result_metadata_id, pk_indexes, (global, cols), result_metadata)| {
                    ResultBody::Prepared(Prepared {
                        id,
                        result_metadata_id,
                        metadata: PreparedMetadata {
                            pk_indexes,
                            global_table_spec: global,
                            columns: cols,
                        },
                        result_metadata,
                    })
                }
            ),
        schema_change().prop_map(ResultBody::SchemaChange),
    ]
}

fn write_type() -> impl Strategy<Value = WriteType> {
    proptest::sample::select(vec![
        WriteType::Simple,
        WriteType::Batch,
        WriteType::UnloggedBatch,
        WriteType::Counter,
        WriteType::BatchLog,
        WriteType::Cas,
        WriteType::View,
        WriteType::Cdc,
    ])
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(a.into())),
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(a.into())),
    ]
}

fn failures(v: ProtocolVersion) -> BoxedStrategy<FailureInfo> {
    match v {
        ProtocolVersion::V4 => any::<i32>().prop_map(FailureInfo::Count).boxed(),
        ProtocolVersion::V5 => vec((ip(), any::<u16>()), 0..3)
            .prop_map(FailureInfo::Reasons)
            .boxed(),
    }
}

fn error_kind(v: ProtocolVersion) -> impl Strategy<Value = ErrorKind> {
    use ErrorKind as E;
    let counts = || (consistency(), any::<i32>(), any::<i32>());
    prop_oneof![
        proptest::sample::select(vec![
            E::ServerError,
            E::ProtocolError,
            E::BadCredentials,
            E::Overloaded,
            E::IsBootstrapping,
            E::TruncateError,
            E::CdcWriteFailure,
            E::SyntaxError,
            E::Unauthorized,
            E::Invalid,
            E::ConfigError,
        ]),
        counts().prop_map(|(consistency, required, alive)| E::Unavailable {
            consistency,
            required,
            alive
        }),
        (counts(), write_type(), any::<u16>()).prop_map(
            move |((consistency, received, block_for), write_type, n)| {
                let contentions =
                    (v == ProtocolVersion::V5 && write_type == WriteType::Cas).then_some(n);
                E::WriteTimeout {
                    consistency,
                    received,
                    block_for,
                    write_type,
                    contentions,
                }
            }
        ),
        (counts(), any::<bool>()).prop_map(|((consistency, received, block_for), data_present)| {
            E::ReadTimeout {
                consistency,
                received,
                block_for,
                data_present,
            }
        }),
        (counts(), failures(v), any::<bool>()).prop_map(
            |((consistency, received, block_for), failures, data_present)| E::ReadFailure {
                consistency,
                received,
                block_for,
                failures,
                data_present,
            }
        ),
        (name(), name(), vec(name(), 0..3)).prop_map(|(keyspace, function, arg_types)| {
            E::FunctionFailure {
                keyspace,
                function,
                arg_types,
            }
        }),
        (counts(), failures(v), write_type()).prop_map(
            |((consistency, received, block_for), failures, write_type)| E::WriteFailure {
                consistency,
                received,
                block_for,
                failures,
                write_type,
            }
        ),
        counts().prop_map(|(consistency, received, block_for)| E::CasWriteUnknown {
            consistency,
            received,
            block_for
        }),
        (name(), name()).prop_map(|(keyspace, table)| E::AlreadyExists { keyspace, table }),
        bytes(16).prop_map(|id| E::Unprepared { id }),
    ]
}

fn socket() -> impl Strategy<Value = SocketAddr> {
    (ip(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (
            prop_oneof![
                Just(TopologyChange::NewNode),
                Just(TopologyChange::RemovedNode),
                Just(TopologyChange::MovedNode)
            ],
            socket()
        )
            .prop_map(|(change, address)| Event::TopologyChange { change, address }),
        (
            prop_oneof![Just(StatusChange::Up), Just(StatusChange::Down)],
            socket()
        )
            .prop_map(|(change, address)| Event::StatusChange { change, address }),
        schema_change().prop_map(Event::SchemaChange),
    ]
}

fn response(v: ProtocolVersion) -> impl Strategy<Value = Response> {
    prop_oneof![
        (text(), error_kind(v))
            .prop_map(|(message, kind)| Response::Error(ErrorResponse { message, kind })),
        Just(Response::Ready),
        name().prop_map(|authenticator| Response::Authenticate(Authenticate { authenticator })),
        vec((name(), vec(text(), 0..3)), 0..3)
            .prop_map(|options| Response::Supported(Supported { options })),
        result_body(v).prop_map(Response::Result),
        event().prop_map(Response::Event),
        option::of(bytes(16)).prop_map(|token| Response::AuthChallenge(AuthChallenge { token })),
        option::of(bytes(16)).prop_map(|token| Response::AuthSuccess(AuthSuccess { token })),
    ]
}

fn response_envelope() -> impl Strategy<Value = ResponseEnvelope> {
    version().prop_flat_map(|v| {
        (
            any::<i16>(),
            option::of(any::<[u8; 16]>()),
            option::of(vec(text(), 0..3)),
            custom_payload(),
            response(v),
        )
            .prop_map(
                move |(stream, tracing_id, warnings, custom_payload, response)| ResponseEnvelope {
                    version: v,
                    stream,
                    tracing_id,
                    warnings,
                    custom_payload,
                    response,
                },
            )
    })
}

fn one_frame(buf: &mut BytesMut) -> ilion_cql::protocol::Frame {
    match FrameDecoder::new().decode(buf).unwrap() {
        Decoded::Complete(f) => f,
        Decoded::Incomplete { needed } => panic!("incomplete, needs {needed}"),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn request_frames_round_trip_with_their_predicted_length(env in request_envelope()) {
        let mut buf = BytesMut::new();
        env.write(&mut buf).unwrap();
        prop_assert_eq!(buf.len(), env.encoded_len());
        let frame = one_frame(&mut buf);
        prop_assert!(buf.is_empty());
        prop_assert_eq!(RequestEnvelope::decode(frame).unwrap(), env);
    }

    #[test]
    fn response_frames_round_trip_with_their_predicted_length(env in response_envelope()) {
        let mut buf = BytesMut::new();
        env.write(&mut buf).unwrap();
        prop_assert_eq!(buf.len(), env.encoded_len());
        let frame = one_frame(&mut buf);
        prop_assert_eq!(ResponseEnvelope::decode(frame).unwrap(), env);
    }

    #[test]
    fn values_round_trip_through_their_type((ty, value) in column_type().prop_flat_map(|t| (Just(t.clone()), value_of(&t)))) {
        let mut buf = BytesMut::new();
        ty.encode(&value, &mut buf).unwrap();
        prop_assert_eq!(buf.len(), value.encoded_len());
        prop_assert_eq!(ty.decode(&buf.freeze()).unwrap(), value);
    }

    #[test]
    fn type_descriptors_round_trip(ty in column_type()) {
        let mut buf = BytesMut::new();
        ty.write_option(&mut buf).unwrap();
        prop_assert_eq!(buf.len(), ty.option_len());
        prop_assert_eq!(CqlType::decode_option(&buf).unwrap(), (ty, buf.len()));
    }

    #[test]
    fn v4_compressed_frames_round_trip(env in request_envelope(), snappy in any::<bool>()) {
        let c = if snappy { Compression::Snappy } else { Compression::Lz4 };
        let mut buf = BytesMut::new();
        env.write(&mut buf).unwrap();
        let frame = one_frame(&mut buf).compressed(c).unwrap();
        let mut wire = BytesMut::new();
        frame.write(&mut wire).unwrap();
        let back = one_frame(&mut wire).decompressed(Some(c), 1 << 20).unwrap();
        prop_assert_eq!(RequestEnvelope::decode(back).unwrap(), env);
    }

    #[test]
    fn v5_segments_carry_frames_in_any_chunking(
        envs in vec(request_envelope(), 1..6),
        lz4 in any::<bool>(),
        chunk in 1usize..200,
    ) {
        let codec = if lz4 { SegmentCodec::lz4() } else { SegmentCodec::uncompressed() };
        let mut wire = BytesMut::new();
        // Several small frames share one self-contained segment; each batch of frames is one.
        for pair in envs.chunks(2) {
            let mut frames = BytesMut::new();
            for e in pair {
                e.write(&mut frames).unwrap();
            }
            codec.encode_frames(&frames, &mut wire).unwrap();
        }
        let mut dec = V5FrameDecoder::new(codec, FrameDecoder::new());
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Decoded::Complete(f) = dec.decode(&mut buf).unwrap() {
                got.push(RequestEnvelope::decode(f).unwrap());
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, envs);
    }

    #[test]
    fn every_strict_prefix_of_a_frame_is_incomplete(env in request_envelope()) {
        let mut whole = BytesMut::new();
        env.write(&mut whole).unwrap();
        for cut in 0..whole.len() {
            let mut prefix = BytesMut::from(&whole[..cut]);
            let got = FrameDecoder::new().decode(&mut prefix).unwrap();
            let ok = matches!(got, Decoded::Incomplete { needed } if needed > 0 && needed <= whole.len() - cut);
            prop_assert!(ok, "cut at {}: {:?}", cut, got);
            prop_assert_eq!(prefix.len(), cut);
        }
    }

    #[test]
    fn arbitrary_bytes_decode_to_an_error_or_a_value_never_a_panic(raw in vec(any::<u8>(), 0..64), ty in column_type()) {
        let mut buf = BytesMut::from(&raw[..]);
        if let Ok(Decoded::Complete(frame)) = FrameDecoder::new().decode(&mut buf) {
            let _ = RequestEnvelope::decode(frame.clone());
            let _ = ResponseEnvelope::decode(frame);
        }
        let _ = CqlType::decode_option(&raw);
        let _ = ty.decode(&Bytes::from(raw));
    }
}

#[test]
fn a_large_frame_spans_segments_and_reassembles() {
    let env = RequestEnvelope::new(
        ProtocolVersion::V5,
        7,
        Request::Query(Query {
            query: "x".repeat(300_000),
            params: QueryParameters::new(Consistency::One),
        }),
    );
    for codec in [SegmentCodec::uncompressed(), SegmentCodec::lz4()] {
        let mut frame = BytesMut::new();
        env.write(&mut frame).unwrap();
        let mut wire = BytesMut::new();
        codec.encode_frames(&frame, &mut wire).unwrap();
        let mut dec = V5FrameDecoder::new(codec, FrameDecoder::new());
        let Decoded::Complete(f) = dec.decode(&mut wire).unwrap() else {
            panic!("incomplete")
        };
        assert_eq!(RequestEnvelope::decode(f).unwrap(), env);
    }
}

/// The names flag (0x40) of a BATCH is read as Cassandra reads it, ignored: the values are a
/// positional list. Found by guided fuzzing: a BATCH with the flag set decoded as positional,
/// re-encoded, and decoded again as another request (consistency QUORUM became ANY).
#[test]
fn a_batch_names_flag_is_ignored_and_named_values_are_not_encoded() {
    let body: &[u8] = &[
        0, // logged
        0, 1, // one statement
        0, 0, 0, 0, 5, b'B', b'E', b'G', b'I', b'N', // query text "BEGIN"
        0, 1, 0, 0, 0, 1, 7, // one positional value: 0x07
        0, 4,    // QUORUM
        0x40, // names flag
    ];
    let mut raw = vec![4u8, 0, 0, 3, 0x0d];
    raw.extend_from_slice(&(body.len() as u32).to_be_bytes());
    raw.extend_from_slice(body);
    let env = RequestEnvelope::decode(one_frame(&mut BytesMut::from(&raw[..]))).unwrap();
    let Request::Batch(batch) = &env.request else {
        panic!("not a batch: {env:?}")
    };
    assert_eq!(batch.consistency, Consistency::Quorum);
    assert_eq!(
        batch.statements,
        [BatchStatement {
            query: BatchQuery::Text("BEGIN".into()),
            values: Values::Positional(vec![RawValue::Bytes(Bytes::from_static(&[7]))]),
        }]
    );
    let mut out = BytesMut::new();
    env.write(&mut out).unwrap();
    assert_eq!(RequestEnvelope::decode(one_frame(&mut out)).unwrap(), env);

    let named = RequestEnvelope::new(
        ProtocolVersion::V4,
        3,
        Request::Batch(Batch {
            statements: vec![BatchStatement {
                query: BatchQuery::Text("BEGIN".into()),
                values: Values::Named(vec![("k".into(), RawValue::Null)]),
            }],
            ..batch.clone()
        }),
    );
    let err = named.write(&mut BytesMut::new()).unwrap_err();
    assert!(err.to_string().contains("CASSANDRA-10246"), "{err}");
}
