//! Tombstone purge by background compactions (not only `Table::compact`), the resurrection case
//! it must avoid, per-table options reaching the engine while the store is open, the checksummed
//! catalogue and checkpoints.

use std::path::Path;
use std::sync::Arc;

use ilion_lsm::vfs::MemVfs;
use ilion_storage::{
    CompactionStrategy, Compression, CqlType, Deletion, Error, ManualClock, Mutation, Order,
    ReadCommand, SchemaChange, Store, Table, TableOptions, TableSchema, TombstoneGc,
};

const NOW: i64 = 1_000_000;
const GC: u32 = 100;
const V: u16 = 0;

fn options(compaction: CompactionStrategy) -> TableOptions {
    TableOptions {
        gc_grace_seconds: GC,
        compaction,
        ..TableOptions::default()
    }
}

/// Size-tiered that never triggers by itself (so files stay as written until the test says).
fn idle() -> CompactionStrategy {
    CompactionStrategy::SizeTiered {
        min_threshold: 32,
        max_threshold: 32,
    }
}

/// Size-tiered merging the two newest files whenever two exist.
fn pairs() -> CompactionStrategy {
    CompactionStrategy::SizeTiered {
        min_threshold: 2,
        max_threshold: 2,
    }
}

fn schema() -> TableSchema {
    TableSchema::builder("ks", "t")
        .partition_key("k", CqlType::Int)
        .clustering("c", CqlType::Int, Order::Asc)
        .regular("v", CqlType::Text)
        .options(options(idle()))
        .build()
        .unwrap()
}

fn open(vfs: &MemVfs, clock: &Arc<ManualClock>, dir: &str) -> Store {
    Store::builder(clock.clone())
        .engine(ilion_lsm::Builder::default().sync_mode(ilion_lsm::SyncMode::Batch))
        .vfs(Arc::new(vfs.clone()))
        .open(dir)
        .unwrap()
}

fn cell(t: &Table, c: i32, ts: i64) {
    let mut m = Mutation::new(1, 1i32.to_be_bytes().to_vec(), NOW);
    m.row(vec![c.to_be_bytes().to_vec()])
        .set(V, ts, format!("v{ts}").into_bytes());
    t.apply(&m).unwrap();
}

fn delete_row(t: &Table, c: i32, ts: i64, at: i64) {
    let mut m = Mutation::new(1, 1i32.to_be_bytes().to_vec(), at);
    m.row(vec![c.to_be_bytes().to_vec()]).deletion = Some(Deletion::new(ts, at));
    t.apply(&m).unwrap();
}

/// The clusterings of the partition's live rows.
fn rows(t: &Table) -> Vec<i32> {
    t.read(&ReadCommand::partition(1, 1i32.to_be_bytes().to_vec()))
        .unwrap()
        .partitions
        .iter()
        .flat_map(|p| p.rows.iter())
        .map(|r| i32::from_be_bytes(r.clustering[0].as_slice().try_into().unwrap()))
        .collect()
}

fn set_strategy(store: &Store, compaction: CompactionStrategy) {
    store
        .alter_table("ks", "t", &SchemaChange::Options(options(compaction)))
        .unwrap();
}

#[test]
fn a_background_compaction_purges_a_tombstone_past_gc_grace_when_only_newer_data_is_outside() {
    let clock = Arc::new(ManualClock::new(NOW));
    let vfs = MemVfs::new();
    let store = open(&vfs, &clock, "/db");
    let t = store.create_table(schema()).unwrap();
    cell(&t, 1, 10);
    t.flush().unwrap();
    delete_row(&t, 1, 20, NOW);
    t.flush().unwrap();
    // Newer data of the same partition stays in the memtable, outside every compaction.
    cell(&t, 2, 30);
    set_strategy(&store, pairs());
    t.compact_pending().unwrap();
    assert_eq!(rows(&t), vec![2]);
    assert_eq!(
        t.statistics().unwrap().tombstones,
        1,
        "within gc grace the deletion stays (its cell is gone)"
    );

    clock.advance(i64::from(GC) + 1);
    t.flush().unwrap();
    cell(&t, 3, 40);
    t.compact_pending().unwrap();
    assert_eq!(rows(&t), vec![2, 3]);
    let stats = t.statistics().unwrap();
    assert_eq!(stats.tombstones, 0, "purged by a background compaction");
    assert_eq!(stats.entries, 2, "two live cells, nothing else: {stats:?}");
}

