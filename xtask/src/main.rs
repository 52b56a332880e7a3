//! `cargo xtask`: the project's developer tasks.
//!
//! - `ci`: exactly what CI runs (`.ci/run` calls it).
//! - `cluster start|stop|status`: a local cluster of real `ilion` processes on 127.0.0.x.
//! - `bench [AREA]`: benchmarks (never part of CI).
//! - `fuzz [TARGET]`: fuzz campaigns (the tests run a short, seeded smoke of every target).
//! - `venv`: the Python environment with the real clients (cassandra-driver, cqlsh).
//! - `drivers [node|go]`: the Node.js and Go driver suites (toolchains installed when missing).
//! - `sim [--seeds N]`: the lightweight-transaction simulation over N seeds (not in CI).

mod cluster;
mod drivers;
mod latte;
mod python;
mod stream;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Args {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Everything CI checks: fmt, clippy, tests (fuzz smoke included), doc tests, real-client tests.
    Ci {
        /// Skip the real-client compatibility tests (Python, Node.js and Go).
        #[arg(long)]
        no_compat: bool,
    },
    /// Start, stop or inspect a local cluster of real `ilion` processes.
    Cluster {
        #[command(subcommand)]
        action: cluster::Action,
    },
    /// Run benchmarks: `lsm`, `ring`, `gossip`, `cql`, `storage`, `node`, `cluster`, `stream`,
    /// or all.
    Bench { area: Option<String> },
    /// Run a fuzz target (cargo-fuzz, libFuzzer) for a while.
    Fuzz {
        /// Target name (see `fuzz/Cargo.toml`); all targets when absent.
        target: Option<String>,
        /// Seconds per target.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
    },
    /// Create or refresh the Python venv with the pinned real clients.
    Venv,
    /// Run the Node.js and Go driver suites (tests/compat/node, tests/compat/go) against real
    /// nodes, installing Node.js, npm, Go and gocql when missing.
    Drivers {
        /// `node` or `go`; both when absent.
        suite: Option<String>,
    },
    /// Run the lightweight-transaction simulation (crates/sim/tests/lwt.rs) over many seeds
    /// (10_000..10_000+N), each history checked for linearizability.
    Sim {
        #[arg(long, default_value_t = 10_000)]
        seeds: u64,
    },
}

/// The test-support features CI builds with: the gossip simulator and the fault-injecting file
/// system, kept out of what nodes and embedders compile.
pub(crate) const TESTKIT: &str = "ilion-gossip/testkit,ilion-lsm/testkit";

