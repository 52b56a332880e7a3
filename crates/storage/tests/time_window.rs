//! Time-window compaction on the table store: files are windowed by their newest write
//! timestamp, and a file whose every cell expired (or was deleted) past gc grace is dropped
//! whole, unless a deletion in it still hides older data kept elsewhere.

use std::path::Path;
use std::sync::Arc;

use ilion_lsm::vfs::MemVfs;
use ilion_storage::{
    CompactionStrategy, CqlType, Deletion, ManualClock, Mutation, Order, ReadCommand, Store, Table,
    TableOptions, TableSchema, TombstoneCompaction,
};

const HOUR: i64 = 3_600;
const MICROS: i64 = 1_000_000;
/// The test's epoch (seconds): a whole hour, so hour `h` starts at `T0 + h * HOUR`.
const T0: i64 = 1_000 * HOUR;
const GC: u32 = 60;
const V: u16 = 0;

fn schema(ttl: u32) -> TableSchema {
    TableSchema::builder("ks", "ts")
        .partition_key("sensor", CqlType::Int)
        .clustering("at", CqlType::Bigint, Order::Asc)
        .regular("v", CqlType::Int)
        .options(TableOptions {
            gc_grace_seconds: GC,
            default_time_to_live: ttl,
            compaction: CompactionStrategy::TimeWindow {
                window_seconds: HOUR as u64,
                timestamps_per_second: 1_000_000,
                min_threshold: 4,
                max_threshold: 32,
            },
            tombstone_compaction: TombstoneCompaction {
                expired_check_seconds: 0,
                ..TombstoneCompaction::default()
            },
            ..TableOptions::default()
        })
        .build()
        .unwrap()
}

fn open(clock: &Arc<ManualClock>, ttl: u32) -> (Store, Table) {
    let store = Store::builder(clock.clone())
        .engine(ilion_lsm::Builder::default().sync_mode(ilion_lsm::SyncMode::Batch))
        .vfs(Arc::new(MemVfs::new()))
        .open(Path::new("/db"))
        .unwrap();
    let t = store.create_table(schema(ttl)).unwrap();
    (store, t)
}

/// A reading of `sensor` at second `at`, written at that moment (timestamp and clock).
fn reading(t: &Table, clock: &ManualClock, sensor: i32, at: i64) {
    clock.set(at);
    let mut m = Mutation::new(i64::from(sensor), sensor.to_be_bytes().to_vec(), at);
    m.row(vec![at.to_be_bytes().to_vec()])
        .set(V, at * MICROS, 1i32.to_be_bytes().to_vec());
    t.apply(&m).unwrap();
}

/// The `at` of every live row of `sensor`.
fn rows(t: &Table, sensor: i32) -> Vec<i64> {
    t.read(&ReadCommand::partition(
        i64::from(sensor),
        sensor.to_be_bytes().to_vec(),
    ))
    .unwrap()
    .partitions
    .iter()
    .flat_map(|p| p.rows.iter())
    .map(|r| i64::from_be_bytes(r.clustering[0].as_slice().try_into().unwrap()))
    .collect()
}

fn files(t: &Table) -> usize {
    t.engine_stats().unwrap().unwrap().levels[0].files
}

fn dropped(store: &Store) -> u64 {
    store.engine_stats().unwrap().expired_files_dropped
}

#[test]
fn files_flushed_together_are_windowed_by_their_newest_write_timestamp() {
    let clock = Arc::new(ManualClock::new(T0));
    let (_store, t) = open(&clock, 0);
    // Three flushes at about the same moment, holding readings written in hours 0, 0 and 1
    // (late data arriving together): hour 0 is a closed window of two files, merged into one.
    for hour in [0, 0, 1] {
        reading(&t, &clock, 1, T0 + hour * HOUR + 5);
        clock.set(T0 + 2 * HOUR);
        t.flush().unwrap();
    }
    t.compact_pending().unwrap();
    assert_eq!(files(&t), 2, "one file per window");
    assert_eq!(rows(&t, 1), vec![T0 + 5, T0 + HOUR + 5]);
}