#[test]
fn a_tombstone_is_kept_while_a_file_outside_the_compaction_holds_older_data_it_shadows() {
    let clock = Arc::new(ManualClock::new(NOW));
    let vfs = MemVfs::new();
    let store = open(&vfs, &clock, "/db");
    let t = store.create_table(schema()).unwrap();
    // Oldest file: the shadowed cell. The two newer files: deletions of its row.
    cell(&t, 1, 10);
    t.flush().unwrap();
    delete_row(&t, 1, 20, NOW);
    t.flush().unwrap();
    delete_row(&t, 1, 25, NOW);
    t.flush().unwrap();
    clock.advance(i64::from(GC) + 1);
    // The first pick merges the two newest files; the cell's file is outside it. Purging the
    // deletions there would let the cell come back when its file is compacted next.
    set_strategy(&store, pairs());
    t.compact_pending().unwrap();
    assert_eq!(
        rows(&t),
        Vec::<i32>::new(),
        "the shadowed cell never reappears"
    );
    t.compact().unwrap();
    assert_eq!(rows(&t), Vec::<i32>::new());
    assert_eq!(t.statistics().unwrap().entries, 0, "all purged in the end");

    // The same with the shadowed cell still in the memtable.
    set_strategy(&store, idle());
    let now = NOW + i64::from(GC) + 1;
    delete_row(&t, 5, 50, now);
    t.flush().unwrap();
    delete_row(&t, 5, 55, now);
    t.flush().unwrap();
    cell(&t, 5, 40);
    clock.advance(i64::from(GC) + 1);
    set_strategy(&store, pairs());
    t.compact_pending().unwrap();
    assert_eq!(rows(&t), Vec::<i32>::new());
    assert!(
        t.statistics().unwrap().tombstones > 0,
        "kept for the memtable's cell"
    );
}

#[test]
fn options_of_a_table_created_or_altered_while_open_reach_the_engine_and_survive_reopen() {
    let clock = Arc::new(ManualClock::new(NOW));
    let vfs = MemVfs::new();
    let store = open(&vfs, &clock, "/db");
    let t = store.create_table(schema()).unwrap();
    // Created while open with an idle strategy: four files stay four files.
    for c in 0..4 {
        cell(&t, c, 10);
        t.flush().unwrap();
    }
    t.compact_pending().unwrap();
    let files = |store: &Store| table_files(&vfs, store);
    assert_eq!(files(&store), 4);
    // Altered: merged two at a time down to one file.
    set_strategy(&store, pairs());
    t.compact_pending().unwrap();
    assert_eq!(files(&store), 1);
    let mut o = options(pairs());
    o.compression = Compression::Zstd(3);
    o.default_time_to_live = 60;
    store
        .alter_table("ks", "t", &SchemaChange::Options(o.clone()))
        .unwrap();
    drop(t);
    store.close().unwrap();

    let store = open(&vfs, &clock, "/db");
    let t = store.table("ks", "t").unwrap();
    assert_eq!(t.schema().options(), &o);
    cell(&t, 9, 10);
    let r = t
        .read(&ReadCommand::partition(1, 1i32.to_be_bytes().to_vec()))
        .unwrap();
    let last = r.partitions[0].rows.last().unwrap();
    assert_eq!(
        last.cells[0].ttl.map(|x| x.seconds),
        Some(60),
        "default_time_to_live applies"
    );
    clock.advance(61);
    assert_eq!(rows(&t), vec![0, 1, 2, 3]);
}

/// Table files in the store's directory.
fn table_files(vfs: &MemVfs, _store: &Store) -> usize {
    use ilion_lsm::Vfs;
    vfs.list_dir(Path::new("/db"))
        .unwrap()
        .iter()
        .filter(|n| n.ends_with(".sst"))
        .count()
}

