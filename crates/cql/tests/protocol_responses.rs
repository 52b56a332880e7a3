//! Response frames encoded by this crate, committed under `tests/golden/responses/` so that
//! `tests/golden/verify_responses.py` can check that the real Python driver decodes them.
//! The test fails when the encoding changes; re-bless with `ILION_BLESS=1 cargo test -p
//! ilion-cql --test protocol_responses`, then re-run the Python check.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::{Bytes, BytesMut};
use ilion_cql::protocol::segment::SegmentCodec;
use ilion_cql::protocol::{
    Authenticate, ChangeType, ColumnSpec, Compression, Consistency, CqlType, Decoded, Duration,
    ErrorKind, ErrorResponse, Event, FailureInfo, FrameDecoder, Prepared, PreparedMetadata,
    ProtocolVersion, Response, ResponseEnvelope, ResultBody, Rows, RowsMetadata, SchemaChange,
    SchemaTarget, StatusChange, Supported, TableSpec, UdtType, Value, WriteType,
};

fn cell(ty: &CqlType, v: Value) -> Option<Bytes> {
    let mut out = BytesMut::new();
    ty.encode(&v, &mut out).unwrap();
    Some(out.freeze())
}

fn table() -> TableSpec {
    TableSpec {
        keyspace: "ks".into(),
        table: "t".into(),
    }
}

fn rows() -> Response {
    let udt = CqlType::Udt(UdtType {
        keyspace: Some("ks".into()),
        name: "addr".into(),
        fields: vec![
            ("street".into(), CqlType::Text),
            ("zip".into(), CqlType::Int),
        ],
        frozen: false,
    });
    let types = vec![
        ("k", CqlType::Int),
        ("name", CqlType::Text),
        ("tags", CqlType::list(CqlType::Int)),
        ("m", CqlType::map(CqlType::Text, CqlType::Bigint)),
        ("a", udt.clone()),
        ("tp", CqlType::Tuple(vec![CqlType::Int, CqlType::Text])),
        ("id", CqlType::Uuid),
        ("ts", CqlType::Timestamp),
        ("d", CqlType::Decimal),
        ("du", CqlType::Duration),
        ("ip", CqlType::Inet),
    ];
    let columns: Vec<ColumnSpec> = types
        .iter()
        .map(|(n, ty)| ColumnSpec {
            table: table(),
            name: (*n).into(),
            ty: ty.clone(),
        })
        .collect();
    let mut metadata = RowsMetadata::new(columns);
    metadata.paging_state = Some(Bytes::from_static(b"\x00\x01page"));
    let row = vec![
        cell(&types[0].1, Value::Int(7)),
        cell(&types[1].1, Value::Text("Ada".into())),
        cell(&types[2].1, Value::List(vec![Value::Int(1), Value::Int(2)])),
        cell(
            &types[3].1,
            Value::Map(vec![(Value::Text("x".into()), Value::Bigint(-5))]),
        ),
        cell(
            &udt,
            Value::Udt(vec![
                ("street".into(), Some(Value::Text("Main".into()))),
                ("zip".into(), None),
            ]),
        ),
        cell(
            &types[5].1,
            Value::Tuple(vec![Some(Value::Int(3)), Some(Value::Text("z".into()))]),
        ),
        cell(&types[6].1, Value::Uuid([0x11; 16])),
        cell(&types[7].1, Value::Timestamp(1_700_000_000_123)),
        cell(
            &types[8].1,
            Value::Decimal {
                scale: 2,
                unscaled: Bytes::from_static(&[0x30, 0x39]),
            },
        ),
        cell(
            &types[9].1,
            Value::Duration(Duration {
                months: 1,
                days: 2,
                nanoseconds: 3_000_000_000,
            }),
        ),
        cell(
            &types[10].1,
            Value::Inet(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
        ),
    ];
    let mut cells = row;
    cells.extend(std::iter::repeat_n(None, types.len()));
    Response::Result(ResultBody::Rows(Rows {
        metadata,
        rows_count: 2,
        cells,
    }))
}

fn prepared(version: ProtocolVersion) -> Response {
    let bind = vec![
        ColumnSpec {
            table: table(),
            name: "k".into(),
            ty: CqlType::Int,
        },
        ColumnSpec {
            table: table(),
            name: "v".into(),
            ty: CqlType::Text,
        },
    ];
    Response::Result(ResultBody::Prepared(Prepared {
        id: Bytes::from_static(&[0xab; 16]),
        result_metadata_id: if version == ProtocolVersion::V5 {
            Bytes::from_static(&[0xcd; 16])
        } else {
            Bytes::new()
        },
        metadata: PreparedMetadata {
            pk_indexes: vec![0],
            global_table_spec: Some(table()),
            columns: bind,
        },
        result_metadata: RowsMetadata::new(vec![]),
    }))
}

fn fixtures(version: ProtocolVersion) -> Vec<(&'static str, ResponseEnvelope)> {
    let v5 = version == ProtocolVersion::V5;
    let env = |r| ResponseEnvelope::new(version, 5, r);
    let err = |message: &str, kind| {
        Response::Error(ErrorResponse {
            message: message.into(),
            kind,
        })
    };
    let failures = |n: i32| {
        if v5 {
            FailureInfo::Reasons(vec![(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 1)])
        } else {
            FailureInfo::Count(n)
        }
    };
    let mut traced = env(rows());
    traced.tracing_id = Some([0x42; 16]);
    traced.warnings = Some(vec!["Aggregation query used without partition key".into()]);
    vec![
        ("rows", traced),
        ("prepared", env(prepared(version))),
        ("void", env(Response::Result(ResultBody::Void))),
        (
            "set_keyspace",
            env(Response::Result(ResultBody::SetKeyspace("ks".into()))),
        ),
        (
            "schema_change",
            env(Response::Result(ResultBody::SchemaChange(SchemaChange {
                change: ChangeType::Created,
                target: SchemaTarget::Table {
                    keyspace: "ks".into(),
                    name: "t".into(),
                },
            }))),
        ),
        (
            "supported",
            env(Response::Supported(Supported {
                options: vec![
                    ("CQL_VERSION".into(), vec!["3.4.7".into()]),
                    ("COMPRESSION".into(), vec!["lz4".into(), "snappy".into()]),
                    (
                        "PROTOCOL_VERSIONS".into(),
                        vec!["4/v4".into(), "5/v5".into()],
                    ),
                ],
            })),
        ),
        (
            "authenticate",
            env(Response::Authenticate(Authenticate {
                authenticator: "org.apache.cassandra.auth.PasswordAuthenticator".into(),
            })),
        ),
        (
            "unavailable",
            env(err(
                "Cannot achieve consistency level QUORUM",
                ErrorKind::Unavailable {
                    consistency: Consistency::Quorum,
                    required: 2,
                    alive: 1,
                },
            )),
        ),
        (
            "write_timeout",
            env(err(
                "timed out",
                ErrorKind::WriteTimeout {
                    consistency: Consistency::Serial,
                    received: 1,
                    block_for: 2,
                    write_type: WriteType::Cas,
                    contentions: v5.then_some(3),
                },
            )),
        ),
        (
            "read_failure",
            env(err(
                "failed",
                ErrorKind::ReadFailure {
                    consistency: Consistency::One,
                    received: 0,
                    block_for: 1,
                    failures: failures(1),
                    data_present: false,
                },
            )),
        ),
        (
            "write_failure",
            env(err(
                "failed",
                ErrorKind::WriteFailure {
                    consistency: Consistency::Two,
                    received: 1,
                    block_for: 2,
                    failures: failures(1),
                    write_type: WriteType::Batch,
                },
            )),
        ),
        (
            "function_failure",
            env(err(
                "boom",
                ErrorKind::FunctionFailure {
                    keyspace: "ks".into(),
                    function: "f".into(),
                    arg_types: vec!["int".into()],
                },
            )),
        ),
        (
            "already_exists",
            env(err(
                "exists",
                ErrorKind::AlreadyExists {
                    keyspace: "ks".into(),
                    table: "t".into(),
                },
            )),
        ),
        (
            "unprepared",
            env(err(
                "unknown id",
                ErrorKind::Unprepared {
                    id: Bytes::from_static(&[0xab; 16]),
                },
            )),
        ),
        (
            "unsupported_version",
            env(Response::Error(ErrorResponse::unsupported_version(6))),
        ),
        (
            "event_status",
            ResponseEnvelope::new(
                version,
                -1,
                Response::Event(Event::StatusChange {
                    change: StatusChange::Down,
                    address: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), 9042),
                }),
            ),
        ),
        (
            "event_schema_function",
            ResponseEnvelope::new(
                version,
                -1,
                Response::Event(Event::SchemaChange(SchemaChange {
                    change: ChangeType::Dropped,
                    target: SchemaTarget::Function {
                        keyspace: "ks".into(),
                        name: "f".into(),
                        arg_types: vec!["int".into(), "text".into()],
                    },
                })),
            ),
        ),
    ]
}