/// The workspace root (xtask lives one level below it).
pub(crate) fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Runs a command in the workspace root, failing with its name when it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    cmd.current_dir(root());
    let shown = format!("{cmd:?}");
    eprintln!("xtask: running {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` when set (relative to the workspace root),
/// else `target/` in the workspace.
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

pub(crate) fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

/// Cargo for the CI steps: without incremental compilation unless the caller chose. A
/// from-scratch build gains nothing from it, and its files would double the target directory
/// (about 18 GB of the disk CI shares with the machine).
pub(crate) fn ci_cargo() -> Command {
    let mut c = cargo();
    if std::env::var_os("CARGO_INCREMENTAL").is_none() {
        c.env("CARGO_INCREMENTAL", "0");
    }
    c
}

/// The `ilion` binary the real-client suites start: `$ILION_BIN` when set, else the debug build
/// the Rust tests already made (dependencies optimized, see the workspace's dev profile), which
/// saves CI a release build with LTO; the suites judge behaviour, not speed (`cargo xtask bench`
/// does that).
pub(crate) fn ilion_bin() -> Result<PathBuf> {
    match std::env::var_os("ILION_BIN") {
        // Relative to the workspace root, as the Python suite reads it; the suites run elsewhere.
        Some(bin) => Ok(root().join(bin)),
        None => {
            // The same flags as the test build, so the binary it made is reused; the
            // linearizability checker goes beside it (tests/compat/test_lwt.py runs it).
            run(ci_cargo().args([
                "build",
                "--bin",
                "ilion",
                "--bin",
                "linearizability",
                "--features",
                TESTKIT,
            ]))?;
            Ok(target_dir().join("debug/ilion"))
        }
    }
}

fn drivers(suite: Option<String>) -> Result<()> {
    let suites = match suite.as_deref() {
        None | Some("all") => drivers::Suite::ALL.to_vec(),
        Some(name) => vec![drivers::Suite::parse(name)?],
    };
    let binary = ilion_bin()?;
    let mut times = Vec::new();
    for s in suites {
        times.push((s.name(), drivers::run_suite(s, &binary)?));
    }
    for (name, took) in times {
        eprintln!("  {name:<6} {:>7.1} s", took.as_secs_f64());
    }
    Ok(())
}

fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn ci(no_compat: bool) -> Result<()> {
    let started = Instant::now();
    let mut steps: Vec<(&str, f64)> = Vec::new();
    let mut step = |name: &'static str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        let t = Instant::now();
        f().with_context(|| format!("ci step `{name}` failed"))?;
        steps.push((name, t.elapsed().as_secs_f64()));
        Ok(())
    };

    step("fmt", &mut || {
        run(ci_cargo().args(["fmt", "--all", "--", "--check"]))
    })?;
    step("clippy", &mut || {
        run(ci_cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--features",
            TESTKIT,
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("tests", &mut || {
        if has_nextest() {
            run(ci_cargo().args([
                "nextest",
                "run",
                "--workspace",
                "--features",
                TESTKIT,
                "--profile",
                "ci",
                "--no-fail-fast",
            ]))
        } else {
            run(ci_cargo().args([
                "test",
                "--workspace",
                "--features",
                TESTKIT,
                "--no-fail-fast",
            ]))
        }
    })?;
    step("doc tests", &mut || {
        run(ci_cargo().args(["test", "--workspace", "--features", TESTKIT, "--doc"]))
    })?;
    if !no_compat {
        step("real clients", &mut || python::compat_tests())?;
        step("node driver", &mut || {
            drivers::run_suite(drivers::Suite::Node, &ilion_bin()?).map(|_| ())
        })?;
        step("go driver", &mut || {
            drivers::run_suite(drivers::Suite::Go, &ilion_bin()?).map(|_| ())
        })?;
    }

    eprintln!("xtask ci: all steps passed");
    for (name, secs) in &steps {
        eprintln!("  {name:<14} {secs:>7.1} s");
    }
    eprintln!(
        "  {:<14} {:>7.1} s",
        "total",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn fuzz(target: Option<String>, seconds: u64) -> Result<()> {
    let has_cargo_fuzz = cargo()
        .args(["fuzz", "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_cargo_fuzz {
        run(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    let targets: Vec<String> = match target {
        Some(t) => vec![t],
        None => {
            let out = cargo()
                .args(["fuzz", "list"])
                .current_dir(root())
                .output()
                .context("cargo fuzz list")?;
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned)
                .filter(|l| !l.is_empty())
                .collect()
        }
    };
    for t in targets {
        // libFuzzer needs the nightly-only sanitizer flags; on stable, build without a sanitizer
        // and let RUSTC_BOOTSTRAP unlock the coverage instrumentation cargo-fuzz asks for.
        run(cargo()
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "--sanitizer", "none", &t, "--"])
            .arg(format!("-max_total_time={seconds}")))?;
    }
    Ok(())
}

/// One benchmark area: what `cargo xtask bench AREA` runs.
struct BenchArea {
    name: &'static str,
    what: &'static str,
    run: fn() -> Result<()>,
}

fn criterion(package: &str) -> Result<()> {
    run(cargo().args(["bench", "--package", package]))
}

const BENCH_AREAS: &[BenchArea] = &[
    BenchArea {
        name: "lsm",
        what: "criterion (memtable, block seek, bloom) and the db_bench comparison with fjall \
               (and RocksDB when ILION_BENCH_ROCKSDB=1: needs clang, ~16 min of C++)",
        run: || {
            criterion("ilion-lsm")?;
            // The comparison: same workloads, same tuning, each engine in its own child
            // process, engines alternated over 3 runs; prints a table of medians.
            let num = std::env::var("ILION_BENCH_KEYS").unwrap_or_else(|_| "2000000".to_owned());
            let rocksdb = std::env::var("ILION_BENCH_ROCKSDB").is_ok_and(|v| v == "1");
            let mut cmd = cargo();
            // RocksDB needs target-cpu=native for hardware CRC32C; every engine gets the same.
            cmd.env("RUSTFLAGS", "-C target-cpu=native").args([
                "run",
                "--release",
                "--package",
                "ilion-benches",
                "--bin",
                "db_bench",
            ]);
            if rocksdb {
                cmd.args(["--features", "rocksdb"]);
            }
            run(cmd.args(["--", "--runs", "3", "--num", &num]))
        },
    },
    BenchArea {
        name: "ring",
        what: "criterion: replica lookup for 1,000 nodes x 16 vnodes, NTS RF 3 in 3 dcs",
        run: || criterion("ilion-ring"),
    },
    BenchArea {
        name: "gossip",
        what: "simulated clusters of 100, 500 and 1,000 nodes: spread rounds, conviction, restart, \
               partition and heal, 10 min of 20% loss, bytes (about 18 CPU-minutes, \
               30-45 wall-minutes on a loaded 2-core machine; figures in docs/gossip.md)",
        run: || {
            // Seeded, so every run gives the same figures; only wall time depends on the load.
            for nodes in ["100", "500", "1000"] {
                run(cargo().args([
                    "run",
                    "--release",
                    "--package",
                    "ilion-gossip",
                    "--features",
                    "testkit",
                    "--example",
                    "simulate",
                    "--",
                    "--nodes",
                    nodes,
                    "--seed",
                    "1",
                    "--minutes",
                    "10",
                    "--loss",
                    "0.2",
                ]))?;
            }
            Ok(())
        },
    },
    BenchArea {
        name: "cql",
        what: "criterion: frame and message codecs, CQL parsing",
        run: || criterion("ilion-cql"),
    },
    BenchArea {
        name: "node",
        what: "latte against one real node: writes, point reads, system.local (the protocol ceiling)",
        run: latte::node,
    },
    BenchArea {
        name: "cluster",
        what: "latte against three real nodes (RF 3, QUORUM) and one node in the same run: writes, point reads",
        run: latte::cluster,
    },
    BenchArea {
        name: "stream",
        what: "streaming between real nodes: MiB/s from one node to a joining one, and the time \
               to bootstrap a 4th node into 3 holding 1 GiB (ILION_BENCH_STREAM_MB, \
               ILION_BENCH_BOOTSTRAP_MB)",
        run: stream::bench,
    },
    BenchArea {
        name: "storage",
        what: "criterion: row mutation, 100-row slice, partition scan",
        run: || criterion("ilion-storage"),
    },
];

fn bench(area: Option<String>) -> Result<()> {
    let chosen: Vec<&BenchArea> = match area.as_deref() {
        None | Some("all") => BENCH_AREAS.iter().collect(),
        Some(a) => BENCH_AREAS.iter().filter(|b| b.name == a).collect(),
    };
    if chosen.is_empty() {
        let known: Vec<String> = BENCH_AREAS
            .iter()
            .map(|b| format!("  {:<8} {}", b.name, b.what))
            .collect();
        bail!(
            "no benchmark area `{}`; known areas:\n{}",
            area.unwrap_or_default(),
            known.join("\n")
        );
    }
    for b in chosen {
        eprintln!("xtask bench: {} ({})", b.name, b.what);
        (b.run)()?;
    }
    Ok(())
}

fn main() -> Result<()> {
    match Args::parse().task {
        Task::Ci { no_compat } => ci(no_compat),
        Task::Cluster { action } => cluster::run_action(action),
        Task::Bench { area } => bench(area),
        Task::Fuzz { target, seconds } => fuzz(target, seconds),
        Task::Venv => python::venv().map(|_| ()),
        Task::Drivers { suite } => drivers(suite),
        Task::Sim { seeds } => run(ci_cargo().env("ILION_SIM_SEEDS", seeds.to_string()).args([
            "test",
            "--release",
            "--package",
            "ilion-sim",
            "--test",
            "lwt",
            "--",
            "more_seeds_when_asked",
        ])),
    }
}
