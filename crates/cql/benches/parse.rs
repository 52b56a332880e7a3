//! Parse throughput of typical statements: what a server pays per QUERY (or per PREPARE).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const INSERT_PREPARED: &str =
    "INSERT INTO shop.orders (customer_id, order_id, total, items, note) VALUES (?, ?, ?, ?, ?)";
const SELECT_RANGE: &str = "SELECT order_id, total, writetime(total) AS written FROM shop.orders \
     WHERE customer_id = 5f1c2a36-1f9e-4b8e-9c1a-2e3f4a5b6c7d AND order_id > ? AND order_id <= ? \
     ORDER BY order_id DESC LIMIT 100";
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS shop.orders (
    customer_id uuid,
    order_day date,
    order_id timeuuid,
    total decimal,
    items list<frozen<tuple<text, int, decimal>>>,
    tags set<text>,
    attributes map<text, text>,
    note text STATIC,
    PRIMARY KEY ((customer_id, order_day), order_id)
) WITH CLUSTERING ORDER BY (order_id DESC)
  AND compaction = {'class': 'LeveledCompactionStrategy'}
  AND default_time_to_live = 86400 AND comment = 'orders'";

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    for (name, text) in [
        ("insert_5_markers", INSERT_PREPARED),
        ("select_where_order_limit", SELECT_RANGE),
        ("create_table", CREATE_TABLE),
    ] {
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| ilion_cql::parse_statement(black_box(text)).map(|p| p.bind_markers.len()))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("display");
    let parsed = ilion_cql::parse_statement(SELECT_RANGE).map(|p| p.statement);
    if let Ok(stmt) = parsed {
        g.bench_function("select_where_order_limit", |b| {
            b.iter(|| black_box(&stmt).to_string())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
