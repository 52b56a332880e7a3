//! db_bench-style comparison of embedded engines: ilion-lsm, fjall and (with the `rocksdb`
//! feature) RocksDB, with the same tuning on every engine: 64 MiB memtable, 64 MiB block cache,
//! 4 KiB blocks, LZ4 on every level, bloom filters of 10 bits per key, leveled compaction
//! (L0 trigger 4, 256 MiB L1, 64 MiB files), two background threads, and the write-ahead log on
//! without an fsync per write. One foreground thread; 16-byte keys, 100-byte values (half of
//! each value random, half repeated: about 50% compressible).
//!
//! `db_bench --engines ilion,fjall,rocksdb --runs 3 --num 2000000` runs every engine in its own
//! child process (so each peak RSS is that engine's alone), alternating the engines' order from
//! run to run, and prints a markdown table of medians. `db_bench --engine ilion` runs one engine
//! in this process (for profiling).
//!
//! Per workload: ops/s, p50/p99/p99.9 latency (hdrhistogram), space amplification (bytes on
//! disk after the workload settles / live logical key+value bytes), write amplification (bytes
//! the engine wrote / key+value bytes the workload wrote; ilion and RocksDB count their own log,
//! flush and compaction bytes, fjall's figure is the process's `/proc/self/io` write_bytes) and
//! peak RSS (`VmHWM`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KEY_LEN: u64 = 16;
const VALUE_LEN: u64 = 100;
const ALL_WORKLOADS: &str =
    "fillseq,fillrandom,overwrite,readrandom,readmissing,seekrandom,deleterandom,readwhilewriting";

#[derive(Parser, Debug)]
struct Args {
    /// Run this one engine in this process: ilion, fjall or rocksdb (the last needs the
    /// `rocksdb` feature).
    #[arg(long)]
    engine: Option<String>,
    /// Engines to compare, each in its own child process per run.
    #[arg(long, default_value = default_engines())]
    engines: String,
    /// Runs per engine; the table shows medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Number of keys.
    #[arg(long, default_value_t = 2_000_000)]
    num: u64,
    #[arg(long, default_value = ALL_WORKLOADS)]
    workloads: String,
    /// Where databases are created (a temporary directory under it per run).
    #[arg(long, default_value = "/tmp")]
    dir: String,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print machine-readable result lines on stdout (used by the parent process).
    #[arg(long, hide = true)]
    child: bool,
}

const fn default_engines() -> &'static str {
    if cfg!(feature = "rocksdb") {
        "ilion,fjall,rocksdb"
    } else {
        "ilion,fjall"
    }
}

trait Engine: Send + Sync {
    fn put(&self, k: &[u8], v: &[u8]) -> Result<()>;
    fn get(&self, k: &[u8]) -> Result<Option<Vec<u8>>>;
    fn delete(&self, k: &[u8]) -> Result<()>;
    /// Seeks to `k` and reads up to `n` entries; returns how many it read.
    fn scan(&self, k: &[u8], n: usize) -> Result<usize>;
    /// Flushes memtables to table files.
    fn flush(&self) -> Result<()>;
    /// Bytes the engine itself counts as written (log + flush + compaction), when it counts.
    fn bytes_written(&self) -> Option<u64>;
}

struct Ilion {
    db: ilion_lsm::Db,
    tree: ilion_lsm::Tree,
}

