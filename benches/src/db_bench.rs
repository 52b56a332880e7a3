//! db_bench-style comparison of embedded engines: ilion-lsm, fjall and (with the `rocksdb`
//! feature) RocksDB, with the same tuning where the engines allow it.
//!
//! One engine per process (so peak RSS is the engine's own):
//! `db_bench --engine ilion --num 2000000 --workloads fillseq,fillrandom,...`
//! Prints one line per workload: ops/s, p50/p99/p99.9 latency, bytes on disk, bytes written,
//! peak RSS. Keys are 16 bytes, values 100 bytes (about half compressible), the write-ahead log
//! is on without an fsync per write, one foreground thread.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Parser;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Parser, Debug)]
struct Args {
    /// ilion, fjall or rocksdb (the last needs the `rocksdb` feature).
    #[arg(long, default_value = "ilion")]
    engine: String,
    /// Number of keys.
    #[arg(long, default_value_t = 500_000)]
    num: u64,
    #[arg(
        long,
        default_value = "fillseq,fillrandom,overwrite,readrandom,readmissing,seekrandom,deleterandom,readwhilewriting"
    )]
    workloads: String,
    /// Where databases are created (a temporary directory under it per run).
    #[arg(long, default_value = "/tmp")]
    dir: String,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

trait Engine: Send + Sync {
    fn put(&self, k: &[u8], v: &[u8]) -> Result<()>;
    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>>;
    fn delete(&self, k: &[u8]) -> Result<()>;
    /// Seeks to `k` and reads up to `n` entries; returns how many it read.
    fn scan(&self, k: &[u8], n: usize) -> Result<usize>;
    /// Flushes memtables and waits for background work to settle.
    fn settle(&self) -> Result<()>;
}

struct Ilion {
    db: lsm::Db,
    tree: lsm::Tree,
}

impl Ilion {
    fn open(path: &Path) -> Result<Ilion> {
        let db = lsm::Db::builder()
            .memtable_size(64 << 20)
            .block_size(4096)
            .block_cache_size(64 << 20)
            .bloom_bits_per_key(10)
            .sync_mode(lsm::SyncMode::Periodic(Duration::from_millis(1000)))
            .open(path)?;
        let tree = db.tree("bench")?;
        Ok(Ilion { db, tree })
    }
}

impl Engine for Ilion {
    fn put(&self, k: &[u8], v: &[u8]) -> Result<()> {
        Ok(self.tree.put(k, v)?)
    }
    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tree.get(k)?)
    }
    fn delete(&self, k: &[u8]) -> Result<()> {
        Ok(self.tree.delete(k)?)
    }
    fn scan(&self, k: &[u8], n: usize) -> Result<usize> {
        let mut c = 0;
        for r in self.tree.range(k..).take(n) {
            r?;
            c += 1;
        }
        Ok(c)
    }
    fn settle(&self) -> Result<()> {
        Ok(self.db.flush()?)
    }
}

struct Fjall {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

impl Fjall {
    fn open(path: &Path) -> Result<Fjall> {
        let db = fjall::Database::builder(path)
            .cache_size(64 << 20)
            .worker_threads(2)
            .open()?;
        let ks = db.keyspace("bench", || {
            fjall::KeyspaceCreateOptions::default().max_memtable_size(64 << 20)
        })?;
        Ok(Fjall { db, ks })
    }
}

impl Engine for Fjall {
    fn put(&self, k: &[u8], v: &[u8]) -> Result<()> {
        Ok(self.ks.insert(k, v)?)
    }
    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.ks.get(k)?.map(|s| s.to_vec()))
    }
    fn delete(&self, k: &[u8]) -> Result<()> {
        Ok(self.ks.remove(k)?)
    }
    fn scan(&self, k: &[u8], n: usize) -> Result<usize> {
        let mut c = 0;
        for g in self.ks.range(k.to_vec()..).take(n) {
            g.into_inner()?;
            c += 1;
        }
        Ok(c)
    }
    fn settle(&self) -> Result<()> {
        self.db.persist(fjall::PersistMode::Buffer)?;
        Ok(())
    }
}

#[cfg(feature = "rocksdb")]
struct Rocks {
    db: rocksdb::DB,
}

#[cfg(feature = "rocksdb")]
impl Rocks {
    fn open(path: &Path) -> Result<Rocks> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.set_write_buffer_size(64 << 20);
        opts.set_max_background_jobs(2);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let mut bbo = rocksdb::BlockBasedOptions::default();
        bbo.set_block_size(4096);
        bbo.set_bloom_filter(10.0, false);
        bbo.set_block_cache(&rocksdb::Cache::new_lru_cache(64 << 20));
        opts.set_block_based_table_factory(&bbo);
        Ok(Rocks {
            db: rocksdb::DB::open(&opts, path)?,
        })
    }
}

#[cfg(feature = "rocksdb")]
impl Engine for Rocks {
    fn put(&self, k: &[u8], v: &[u8]) -> Result<()> {
        Ok(self.db.put(k, v)?)
    }
    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.db.get(k)?)
    }
    fn delete(&self, k: &[u8]) -> Result<()> {
        Ok(self.db.delete(k)?)
    }
    fn scan(&self, k: &[u8], n: usize) -> Result<usize> {
        let mut c = 0;
        let it = self
            .db
            .iterator(rocksdb::IteratorMode::From(k, rocksdb::Direction::Forward));
        for r in it.take(n) {
            r?;
            c += 1;
        }
        Ok(c)
    }
    fn settle(&self) -> Result<()> {
        Ok(self.db.flush()?)
    }
}