#[test]
fn expired_windows_are_dropped_whole_and_live_data_stays() {
    let clock = Arc::new(ManualClock::new(T0));
    // Every reading expires an hour after it was written.
    let (store, t) = open(&clock, HOUR as u32);
    let mut most_files = 0;
    for hour in 0..6 {
        for minute in [1, 20, 40] {
            reading(&t, &clock, 1, T0 + hour * HOUR + minute * 60);
        }
        if hour == 5 {
            // One reading without TTL: the hour-5 file is never expired whole. (Were it in an
            // older window, its file would keep every newer one that meets it, as in
            // Cassandra: an overlapping older live cell blocks the drop.)
            let mut m = Mutation::new(2, 2i32.to_be_bytes().to_vec(), clock_now(&clock));
            m.row(vec![0i64.to_be_bytes().to_vec()])
                .cells
                .push(ilion_storage::CellWrite {
                    column: V,
                    path: None,
                    op: ilion_storage::CellOp::Set {
                        timestamp: clock_now(&clock) * MICROS,
                        value: 7i32.to_be_bytes().to_vec(),
                        ttl: Some(ilion_storage::Ttl::NONE),
                    },
                });
            t.apply(&m).unwrap();
        }
        t.flush().unwrap();
        t.compact_pending().unwrap();
        most_files = most_files.max(files(&t));
        // Files of hours that expired past gc grace are gone as the writes go on: at h:40,
        // the hours up to h - 2 (their last reading expired at h - 1:40, gc grace is a
        // minute).
        assert_eq!(
            dropped(&store),
            [0, 0, 1, 2, 3, 4][hour as usize],
            "hour {hour}"
        );
    }
    assert!(
        most_files <= 3,
        "disk use stays flat: {most_files} files at most"
    );
    clock.set(T0 + 6 * HOUR);
    t.compact_pending().unwrap();
    // Hours 0 to 4 dropped whole, unread; hour 5 stays.
    assert_eq!(dropped(&store), 5);
    assert_eq!(files(&t), 1);
    let last = T0 + 5 * HOUR;
    assert_eq!(rows(&t, 1), vec![last + 60, last + 1_200, last + 2_400]);
    assert_eq!(rows(&t, 2), vec![0], "the reading without TTL stays");
}

fn clock_now(clock: &ManualClock) -> i64 {
    use ilion_storage::Clock;
    clock.now_seconds()
}

#[test]
fn a_deletion_that_still_hides_older_data_in_another_window_is_not_dropped() {
    let clock = Arc::new(ManualClock::new(T0));
    let (store, t) = open(&clock, 0);
    // Hour 0: a reading; hour 1: its deletion, alone in its file and window.
    reading(&t, &clock, 1, T0 + 10);
    t.flush().unwrap();
    clock.set(T0 + HOUR + 10);
    let mut m = Mutation::new(1, 1i32.to_be_bytes().to_vec(), T0 + HOUR + 10);
    m.row(vec![(T0 + 10).to_be_bytes().to_vec()]).deletion =
        Some(Deletion::new((T0 + HOUR + 10) * MICROS, T0 + HOUR + 10));
    t.apply(&m).unwrap();
    t.flush().unwrap();
    // Far past gc grace: the deletion's file is all purgeable deletions, but the reading it
    // hides is older and in the other file, so dropping it would bring the reading back.
    clock.set(T0 + 10 * HOUR);
    t.compact_pending().unwrap();
    assert_eq!(dropped(&store), 0);
    assert_eq!(rows(&t, 1), Vec::<i64>::new());
    // A major compaction merges both and purges the pair.
    t.compact().unwrap();
    assert_eq!(rows(&t, 1), Vec::<i64>::new());
    assert_eq!(t.statistics().unwrap().entries, 0);
}
