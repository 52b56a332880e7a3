//! Decode and encode of the messages a server handles most: a QUERY, a prepared EXECUTE and a
//! 100-row RESULT of 5 columns. Decoding borrows values and cells from the frame's `Bytes`.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ilion_cql::protocol::{
    ColumnSpec, Consistency, CqlType, Decoded, Execute, FrameDecoder, ProtocolVersion, Query,
    QueryParameters, RawValue, Request, RequestEnvelope, Response, ResponseEnvelope, ResultBody,
    Rows, RowsMetadata, TableSpec, Values,
};

fn query() -> RequestEnvelope {
    let mut params = QueryParameters::new(Consistency::LocalQuorum);
    params.values = Values::Positional(vec![RawValue::Bytes(Bytes::from_static(&[0, 0, 0, 42]))]);
    params.page_size = Some(5000);
    params.default_timestamp = Some(1_700_000_000_000_000);
    RequestEnvelope::new(
        ProtocolVersion::V4,
        1,
        Request::Query(Query {
            query: "SELECT id, name, age, email, created FROM app.users WHERE id = ?".into(),
            params,
        }),
    )
}

fn execute(version: ProtocolVersion) -> RequestEnvelope {
    let mut params = QueryParameters::new(Consistency::LocalQuorum);
    params.values = Values::Positional(vec![
        RawValue::Bytes(Bytes::from_static(&[0, 0, 0, 42])),
        RawValue::Bytes(Bytes::from_static(b"Ada Lovelace")),
        RawValue::Bytes(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 36])),
        RawValue::Bytes(Bytes::from_static(&[7; 16])),
        RawValue::Bytes(Bytes::from_static(b"ada@example.com")),
    ]);
    params.skip_metadata = true;
    params.page_size = Some(5000);
    params.default_timestamp = Some(1_700_000_000_000_000);
    let result_metadata_id = if version == ProtocolVersion::V5 {
        Bytes::from_static(&[9; 16])
    } else {
        Bytes::new()
    };
    RequestEnvelope::new(
        version,
        2,
        Request::Execute(Execute {
            id: Bytes::from_static(&[1; 16]),
            result_metadata_id,
            params,
        }),
    )
}

fn rows_result() -> ResponseEnvelope {
    let table = TableSpec {
        keyspace: "app".into(),
        table: "users".into(),
    };
    let col = |name: &str, ty| ColumnSpec {
        table: table.clone(),
        name: name.into(),
        ty,
    };
    let metadata = RowsMetadata::new(vec![
        col("id", CqlType::Int),
        col("name", CqlType::Text),
        col("age", CqlType::Bigint),
        col("token", CqlType::Uuid),
        col("score", CqlType::Double),
    ]);
    let mut cells = Vec::with_capacity(500);
    for i in 0..100i32 {
        cells.push(Some(Bytes::copy_from_slice(&i.to_be_bytes())));
        cells.push(Some(Bytes::from(format!("user number {i}"))));
        cells.push(Some(Bytes::copy_from_slice(&i64::from(i).to_be_bytes())));
        cells.push(Some(Bytes::copy_from_slice(&[i as u8; 16])));
        cells.push(Some(Bytes::copy_from_slice(
            &(f64::from(i) * 1.5).to_be_bytes(),
        )));
    }
    let rows = Rows {
        metadata,
        rows_count: 100,
        cells,
    };
    ResponseEnvelope::new(
        ProtocolVersion::V4,
        3,
        Response::Result(ResultBody::Rows(rows)),
    )
}

fn encoded_request(env: &RequestEnvelope) -> Bytes {
    let mut out = BytesMut::new();
    env.write(&mut out).expect("encodes");
    out.freeze()
}

fn bench(c: &mut Criterion) {
    let decoder = FrameDecoder::new();
    let mut g = c.benchmark_group("protocol");

    let cases = [
        ("query_v4", query()),
        ("execute_v4", execute(ProtocolVersion::V4)),
        ("execute_v5", execute(ProtocolVersion::V5)),
    ];
    for (name, env) in &cases {
        let wire = encoded_request(env);
        g.throughput(Throughput::Bytes(wire.len() as u64));
        g.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| {
                let mut buf = black_box(&wire).clone();
                let Ok(Decoded::Complete(frame)) = decoder.decode_bytes(&mut buf) else {
                    panic!("frame")
                };
                black_box(RequestEnvelope::decode(frame).expect("decodes"))
            })
        });
        let mut out = BytesMut::with_capacity(1024);
        g.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| {
                out.clear();
                black_box(env).write(&mut out).expect("encodes");
                black_box(out.len())
            })
        });
    }

    let rows = rows_result();
    let mut wire = BytesMut::new();
    rows.write(&mut wire).expect("encodes");
    let wire = wire.freeze();
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("decode_result_100_rows_5_columns", |b| {
        b.iter(|| {
            let mut buf = black_box(&wire).clone();
            let Ok(Decoded::Complete(frame)) = decoder.decode_bytes(&mut buf) else {
                panic!("frame")
            };
            black_box(ResponseEnvelope::decode(frame).expect("decodes"))
        })
    });
    let mut out = BytesMut::with_capacity(wire.len());
    g.bench_function("encode_result_100_rows_5_columns", |b| {
        b.iter(|| {
            out.clear();
            black_box(&rows).write(&mut out).expect("encodes");
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
