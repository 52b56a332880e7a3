//! Embedding ilion-lsm: options, batches, range scans, snapshots, checkpoints, crash recovery.
//! Every step checks what it shows and the program fails loudly when a check does not hold.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail, ensure};
use ilion_lsm::{Compression, Db, SyncMode, TreeOptions, WriteBatch};

/// How many writes the crashing child makes before it aborts.
const CHILD_WRITES: u32 = 2_000;

fn open(dir: &Path) -> Result<Db> {
    let orders = TreeOptions {
        compression: Compression::Zstd(3),
        ..TreeOptions::default()
    };
    Db::builder()
        .memtable_size(4 << 20)
        .block_cache_size(16 << 20)
        .bloom_bits_per_key(10)
        // Each write returns after an fsync that covers it; concurrent writers share it.
        .sync_mode(SyncMode::Batch)
        .tree_options("orders", orders)
        .open(dir)
        .with_context(|| format!("opening {}", dir.display()))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The child: write keys, print each one after its write returned, then die without closing.
fn crashing_child(dir: &Path) -> Result<()> {
    let db = open(dir)?;
    let events = db.tree("events")?;
    for i in 0..CHILD_WRITES {
        let key = format!("event:{i:06}");
        events.put(key.as_bytes(), b"payload")?;
        println!("{key}");
    }
    // No close, no destructors: as close to a power cut as a process can get by itself.
    std::process::abort();
}

fn demo(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let db = open(dir)?;
    let customers = db.tree("customers")?;
    let orders = db.tree("orders")?;

    // 1. Atomic batches across trees.
    for c in 0..100u32 {
        let mut batch = WriteBatch::new();
        let customer = format!("customer:{c:04}");
        batch.put(
            &customers,
            customer.as_bytes(),
            format!("name {c}").as_bytes(),
        );
        for o in 0..5u32 {
            let order = format!("{customer}/order:{o:02}");
            batch.put(
                &orders,
                order.as_bytes(),
                format!("{} EUR", c * 10 + o).as_bytes(),
            );
        }
        db.write(batch)?;
    }
    println!("wrote 100 customers and 500 orders in 100 atomic batches");

    // 2. Range scans, both directions, and a prefix.
    let range: Vec<String> = customers
        .range(b"customer:0010".as_slice()..b"customer:0015".as_slice())
        .map(|r| r.map(|(k, _)| text(&k)))
        .collect::<Result<_, _>>()?;
    ensure!(
        range.len() == 5 && range[0] == "customer:0010",
        "forward range: {range:?}"
    );
    let backwards: Vec<String> = customers
        .range(b"customer:0010".as_slice()..b"customer:0015".as_slice())
        .rev()
        .map(|r| r.map(|(k, _)| text(&k)))
        .collect::<Result<_, _>>()?;
    ensure!(
        backwards.first().map(String::as_str) == Some("customer:0014"),
        "{backwards:?}"
    );
    let of_42: Vec<(String, String)> = orders
        .prefix(b"customer:0042/")
        .map(|r| r.map(|(k, v)| (text(&k), text(&v))))
        .collect::<Result<_, _>>()?;
    ensure!(of_42.len() == 5, "prefix scan found {of_42:?}");
    println!("range [0010, 0015): {range:?}");
    println!("same range backwards starts at {}", backwards[0]);
    println!("orders of customer 42: {of_42:?}");

    // 3. A snapshot does not see later writes.
    let snapshot = db.snapshot();
    customers.delete(b"customer:0000")?;
    customers.put(b"customer:0001", b"renamed")?;
    ensure!(
        customers.get(b"customer:0000")?.is_none(),
        "delete not visible"
    );
    ensure!(
        snapshot.get(&customers, b"customer:0000")?.as_deref() == Some(b"name 0".as_slice()),
        "snapshot changed"
    );
    ensure!(
        snapshot.get(&customers, b"customer:0001")?.as_deref() == Some(b"name 1".as_slice()),
        "snapshot changed"
    );
    drop(snapshot);
    println!("snapshot still sees customer:0000 after it was deleted");

    // 4. Flush, compact, checkpoint; the checkpoint is a database of its own.
    db.flush()?;
    customers.compact_range(None, None)?;
    let checkpoint = dir.with_extension("checkpoint");
    if checkpoint.exists() {
        std::fs::remove_dir_all(&checkpoint)?;
    }
    db.checkpoint(&checkpoint)?;
    customers.put(b"customer:9999", b"after the checkpoint")?;
    {
        let copy = open(&checkpoint)?;
        let copy_customers = copy.tree("customers")?;
        ensure!(
            copy_customers.get(b"customer:0042")?.is_some(),
            "checkpoint lacks data"
        );
        ensure!(
            copy_customers.get(b"customer:9999")?.is_none(),
            "checkpoint saw a later write"
        );
        drop(copy_customers);
        copy.close()?;
    }
    println!(
        "checkpoint at {} opens with the data as it was",
        checkpoint.display()
    );

    let stats = db.stats();
    println!(
        "stats: {} table bytes, write amplification {:.2}, cache hits {} misses {}",
        stats.table_bytes, stats.write_amplification, stats.cache.hits, stats.cache.misses
    );
    drop((customers, orders));
    db.close()?;

    // 5. Crash a writer mid-stream and recover.
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .arg("--crashing-child")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .context("running the crashing child")?;
    ensure!(!out.status.success(), "the child was meant to crash");
    let acknowledged: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let db = open(dir)?;
    let events = db.tree("events")?;
    for key in &acknowledged {
        if events.get(key.as_bytes())?.is_none() {
            bail!("acknowledged write {key} lost in the crash");
        }
    }
    ensure!(
        db.tree("customers")?.get(b"customer:9999")?.is_some(),
        "data from before the crash is gone"
    );
    println!(
        "child crashed after {} acknowledged writes; all of them are there after reopening",
        acknowledged.len()
    );
    drop(events);
    db.close()?;
    Ok(())
}

fn main() -> Result<()> {
    let mut args = std::env::args_os().skip(1);
    match args.next() {
        Some(flag) if flag == "--crashing-child" => {
            let dir = args.next().context("--crashing-child needs a directory")?;
            crashing_child(Path::new(&dir))
        }
        Some(dir) => demo(&PathBuf::from(dir)),
        None => demo(&std::env::temp_dir().join("embed-lsm-demo")),
    }
}