fn open_engine(name: &str, path: &Path) -> Result<Box<dyn Engine>> {
    Ok(match name {
        "ilion" => Box::new(Ilion::open(path)?),
        "fjall" => Box::new(Fjall::open(path)?),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Box::new(Rocks::open(path)?),
        other => anyhow::bail!("unknown engine {other} (rocksdb needs --features rocksdb)"),
    })
}

fn key(n: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k.copy_from_slice(format!("{n:016}").as_bytes());
    k
}

/// 100 bytes: 50 pseudo-random, 50 repeated (about 50% compressible).
fn value(n: u64, rng: &mut StdRng) -> Vec<u8> {
    let mut v = Vec::with_capacity(100);
    for _ in 0..50 {
        v.push(rng.random::<u8>());
    }
    v.extend(std::iter::repeat_n(b'a' + (n % 26) as u8, 50));
    v
}

fn dir_bytes(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                total += dir_bytes(&p);
            } else if let Ok(m) = e.metadata() {
                total += m.len();
            }
        }
    }
    total
}

fn proc_field(file: &str, field: &str) -> u64 {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Bytes this process passed to write(2) so far.
fn written_bytes() -> u64 {
    proc_field("/proc/self/io", "wchar:")
}

fn peak_rss_mib() -> u64 {
    proc_field("/proc/self/status", "VmHWM:") / 1024
}

struct Run {
    hist: Histogram<u64>,
    ops: u64,
    elapsed: Duration,
}

fn timed(ops: u64, mut f: impl FnMut(u64) -> Result<()>) -> Result<Run> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let start = Instant::now();
    for i in 0..ops {
        let t = Instant::now();
        f(i)?;
        hist.record(t.elapsed().as_nanos().max(1) as u64)?;
    }
    Ok(Run {
        hist,
        ops,
        elapsed: start.elapsed(),
    })
}

fn report(engine: &str, name: &str, run: &Run, path: &Path, written: u64) {
    let us = |q: f64| run.hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{engine:7} {name:17} {:>10.0} ops/s  p50 {:>7.1} us  p99 {:>7.1} us  p99.9 {:>8.1} us  disk {:>7.1} MiB  written {:>8.1} MiB  peak rss {:>5} MiB",
        run.ops as f64 / run.elapsed.as_secs_f64(),
        us(0.5),
        us(0.99),
        us(0.999),
        dir_bytes(path) as f64 / (1 << 20) as f64,
        written as f64 / (1 << 20) as f64,
        peak_rss_mib(),
    );
}

fn main() -> Result<()> {
    let args = Args::parse();
    let n = args.num;
    let base = tempfile::Builder::new()
        .prefix("db_bench-")
        .tempdir_in(&args.dir)?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let workloads: Vec<&str> = args.workloads.split(',').collect();
    // The "main" database: filled randomly, then reused by the read workloads.
    let main_path = base.path().join("main");
    let mut main: Option<Box<dyn Engine>> = None;
    for w in workloads {
        let w0 = written_bytes();
        match w {
            "fillseq" => {
                let path = base.path().join("seq");
                let e = open_engine(&args.engine, &path)?;
                let run = timed(n, |i| e.put(&key(i), &value(i, &mut rng)))?;
                e.settle()?;
                report(&args.engine, w, &run, &path, written_bytes() - w0);
                drop(e);
                std::fs::remove_dir_all(&path)?;
            }
            "fillrandom" => {
                let e = open_engine(&args.engine, &main_path)?;
                let mut r = StdRng::seed_from_u64(args.seed ^ 1);
                let run = timed(n, |_| {
                    let k = r.random_range(0..n);
                    e.put(&key(k), &value(k, &mut rng))
                })?;
                e.settle()?;
                report(&args.engine, w, &run, &main_path, written_bytes() - w0);
                main = Some(e);
            }
            _ => {
                let e = match &main {
                    Some(e) => e,
                    None => {
                        main = Some(open_engine(&args.engine, &main_path)?);
                        main.as_ref().ok_or_else(|| anyhow::anyhow!("no db"))?
                    }
                };
                let mut r = StdRng::seed_from_u64(args.seed ^ 2);
                let run = match w {
                    "overwrite" => timed(n, |_| {
                        let k = r.random_range(0..n);
                        e.put(&key(k), &value(k, &mut rng))
                    })?,
                    "readrandom" => timed(n, |_| {
                        let k = r.random_range(0..n);
                        e.get(&key(k)).map(|_| ())
                    })?,
                    "readmissing" => timed(n, |_| {
                        let k = r.random_range(n..2 * n);
                        e.get(&key(k)).map(|_| ())
                    })?,
                    "seekrandom" => timed(n / 10, |_| {
                        let k = r.random_range(0..n);
                        e.scan(&key(k), 100).map(|_| ())
                    })?,
                    "deleterandom" => timed(n, |_| {
                        let k = r.random_range(0..n);
                        e.delete(&key(k))
                    })?,
                    "readwhilewriting" => {
                        let stop = std::sync::atomic::AtomicBool::new(false);
                        std::thread::scope(|s| -> Result<Run> {
                            s.spawn(|| {
                                let mut wr = StdRng::seed_from_u64(args.seed ^ 3);
                                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                                    let k = wr.random_range(0..n);
                                    let v = value(k, &mut wr);
                                    if e.put(&key(k), &v).is_err() {
                                        return;
                                    }
                                }
                            });
                            let run = timed(n, |_| {
                                let k = r.random_range(0..n);
                                e.get(&key(k)).map(|_| ())
                            });
                            stop.store(true, std::sync::atomic::Ordering::Relaxed);
                            run
                        })?
                    }
                    other => anyhow::bail!("unknown workload {other}"),
                };
                report(&args.engine, w, &run, &main_path, written_bytes() - w0);
            }
        }
    }
    Ok(())
}
