//! Whole engine files of a token range: listed on one store, ingested by another, the rest of
//! the range streamed as rows without them; the receiver ends with exactly the range.

use std::sync::Arc;

use ilion_storage::{
    CellOp, CellWrite, CqlType, Deletion, ManualClock, Mutation, Order, PageBudget, ReadCommand,
    Store, Table, TableSchema,
};

fn schema() -> TableSchema {
    TableSchema::builder("ks", "t")
        .partition_key("k", CqlType::Int)
        .clustering("c", CqlType::Int, Order::Asc)
        .regular("v", CqlType::Text)
        .build()
        .unwrap()
}

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> (Store, Table) {
    let store = Store::builder(clock.clone()).open(dir).unwrap();
    let t = store.create_table(schema()).unwrap();
    (store, t)
}

/// A partition with token `token` and one row (`value`) written at `ts`.
fn write(t: &Table, token: i64, ts: i64, value: &str) {
    let v = t.schema().column_id("v").unwrap();
    let k = i32::try_from(token).unwrap();
    let mut m = Mutation::new(token, k.to_be_bytes().to_vec(), 1_000);
    m.row(vec![1i32.to_be_bytes().to_vec()])
        .cells
        .push(CellWrite {
            column: v,
            path: None,
            op: CellOp::Set {
                timestamp: ts,
                value: value.as_bytes().to_vec(),
                ttl: None,
            },
        });
    t.apply(&m).unwrap();
}

fn delete_partition(t: &Table, token: i64, ts: i64) {
    let k = i32::try_from(token).unwrap();
    let mut m = Mutation::new(token, k.to_be_bytes().to_vec(), 1_000);
    m.partition_deletion = Some(Deletion::new(ts, 1_000));
    t.apply(&m).unwrap();
}

const RANGE: (Option<i64>, Option<i64>) = (Some(0), Some(100));

/// A source store whose first flushed file holds tokens 10..20 (each row `value`), and an
/// empty directory for the receiver.
fn source(clock: &Arc<ManualClock>, value: &str) -> (tempfile::TempDir, Store, Table) {
    let dir = tempfile::tempdir().unwrap();
    let (store, t) = open(dir.path(), clock);
    for tok in 10..20 {
        write(&t, tok, 10, value);
    }
    t.flush().unwrap();
    (dir, store, t)
}

#[test]
fn files_inside_the_range_and_rows_of_the_rest_rebuild_the_range_exactly() {
    let clock = Arc::new(ManualClock::new(1_000));
    // File 1: tokens 10..20, inside (0, 100].
    let (_src_dir, _src_store, src) = source(&clock, "first");
    let dst_dir = tempfile::tempdir().unwrap();
    // File 2: tokens 50..60, inside, with a partition deletion newer than file 1's row 15.
    for tok in 50..60 {
        write(&src, tok, 10, "second");
    }
    delete_partition(&src, 15, 20);
    src.flush().unwrap();
    // File 3 straddles the range's ends: rows of 0 and 101 (outside), 30 and 100 (inside).
    for tok in [-5, 0, 30, 100, 101, 200] {
        write(&src, tok, 10, "straddle");
    }
    write(&src, 12, 30, "newer");
    src.flush().unwrap();
    // Still in the memtable.
    write(&src, 40, 10, "unflushed");

    let files = src.files_in_token_range(RANGE.0, RANGE.1).unwrap();
    assert_eq!(
        files.len(),
        2,
        "the two files inside, not the straddling one"
    );
    let (_dst_store, dst) = open(dst_dir.path(), &clock);
    write(&dst, 50, 5, "receiver's own, older");
    let mut ids = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let path = dst_dir.path().join(format!("incoming-{i}.sst"));
        std::fs::write(&path, f.read_at(0, usize::MAX)).unwrap();
        let done = dst.ingest_file(&path, RANGE.0, RANGE.1).unwrap();
        assert_eq!(done.entries, f.entry_count());
        std::fs::remove_file(&path).unwrap();
        ids.push(f.id());
    }
    // The rest as rows, without what the files hold.
    let budget = PageBudget {
        partitions: 3,
        bytes: usize::MAX,
    };
    let mut resume: Option<Vec<u8>> = None;
    let mut streamed = Vec::new();
    loop {
        let (page, next) = src
            .stream_page_without_files(RANGE.0, RANGE.1, resume.as_deref(), budget, &ids)
            .unwrap();
        for m in &page {
            streamed.push(m.token);
            dst.apply(m).unwrap();
        }
        resume = next;
        if resume.is_none() {
            break;
        }
    }
    streamed.sort_unstable();
    assert_eq!(
        streamed,
        vec![12, 30, 40, 100],
        "rows only of what the files do not hold (12 has a newer row in the straddling file)"
    );
    let range = ReadCommand::token_range(RANGE.0, RANGE.1);
    assert_eq!(dst.read_raw(&range).unwrap(), src.read_raw(&range).unwrap());
    let everything = ReadCommand::token_range(None, None);
    assert_eq!(
        dst.read_raw(&everything).unwrap(),
        src.read_raw(&range).unwrap(),
        "nothing outside the range arrived"
    );
    // A retried stream ingests the same file again: merge operands, the same table.
    let path = dst_dir.path().join("again.sst");
    std::fs::write(&path, files[0].read_at(0, usize::MAX)).unwrap();
    dst.ingest_file(&path, RANGE.0, RANGE.1).unwrap();
    assert_eq!(dst.read_raw(&range).unwrap(), src.read_raw(&range).unwrap());
}