#[test]
fn a_damaged_catalogue_is_refused_and_a_version_1_catalogue_is_read() {
    use ilion_lsm::Vfs;
    let clock = Arc::new(ManualClock::new(NOW));
    let vfs = MemVfs::new();
    let store = open(&vfs, &clock, "/db");
    store.create_table(schema()).unwrap();
    store.close().unwrap();
    let path = Path::new("/db/STORAGE-CATALOG.json");
    let good = vfs.open_read(path).unwrap().bytes().to_vec();
    let text = String::from_utf8(good.clone()).unwrap();
    assert!(text.contains("\n# xxh3-64 "), "{text}");
    let put = |bytes: &[u8]| {
        let mut w = vfs.create(path).unwrap();
        w.append(bytes).unwrap();
        w.sync().unwrap();
    };

    // A changed option value, checksum untouched.
    let damaged = text.replacen("\"gc_grace_seconds\": 100", "\"gc_grace_seconds\": 900", 1);
    assert_ne!(damaged, text);
    put(damaged.as_bytes());
    let err = Store::builder(clock.clone())
        .vfs(Arc::new(vfs.clone()))
        .open("/db")
        .unwrap_err();
    assert!(
        matches!(err, Error::Catalog { ref reason, .. } if reason.contains("checksum")),
        "{err}"
    );
    // The checksum line cut off: not silently taken for version 1.
    let json = &text[..text.find("\n# xxh3-64 ").unwrap()];
    put(json.as_bytes());
    let err = Store::builder(clock.clone())
        .vfs(Arc::new(vfs.clone()))
        .open("/db")
        .unwrap_err();
    assert!(matches!(err, Error::Catalog { .. }), "{err}");
    // Version 1: plain JSON saying version 1.
    let v1 = json.replacen("\"version\": 2", "\"version\": 1", 1);
    assert_ne!(v1, json);
    put(v1.as_bytes());
    let store = open(&vfs, &clock, "/db");
    assert_eq!(store.table_names(), vec!["ks.t".to_owned()]);
}

#[test]
fn a_checkpoint_opens_as_the_store_was_with_its_catalogue() {
    let clock = Arc::new(ManualClock::new(NOW));
    let vfs = MemVfs::new();
    let store = open(&vfs, &clock, "/db");
    let t = store.create_table(schema()).unwrap();
    cell(&t, 1, 10);
    t.flush().unwrap();
    cell(&t, 2, 10);
    store.checkpoint("/copy").unwrap();
    cell(&t, 3, 10);

    let copy = open(&vfs, &clock, "/copy");
    let ct = copy.table("ks", "t").unwrap();
    assert_eq!(ct.schema(), t.schema());
    assert_eq!(rows(&ct), vec![1, 2]);
    assert!(matches!(
        Store::in_memory(clock.clone()).checkpoint("/x"),
        Err(Error::InMemory { .. })
    ));
}

#[test]
fn in_repair_mode_a_tombstone_is_purged_only_after_a_repair_that_followed_the_delete() {
    let clock = Arc::new(ManualClock::new(NOW));
    let vfs = MemVfs::new();
    let store = open(&vfs, &clock, "/db");
    let repair_mode = TableOptions {
        gc_grace_seconds: 0,
        compaction: idle(),
        tombstone_gc: TombstoneGc::Repair {
            propagation_delay_seconds: 10,
        },
        ..TableOptions::default()
    };
    let schema = TableSchema::builder("ks", "t")
        .partition_key("k", CqlType::Int)
        .clustering("c", CqlType::Int, Order::Asc)
        .regular("v", CqlType::Text)
        .options(repair_mode)
        .build()
        .unwrap();
    let t = store.create_table(schema).unwrap();
    cell(&t, 1, 10);
    delete_row(&t, 1, 20, NOW);
    t.flush().unwrap();
    let tombstones = |t: &Table| t.statistics().unwrap().tombstones;

    // Long past gc grace (0 s), but never repaired: kept.
    clock.advance(1_000);
    t.compact().unwrap();
    assert_eq!(
        tombstones(&t),
        1,
        "a tombstone of a range never repaired is kept"
    );

    // A repair that started before the delete (less the delay) does not count.
    store
        .record_repair("ks", "t", &[(None, None)], NOW + 5)
        .unwrap();
    t.compact().unwrap();
    assert_eq!(
        tombstones(&t),
        1,
        "repaired before the delete had propagated"
    );
    // One of another range does not either (partition 1's token is 1).
    store
        .record_repair("ks", "t", &[(Some(1), Some(100))], NOW + 500)
        .unwrap();
    t.compact().unwrap();
    assert_eq!(tombstones(&t), 1, "another range was repaired");
    assert_eq!(t.repaired_at(1).unwrap(), Some(NOW + 5));
    assert_eq!(t.repaired_at(2).unwrap(), Some(NOW + 500));

    // The history survives a restart.
    drop(t);
    store.close().unwrap();
    let store = open(&vfs, &clock, "/db");
    let t = store.table("ks", "t").unwrap();
    assert_eq!(t.repaired_at(2).unwrap(), Some(NOW + 500));

    store
        .record_repair("ks", "t", &[(Some(-100), Some(1))], NOW + 500)
        .unwrap();
    t.compact().unwrap();
    assert_eq!(
        tombstones(&t),
        0,
        "purged once its range was repaired after the delete"
    );
    assert_eq!(rows(&t), Vec::<i32>::new());
}
