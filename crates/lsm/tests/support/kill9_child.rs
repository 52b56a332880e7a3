//! Child process of the kill -9 test (`tests/kill9.rs`; built as the `lsm-kill9-child` binary): writes keys from several threads and
//! prints `ack <key>` after each write returns, until it is killed.
//!
//! Usage: `lsm-kill9-child <dir> <batch|periodic> <first key number>`. In periodic mode it also calls
//! `Db::sync` every 64 writes and prints `durable <key>` for the newest key it covers.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use ilion_lsm::{Db, SyncMode};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dir), Some(mode), Some(first)) = (args.get(1), args.get(2), args.get(3)) else {
        return Err("usage: lsm-kill9-child <dir> <batch|periodic> <first>".into());
    };
    let first: u64 = first.parse()?;
    let periodic = mode == "periodic";
    let sync = if periodic {
        SyncMode::Periodic(Duration::from_millis(5))
    } else {
        SyncMode::Batch
    };
    let db = Db::builder()
        .memtable_size(64 << 10)
        .sync_mode(sync)
        .open(dir)?;
    let tree = db.tree("kill9")?;
    let out = Arc::new(std::io::stdout());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let (db, tree, out) = (db.clone(), tree.clone(), out.clone());
            std::thread::spawn(move || -> Res<()> {
                for i in 0.. {
                    let k = first + i * 4 + t;
                    tree.put(format!("k{k:012}").as_bytes(), &value(k))?;
                    let mut o = out.lock();
                    writeln!(o, "ack {k}")?;
                    if periodic && i % 64 == 63 {
                        db.sync()?;
                        writeln!(o, "durable {k}")?;
                    }
                    o.flush()?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "writer panicked")??;
    }
    Ok(())
}

/// The value stored under key number `k` (the parent checks it).
fn value(k: u64) -> Vec<u8> {
    format!("value-{k}-")
        .repeat(1 + (k % 5) as usize)
        .into_bytes()
}