impl Ilion {
    fn open(path: &Path) -> Result<Ilion> {
        let db = ilion_lsm::Db::builder()
            .memtable_size(64 << 20)
            .block_size(4096)
            .block_cache_size(64 << 20)
            .bloom_bits_per_key(10)
            // One memtable being written and at most one waiting for its flush, as RocksDB's
            // default `max_write_buffer_number` of 2 (ilion's default allows two waiting).
            .max_immutable_memtables(1)
            .default_tree_options(ilion_lsm::TreeOptions {
                compression: ilion_lsm::Compression::Lz4,
                compaction: ilion_lsm::CompactionConfig::Leveled {
                    l0_trigger: 4,
                    level_size_multiplier: 10,
                    base_level_bytes: 256 << 20,
                    target_file_size: 64 << 20,
                },
                ..ilion_lsm::TreeOptions::default()
            })
            .sync_mode(ilion_lsm::SyncMode::Periodic(Duration::from_millis(1000)))
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
    fn flush(&self) -> Result<()> {
        Ok(self.db.flush()?)
    }
    fn bytes_written(&self) -> Option<u64> {
        let s = self.db.stats();
        Some(s.log_bytes_written + s.flush_bytes_written + s.compaction_bytes_written)
    }
}

struct Fjall {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

impl Fjall {
    fn open(path: &Path) -> Result<Fjall> {
        use fjall::config::{
            BlockSizePolicy, BloomConstructionPolicy, CompressionPolicy, FilterPolicy,
            FilterPolicyEntry,
        };
        let db = fjall::Database::builder(path)
            .cache_size(64 << 20)
            .worker_threads(2)
            .open()?;
        let ks = db.keyspace("bench", || {
            fjall::KeyspaceCreateOptions::default()
                .max_memtable_size(64 << 20)
                .data_block_size_policy(BlockSizePolicy::all(4096))
                .data_block_compression_policy(CompressionPolicy::all(fjall::CompressionType::Lz4))
                .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
                    BloomConstructionPolicy::BitsPerKey(10.0),
                )))
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
    fn flush(&self) -> Result<()> {
        self.db.persist(fjall::PersistMode::Buffer)?;
        self.ks.rotate_memtable_and_wait()?;
        Ok(())
    }
    fn bytes_written(&self) -> Option<u64> {
        None
    }
}

#[cfg(feature = "rocksdb")]
struct Rocks {
    db: rocksdb::DB,
    opts: rocksdb::Options,
}

#[cfg(feature = "rocksdb")]
impl Rocks {
    fn open(path: &Path) -> Result<Rocks> {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.enable_statistics();
        opts.set_write_buffer_size(64 << 20);
        opts.set_max_background_jobs(2);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        opts.set_bottommost_compression_type(rocksdb::DBCompressionType::Lz4);
        opts.set_level_zero_file_num_compaction_trigger(4);
        opts.set_max_bytes_for_level_base(256 << 20);
        opts.set_max_bytes_for_level_multiplier(10.0);
        opts.set_target_file_size_base(64 << 20);
        let mut bbo = rocksdb::BlockBasedOptions::default();
        bbo.set_block_size(4096);
        bbo.set_bloom_filter(10.0, false);
        bbo.set_block_cache(&rocksdb::Cache::new_lru_cache(64 << 20));
        opts.set_block_based_table_factory(&bbo);
        Ok(Rocks {
            db: rocksdb::DB::open(&opts, path)?,
            opts,
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
    fn flush(&self) -> Result<()> {
        Ok(self.db.flush()?)
    }
    fn bytes_written(&self) -> Option<u64> {
        use rocksdb::statistics::Ticker;
        Some(
            self.opts.get_ticker_count(Ticker::WalFileBytes)
                + self.opts.get_ticker_count(Ticker::FlushWriteBytes)
                + self.opts.get_ticker_count(Ticker::CompactWriteBytes),
        )
    }
}

fn open_engine(name: &str, path: &Path) -> Result<Box<dyn Engine>> {
    Ok(match name {
        "ilion" => Box::new(Ilion::open(path)?),
        "fjall" => Box::new(Fjall::open(path)?),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Box::new(Rocks::open(path)?),
        other => bail!("unknown engine {other} (rocksdb needs --features rocksdb)"),
    })
}

fn key(n: u64) -> [u8; KEY_LEN as usize] {
    let mut k = [0u8; KEY_LEN as usize];
    k.copy_from_slice(format!("{n:016}").as_bytes());
    k
}

/// 100 bytes: 50 pseudo-random, 50 repeated (about 50% compressible).
fn value(n: u64, rng: &mut StdRng) -> [u8; VALUE_LEN as usize] {
    let mut v = [b'a' + (n % 26) as u8; VALUE_LEN as usize];
    rng.fill(&mut v[..50]);
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

/// Bytes this process caused to be sent to storage so far.
fn io_write_bytes() -> u64 {
    proc_field("/proc/self/io", "write_bytes:")
}

fn peak_rss_kib() -> u64 {
    proc_field("/proc/self/status", "VmHWM:")
}

/// Waits until background flushes and compactions are done: the directory's size stays the
/// same for two consecutive seconds (at most a minute).
fn wait_quiet(path: &Path) {
    let mut last = dir_bytes(path);
    let mut same = 0;
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(1000));
        let now = dir_bytes(path);
        same = if now == last { same + 1 } else { 0 };
        if same >= 2 {
            return;
        }
        last = now;
    }
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

/// One workload's figures.
#[derive(Debug, Clone, Default)]
struct Figures {
    ops_per_sec: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    /// Bytes on disk / live logical bytes.
    space_amp: f64,
    /// Engine bytes written / user bytes written (0 when the workload wrote nothing).
    write_amp: f64,
    peak_rss_mib: f64,
    disk_bytes: u64,
    engine_written: u64,
    user_written: u64,
}

impl Figures {
    fn to_line(&self, engine: &str, workload: &str) -> String {
        format!(
            "RESULT\t{engine}\t{workload}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.ops_per_sec,
            self.p50_us,
            self.p99_us,
            self.p999_us,
            self.space_amp,
            self.write_amp,
            self.peak_rss_mib,
            self.disk_bytes,
            self.engine_written,
            self.user_written
        )
    }

    fn parse(line: &str) -> Option<(String, String, Figures)> {
        let f: Vec<&str> = line.strip_prefix("RESULT\t")?.split('\t').collect();
        let [engine, workload, rest @ ..] = f.as_slice() else {
            return None;
        };
        let n: Vec<f64> = rest.iter().filter_map(|s| s.parse().ok()).collect();
        let [ops, p50, p99, p999, sa, wa, rss, disk, ew, uw] = n.as_slice() else {
            return None;
        };
        Some((
            (*engine).to_owned(),
            (*workload).to_owned(),
            Figures {
                ops_per_sec: *ops,
                p50_us: *p50,
                p99_us: *p99,
                p999_us: *p999,
                space_amp: *sa,
                write_amp: *wa,
                peak_rss_mib: *rss,
                disk_bytes: *disk as u64,
                engine_written: *ew as u64,
                user_written: *uw as u64,
            },
        ))
    }
}

/// Counts the engine's written bytes across a workload.
struct WriteMeter {
    engine: Option<u64>,
    io: u64,
}

impl WriteMeter {
    fn start(e: &dyn Engine) -> WriteMeter {
        WriteMeter {
            engine: e.bytes_written(),
            io: io_write_bytes(),
        }
    }
    fn written(&self, e: &dyn Engine) -> u64 {
        match (self.engine, e.bytes_written()) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => io_write_bytes().saturating_sub(self.io),
        }
    }
}

/// Live keys of a database, for its logical size.
struct Live {
    keys: Vec<bool>,
    count: u64,
}

impl Live {
    fn new(n: u64) -> Live {
        Live {
            keys: vec![false; n as usize],
            count: 0,
        }
    }
    fn set(&mut self, k: u64, live: bool) {
        if let Some(slot) = self.keys.get_mut(k as usize)
            && *slot != live
        {
            *slot = live;
            if live {
                self.count += 1;
            } else {
                self.count -= 1;
            }
        }
    }
    fn logical_bytes(&self) -> u64 {
        self.count * (KEY_LEN + VALUE_LEN)
    }
}

#[allow(clippy::too_many_arguments)]
fn figures(
    run: &Run,
    e: &dyn Engine,
    path: &Path,
    meter: &WriteMeter,
    user_written: u64,
    live: &Live,
    wrote: bool,
) -> Result<Figures> {
    let mut engine_written = 0;
    if wrote {
        e.flush()?;
        wait_quiet(path);
        engine_written = meter.written(e);
    }
    let us = |q: f64| run.hist.value_at_quantile(q) as f64 / 1000.0;
    let disk = dir_bytes(path);
    Ok(Figures {
        ops_per_sec: run.ops as f64 / run.elapsed.as_secs_f64(),
        p50_us: us(0.5),
        p99_us: us(0.99),
        p999_us: us(0.999),
        space_amp: disk as f64 / live.logical_bytes().max(1) as f64,
        write_amp: if user_written == 0 {
            0.0
        } else {
            engine_written as f64 / user_written as f64
        },
        peak_rss_mib: peak_rss_kib() as f64 / 1024.0,
        disk_bytes: disk,
        engine_written,
        user_written,
    })
}

fn print_figures(engine: &str, workload: &str, f: &Figures, child: bool) {
    eprintln!(
        "{engine:7} {workload:16} {:>9.0} ops/s  p50 {:>6.1}  p99 {:>7.1}  p99.9 {:>8.1} us  disk {:>6.1} MiB  space amp {:>4.2}  write amp {:>4.2}  peak rss {:>5.0} MiB",
        f.ops_per_sec,
        f.p50_us,
        f.p99_us,
        f.p999_us,
        f.disk_bytes as f64 / (1 << 20) as f64,
        f.space_amp,
        f.write_amp,
        f.peak_rss_mib,
    );
    if child {
        println!("{}", f.to_line(engine, workload));
    }
}

/// Runs every workload on one engine in this process.
fn run_engine(args: &Args, engine: &str) -> Result<()> {
    let n = args.num;
    let base = tempfile::Builder::new()
        .prefix("db_bench-")
        .tempdir_in(&args.dir)?;
    let mut rng = StdRng::seed_from_u64(args.seed);
    let user = KEY_LEN + VALUE_LEN;
    // The "main" database: filled randomly, then reused by the later workloads.
    let main_path = base.path().join("main");
    let mut main: Option<Box<dyn Engine>> = None;
    let mut live = Live::new(n);
    for w in args.workloads.split(',') {
        let f = match w {
            "fillseq" => {
                let path = base.path().join("seq");
                let e = open_engine(engine, &path)?;
                let meter = WriteMeter::start(e.as_ref());
                let run = timed(n, |i| e.put(&key(i), &value(i, &mut rng)))?;
                let mut seq_live = Live::new(0);
                seq_live.count = n;
                let f = figures(&run, e.as_ref(), &path, &meter, n * user, &seq_live, true)?;
                drop(e);
                std::fs::remove_dir_all(&path)?;
                f
            }
            "fillrandom" => {
                let e = open_engine(engine, &main_path)?;
                let meter = WriteMeter::start(e.as_ref());
                let mut r = StdRng::seed_from_u64(args.seed ^ 1);
                let run = timed(n, |_| {
                    let k = r.random_range(0..n);
                    live.set(k, true);
                    e.put(&key(k), &value(k, &mut rng))
                })?;
                let f = figures(&run, e.as_ref(), &main_path, &meter, n * user, &live, true)?;
                main = Some(e);
                f
            }
            _ => {
                if main.is_none() {
                    main = Some(open_engine(engine, &main_path)?);
                }
                let e = main.as_deref().context("no database")?;
                let meter = WriteMeter::start(e);
                let mut r = StdRng::seed_from_u64(args.seed ^ 2);
                let (run, user_written) = match w {
                    "overwrite" => (
                        timed(n, |_| {
                            let k = r.random_range(0..n);
                            live.set(k, true);
                            e.put(&key(k), &value(k, &mut rng))
                        })?,
                        n * user,
                    ),
                    "readrandom" => (
                        timed(n, |_| {
                            let k = r.random_range(0..n);
                            e.get(&key(k)).map(|_| ())
                        })?,
                        0,
                    ),
                    "readmissing" => (
                        timed(n, |_| {
                            let k = r.random_range(n..2 * n);
                            e.get(&key(k)).map(|_| ())
                        })?,
                        0,
                    ),
                    "seekrandom" => (
                        timed(n / 10, |_| {
                            let k = r.random_range(0..n);
                            e.scan(&key(k), 100).map(|_| ())
                        })?,
                        0,
                    ),
                    "deleterandom" => (
                        timed(n, |_| {
                            let k = r.random_range(0..n);
                            live.set(k, false);
                            e.delete(&key(k))
                        })?,
                        n * KEY_LEN,
                    ),
                    "readwhilewriting" => {
                        let stop = AtomicBool::new(false);
                        let written = Mutex::new(Vec::new());
                        let run = std::thread::scope(|s| -> Result<Run> {
                            s.spawn(|| {
                                let mut wr = StdRng::seed_from_u64(args.seed ^ 3);
                                let mut keys = Vec::new();
                                while !stop.load(Ordering::Relaxed) {
                                    let k = wr.random_range(0..n);
                                    let v = value(k, &mut wr);
                                    if e.put(&key(k), &v).is_err() {
                                        break;
                                    }
                                    keys.push(k);
                                }
                                if let Ok(mut w) = written.lock() {
                                    *w = keys;
                                }
                            });
                            let run = timed(n, |_| {
                                let k = r.random_range(0..n);
                                e.get(&key(k)).map(|_| ())
                            });
                            stop.store(true, Ordering::Relaxed);
                            run
                        })?;
                        let keys = written.into_inner().unwrap_or_default();
                        for &k in &keys {
                            live.set(k, true);
                        }
                        (run, keys.len() as u64 * user)
                    }
                    other => bail!("unknown workload {other}"),
                };
                figures(
                    &run,
                    e,
                    &main_path,
                    &meter,
                    user_written,
                    &live,
                    user_written > 0,
                )?
            }
        };
        print_figures(engine, w, &f, args.child);
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Runs each engine `runs` times in child processes, alternating their order, and prints the
/// table of medians.
fn compare(args: &Args) -> Result<()> {
    let engines: Vec<&str> = args.engines.split(',').filter(|e| !e.is_empty()).collect();
    let exe = std::env::current_exe()?;
    let mut results: Vec<(String, String, Figures)> = Vec::new();
    let mut loads = vec![loadavg()];
    for run in 0..args.runs {
        let mut order = engines.clone();
        order.rotate_left(run % engines.len().max(1));
        for engine in order {
            eprintln!(
                "== run {} of {}: {engine} (load {})",
                run + 1,
                args.runs,
                loadavg()
            );
            let mut child = Command::new(&exe)
                .args(["--child", "--engine", engine, "--num"])
                .arg(args.num.to_string())
                .args(["--workloads", &args.workloads, "--dir", &args.dir, "--seed"])
                .arg(args.seed.to_string())
                .stdout(Stdio::piped())
                .spawn()?;
            let out = child.stdout.take().context("child stdout")?;
            for line in BufReader::new(out).lines() {
                if let Some(r) = Figures::parse(&line?) {
                    results.push(r);
                }
            }
            let status = child.wait()?;
            if !status.success() {
                bail!("{engine} run {} failed: {status}", run + 1);
            }
            loads.push(loadavg());
        }
    }
    println!(
        "\n{} keys, {KEY_LEN}-byte keys, {VALUE_LEN}-byte values; medians of {} runs; load averages seen: {}\n",
        args.num,
        args.runs,
        loads.join(" | ")
    );
    println!(
        "| workload | engine | ops/s | p50 µs | p99 µs | p99.9 µs | space amp | write amp | peak RSS MiB |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for w in args.workloads.split(',') {
        for engine in &engines {
            let rs: Vec<&Figures> = results
                .iter()
                .filter(|(e, wl, _)| e == engine && wl == w)
                .map(|(_, _, f)| f)
                .collect();
            if rs.is_empty() {
                continue;
            }
            let m = |g: fn(&Figures) -> f64| median(rs.iter().map(|f| g(f)).collect());
            let wa = m(|f| f.write_amp);
            println!(
                "| {w} | {engine} | {:.0} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {:.0} |",
                m(|f| f.ops_per_sec),
                m(|f| f.p50_us),
                m(|f| f.p99_us),
                m(|f| f.p999_us),
                m(|f| f.space_amp),
                if wa > 0.0 {
                    format!("{wa:.2}")
                } else {
                    "-".to_owned()
                },
                m(|f| f.peak_rss_mib),
            );
        }
    }
    println!(
        "\nWrite amplification over the whole suite (engine bytes / user bytes, median of runs):"
    );
    for engine in &engines {
        let per_run: Vec<f64> = (0..args.runs)
            .map(|run| {
                let mine: Vec<&Figures> = results
                    .iter()
                    .filter(|(e, _, _)| e == engine)
                    .map(|(_, _, f)| f)
                    .collect();
                let per = mine.len() / args.runs.max(1);
                let slice = mine.iter().skip(run * per).take(per);
                let (ew, uw) = slice.fold((0u64, 0u64), |(a, b), f| {
                    (a + f.engine_written, b + f.user_written)
                });
                ew as f64 / uw.max(1) as f64
            })
            .collect();
        println!("- {engine}: {:.2}", median(per_run));
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    match &args.engine {
        Some(engine) => run_engine(&args, engine),
        None => compare(&args),
    }
}