#[test]
fn a_file_outside_the_token_range_is_refused_by_name() {
    let clock = Arc::new(ManualClock::new(1_000));
    let (_src_dir, _s, src) = source(&clock, "x");
    let dst_dir = tempfile::tempdir().unwrap();
    let f = src
        .files_in_token_range(RANGE.0, RANGE.1)
        .unwrap()
        .remove(0);
    let (_d, dst) = open(dst_dir.path(), &clock);
    let path = dst_dir.path().join("incoming.sst");
    std::fs::write(&path, f.read_at(0, usize::MAX)).unwrap();
    let err = dst.ingest_file(&path, Some(15), Some(100)).unwrap_err();
    assert!(
        matches!(&err, ilion_storage::Error::Engine(ilion_lsm::Error::IngestRefused { file, .. }) if file == &path),
        "{err:?}"
    );
    assert!(
        dst.read_raw(&ReadCommand::token_range(None, None))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn an_in_memory_store_has_no_files_and_takes_none() {
    let clock = Arc::new(ManualClock::new(1_000));
    let store = Store::in_memory(clock);
    let t = store.create_table(schema()).unwrap();
    write(&t, 10, 1, "x");
    assert!(t.files_in_token_range(None, None).unwrap().is_empty());
    assert!(matches!(
        t.ingest_file(std::path::Path::new("x.sst"), None, None),
        Err(ilion_storage::Error::InMemory { .. })
    ));
}

#[test]
fn a_snapshot_of_a_table_imported_into_another_store_gives_back_every_row_and_deletion() {
    let clock = Arc::new(ManualClock::new(1_000));
    let (_dir, _store, src) = source(&clock, "a");
    // Part in a file, part in the memtable (the snapshot flushes it), a deletion among them.
    for tok in [-5_000, 30, 7_000_000] {
        write(&src, tok, 20, "b");
    }
    delete_partition(&src, 15, 30);
    let snap = tempfile::tempdir().unwrap();
    let files = src.snapshot_files(&snap.path().join("t")).unwrap();
    assert!(files.len() >= 2, "{files:?}");
    // Writes after the snapshot are not in it.
    write(&src, 40, 40, "later");

    let dst_dir = tempfile::tempdir().unwrap();
    let (_dst_store, dst) = open(dst_dir.path(), &clock);
    let mut entries = 0;
    for (name, _) in &files {
        entries += dst
            .import_file(&snap.path().join("t").join(name))
            .unwrap()
            .entries;
    }
    assert!(entries > 0);
    let everything = ReadCommand::token_range(None, None);
    let got = dst.read_raw(&everything).unwrap();
    let tokens: Vec<i64> = got.iter().map(|m| m.token).collect();
    assert!(
        tokens.contains(&-5_000) && tokens.contains(&7_000_000),
        "{tokens:?}"
    );
    assert!(!tokens.contains(&40), "written after the snapshot");
    assert_eq!(
        dst.statistics().unwrap().partitions,
        src.statistics().unwrap().partitions - 1
    );
    assert_eq!(
        dst.latencies().writes.snapshot().count,
        0,
        "an import is not a write"
    );
}

#[test]
fn a_table_in_memory_cannot_be_snapshotted() {
    let store = Store::in_memory(Arc::new(ManualClock::new(1_000)));
    let t = store.create_table(schema()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        t.snapshot_files(dir.path()),
        Err(ilion_storage::Error::InMemory { .. })
    ));
}
