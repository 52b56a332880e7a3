//! `cargo xtask bench stream`: streaming between real `ilion` processes on this machine
//! (release build, throttle off), in two measurements:
//!
//! 1. Two nodes: node 1 holds `ILION_BENCH_STREAM_MB` [256] MiB of 1 KiB rows at replication
//!    factor 1; node 2 joins and streams the ranges it takes. Its own summary line gives the
//!    bytes and seconds of the streams: MB/s, with both processes' CPU seconds.
//! 2. Bootstrap: three nodes hold `ILION_BENCH_BOOTSTRAP_MB` [1024] MiB at replication factor 1;
//!    a fourth joins. The time from its start to serving clients (NORMAL), and what it streamed.
//!
//! `ILION_BENCH_STREAM_COMPACTION=leveled` creates the table with LeveledCompactionStrategy
//! (`sstable_size_in_mb` 2, below a vnode range's share of the data) instead of size-tiered:
//! its files above L0 each cover a narrow key range, so many lie wholly inside a streamed
//! token range and go whole (the summary's "files whole"), where size-tiered files straddle
//! every vnode range and go as rows.
//!
//! Rows are loaded with `benches/stream/load.py` (the Python driver from `cargo xtask venv`).
//! Nodes keep their data under `target/bench-stream/node<i>` and listen on 127.0.0.<i> with the
//! default ports. The machine's load is printed before and after: a figure measured while other
//! work runs is not a figure of Ilion.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::latte::{load_average, stop_child, wait_for_port};
use crate::{cargo, python, root, run, target_dir};

const CLUSTER: &str = "ilion-bench-stream";

fn megabytes(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One release `ilion` on 127.0.0.`i`, stopped (SIGTERM, then SIGKILL) when dropped.
struct Node {
    i: u8,
    child: Child,
    log: PathBuf,
}

impl Node {
    fn start(i: u8) -> Result<Node> {
        let dir = root().join(format!("target/bench-stream/node{i}"));
        fs::create_dir_all(&dir)?;
        let config = dir.join("ilion.yaml");
        fs::write(
            &config,
            "stream_throughput_outbound_megabits_per_sec: 0\nring_delay_ms: 30000\n",
        )?;
        let log = dir.join("ilion.log");
        let out = fs::File::create(&log)?;
        let bin = target_dir().join("release/ilion");
        let child = Command::new(&bin)
            .arg("--config")
            .arg(&config)
            .args(["--listen-address", &format!("127.0.0.{i}")])
            .args(["--seeds", "127.0.0.1", "--cluster-name", CLUSTER])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Node { i, child, log })
    }

    /// Waits until it serves clients (a joining node: once its join finished).
    fn wait_serving(&mut self, within: Duration) -> Result<()> {
        let addr = format!("127.0.0.{}:9042", self.i).parse()?;
        if let Err(e) = wait_for_port(addr, within) {
            let log = fs::read_to_string(&self.log).unwrap_or_default();
            bail!("node{}: {e}\n{log}", self.i);
        }
        Ok(())
    }

    /// CPU seconds (user + system) the process used so far.
    fn cpu_seconds(&self) -> f64 {
        let stat =
            fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        // After the command name: state is field 3, utime 14 and stime 15 (1-based).
        let ticks = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        match (ticks(14), ticks(15)) {
            #[allow(clippy::cast_precision_loss)]
            (Some(u), Some(s)) => (u + s) / clock_ticks() as f64,
            _ => 0.0,
        }
    }

    /// The join summary the node prints: (ranges, partitions, bytes, seconds of streams, files
    /// sent whole).
    fn joined(&self) -> Result<(u64, u64, u64, f64, u64)> {
        let log = fs::read_to_string(&self.log)?;
        let line = log
            .lines()
            .find(|l| l.starts_with("joined the ring (NORMAL): "))
            .with_context(|| format!("node{} printed no join summary:\n{log}", self.i))?;
        // "joined the ring (NORMAL): R ranges, P partitions, B bytes streamed in T s
        // (streams S s)[, F files whole]" (older builds end after the streams' seconds)
        let numbers: Vec<f64> = line
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|w| w.parse::<f64>().ok())
            .collect();
        match numbers.as_slice() {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            [r, p, b, _, s, f] => Ok((*r as u64, *p as u64, *b as u64, *s, *f as u64)),
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            [r, p, b, _, s] => Ok((*r as u64, *p as u64, *b as u64, *s, 0)),
            _ => bail!("cannot read the join summary `{line}`"),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(20));
    }
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