#[test]
fn encoded_responses_match_the_committed_fixtures() {
    let dir = format!("{}/tests/golden/responses", env!("CARGO_MANIFEST_DIR"));
    let bless = std::env::var_os("ILION_BLESS").is_some();
    for version in [ProtocolVersion::V4, ProtocolVersion::V5] {
        for (name, env) in fixtures(version) {
            let mut out = BytesMut::new();
            env.write(&mut out).unwrap();
            assert_eq!(out.len(), env.encoded_len(), "{name}");
            let mut files = vec![(
                format!("{dir}/v{}_{name}.bin", version.number()),
                out.clone(),
            )];
            if name == "rows" {
                // The same frame compressed: an LZ4 body in v4, an LZ4 segment in v5.
                let compressed = match version {
                    ProtocolVersion::V4 => {
                        let mut b = out.clone();
                        let Decoded::Complete(f) = FrameDecoder::new().decode(&mut b).unwrap()
                        else {
                            panic!("incomplete")
                        };
                        let mut c = BytesMut::new();
                        f.compressed(Compression::Lz4)
                            .unwrap()
                            .write(&mut c)
                            .unwrap();
                        c
                    }
                    ProtocolVersion::V5 => {
                        let mut c = BytesMut::new();
                        SegmentCodec::lz4().encode_frames(&out, &mut c).unwrap();
                        c
                    }
                };
                files.push((
                    format!("{dir}/v{}_lz4_rows.bin", version.number()),
                    compressed,
                ));
            }
            for (path, out) in files {
                if bless {
                    std::fs::create_dir_all(&dir).unwrap();
                    std::fs::write(&path, &out).unwrap();
                } else {
                    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                    assert_eq!(
                        &out[..],
                        &committed[..],
                        "{path} differs: re-bless and re-verify"
                    );
                }
            }
        }
    }
}

#[test]
fn rows_cells_decode_to_typed_values_with_their_column_types() {
    let Response::Result(ResultBody::Rows(rows)) = rows() else {
        panic!("not rows")
    };
    assert_eq!(rows.value(0, 1).unwrap(), Some(Value::Text("Ada".into())));
    assert_eq!(
        rows.value(0, 2).unwrap(),
        Some(Value::List(vec![Value::Int(1), Value::Int(2)]))
    );
    assert_eq!(rows.value(1, 0).unwrap(), None);
    assert!(rows.value(2, 0).is_err());
    assert_eq!(rows.rows().count(), 2);
}
