//! Repair's partition digests: two stores holding the same data give the same digests whatever
//! the order of the writes and the files they landed in, and a store that missed a write, an
//! overwrite or a delete gives a different digest for exactly that partition.

use std::sync::Arc;

use ilion_storage::{
    CellOp, CellWrite, CqlType, Deletion, ManualClock, Mutation, Order, PageBudget,
    PartitionDigest, Store, Table, TableSchema,
};

fn schema() -> TableSchema {
    TableSchema::builder("ks", "t")
        .partition_key("k", CqlType::Int)
        .clustering("c", CqlType::Int, Order::Asc)
        .regular("v", CqlType::Text)
        .build()
        .unwrap()
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Write { token: i64, ts: i64, value: u8 },
    Delete { token: i64, ts: i64 },
}

fn apply(t: &Table, op: Op) {
    let v = t.schema().column_id("v").unwrap();
    let token = match op {
        Op::Write { token, .. } | Op::Delete { token, .. } => token,
    };
    let k = i32::try_from(token).unwrap();
    let mut m = Mutation::new(token, k.to_be_bytes().to_vec(), 1_000);
    match op {
        Op::Write { ts, value, .. } => {
            m.row(vec![1i32.to_be_bytes().to_vec()])
                .cells
                .push(CellWrite {
                    column: v,
                    path: None,
                    op: CellOp::Set {
                        timestamp: ts,
                        value: vec![value],
                        ttl: None,
                    },
                })
        }
        Op::Delete { ts, .. } => m.partition_deletion = Some(Deletion::new(ts, 1_000)),
    }
    t.apply(&m).unwrap();
}

/// Every digest of the table, read in pages of `per_page` partitions.
fn digests(t: &Table, per_page: usize) -> Vec<PartitionDigest> {
    let mut out = Vec::new();
    let mut resume: Option<Vec<u8>> = None;
    loop {
        let (page, next, _) = t
            .digest_page(
                None,
                None,
                resume.as_deref(),
                PageBudget {
                    partitions: per_page,
                    bytes: 1 << 20,
                },
            )
            .unwrap();
        out.extend(page);
        match next {
            Some(n) => resume = Some(n),
            None => return out,
        }
    }
}

fn ops() -> Vec<Op> {
    let mut ops = Vec::new();
    for token in 0..40 {
        ops.push(Op::Write {
            token,
            ts: 10,
            value: 1,
        });
        if token % 3 == 0 {
            ops.push(Op::Write {
                token,
                ts: 20,
                value: 2,
            });
        }
        if token % 5 == 0 {
            ops.push(Op::Delete { token, ts: 30 });
        }
    }
    ops
}

#[test]
fn the_same_writes_in_any_order_and_file_layout_give_the_same_digests() {
    let clock = Arc::new(ManualClock::new(1_000));
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Store::builder(clock.clone()).open(da.path()).unwrap();
    let b = Store::builder(clock.clone()).open(db.path()).unwrap();
    let (ta, tb) = (
        a.create_table(schema()).unwrap(),
        b.create_table(schema()).unwrap(),
    );
    let ops = ops();
    // a: in order, flushed every 17 writes; b: reversed, all in the memtable, then compacted.
    for (i, op) in ops.iter().enumerate() {
        apply(&ta, *op);
        if i % 17 == 16 {
            ta.flush().unwrap();
        }
    }
    for op in ops.iter().rev() {
        apply(&tb, *op);
    }
    let (x, y) = (digests(&ta, 7), digests(&tb, 1000));
    assert_eq!(x.len(), 40);
    assert_eq!(x, y);
    tb.flush().unwrap();
    tb.compact().unwrap();
    assert_eq!(x, digests(&tb, 3));
}

#[test]
fn a_missed_write_overwrite_or_delete_changes_exactly_its_partition() {
    let clock = Arc::new(ManualClock::new(1_000));
    let ops = ops();
    let full = Store::in_memory(clock.clone());
    let t = full.create_table(schema()).unwrap();
    for op in &ops {
        apply(&t, *op);
    }
    let want = digests(&t, 100);
    for skipped in [0, 1, 2, 3] {
        let partial = Store::in_memory(clock.clone());
        let p = partial.create_table(schema()).unwrap();
        // Skip one op that matters: the first write of token 1, the overwrite of 3 and the
        // delete of 5 (its first write and overwrite stay), or none.
        let skip = |op: &Op| {
            matches!(
                (skipped, op),
                (1, Op::Write { token: 1, .. })
                    | (
                        2,
                        Op::Write {
                            token: 3,
                            ts: 20,
                            ..
                        }
                    )
                    | (3, Op::Delete { token: 5, .. })
            )
        };
        for op in ops.iter().filter(|op| !skip(op)) {
            apply(&p, *op);
        }
        let got = digests(&p, 100);
        let differing: Vec<i64> = want
            .iter()
            .filter(|w| !got.contains(w))
            .map(|w| w.token)
            .collect();
        let expected: &[i64] = match skipped {
            0 => &[],
            1 => &[1],
            2 => &[3],
            _ => &[5],
        };
        assert_eq!(differing, expected, "skipping op set {skipped}");
    }
}