fn load(python: &Path, mb: u64, compaction: &str) -> Result<()> {
    run(Command::new(python)
        .arg(root().join("benches/stream/load.py"))
        .args(["--host", "127.0.0.1", "--rf", "1", "--mb", &mb.to_string()])
        .args(["--compaction", compaction]))
}

fn fresh() -> Result<()> {
    let dir = root().join("target/bench-stream");
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    Ok(())
}

#[allow(clippy::cast_precision_loss)]
fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        0.0
    } else {
        bytes as f64 / (1024.0 * 1024.0) / seconds
    }
}

pub(crate) fn bench() -> Result<()> {
    run(cargo().args(["build", "--release", "--bin", "ilion"]))?;
    let python = python::venv()?;
    let two_mb = megabytes("ILION_BENCH_STREAM_MB", 256);
    let boot_mb = megabytes("ILION_BENCH_BOOTSTRAP_MB", 1024);
    let compaction =
        std::env::var("ILION_BENCH_STREAM_COMPACTION").unwrap_or_else(|_| "size-tiered".into());
    if !["size-tiered", "leveled"].contains(&compaction.as_str()) {
        bail!("ILION_BENCH_STREAM_COMPACTION is `size-tiered` or `leveled`, not `{compaction}`");
    }

    // 1. Two nodes.
    fresh()?;
    let (ranges, partitions, bytes, seconds, files, cpu1, cpu2) = {
        let mut n1 = Node::start(1)?;
        n1.wait_serving(Duration::from_secs(60))?;
        load(&python, two_mb, &compaction)?;
        eprintln!("load before the stream: {}", load_average());
        let before1 = n1.cpu_seconds();
        let mut n2 = Node::start(2)?;
        n2.wait_serving(Duration::from_secs(3600))?;
        let (r, p, b, t, f) = n2.joined()?;
        (r, p, b, t, f, n1.cpu_seconds() - before1, n2.cpu_seconds())
    };
    eprintln!("load after: {}", load_average());
    println!(
        "\ntwo nodes, {two_mb} MiB at RF 1, {compaction}: node 2 streamed {ranges} ranges, \
         {partitions} partitions as rows and {files} files whole, {bytes} bytes in {seconds:.1} s \
         = {:.1} MiB/s; CPU: sender {cpu1:.1} s, receiver {cpu2:.1} s (receiver's includes its \
         start)",
        mb_per_s(bytes, seconds)
    );

    // 2. A fourth node bootstraps into three.
    fresh()?;
    let (ranges, partitions, bytes, seconds, files, total) = {
        let mut nodes = Vec::new();
        for i in 1..=3 {
            let mut n = Node::start(i)?;
            n.wait_serving(Duration::from_secs(120))?;
            nodes.push(n);
        }
        load(&python, boot_mb, &compaction)?;
        eprintln!("load before the bootstrap: {}", load_average());
        let started = Instant::now();
        let mut n4 = Node::start(4)?;
        n4.wait_serving(Duration::from_secs(3600))?;
        let total = started.elapsed().as_secs_f64();
        let (r, p, b, t, f) = n4.joined()?;
        (r, p, b, t, f, total)
    };
    eprintln!("load after: {}", load_average());
    println!(
        "bootstrap of a 4th node into 3 holding {boot_mb} MiB (RF 1, {compaction}): start to \
         NORMAL {total:.1} s; it streamed {ranges} ranges, {partitions} partitions as rows and \
         {files} files whole, {bytes} bytes in {seconds:.1} s = {:.1} MiB/s",
        mb_per_s(bytes, seconds)
    );
    fresh()
}
