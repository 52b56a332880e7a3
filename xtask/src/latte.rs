//! `cargo xtask bench node` and `bench cluster`: load from `latte` (crates.io `latte-cli`, the
//! Cassandra benchmarking tool, installed under `target/tools` on first use) against real
//! `ilion` processes. Workloads are in `benches/latte/*.rn`.
//!
//! Each workload runs twice: at saturation (as fast as latte's 128 in-flight requests go), then
//! rate-limited to half the throughput it measured, where latency is what a user sees at a
//! comfortable load. Client and server share this machine's cores.

use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, cluster, root, run, target_dir};

const LATTE_VERSION: &str = "0.29.0";

/// Where latte is, installing it first when it is missing.
fn latte() -> Result<PathBuf> {
    let tools = root().join("target/tools");
    let bin = tools.join("bin/latte");
    if !bin.exists() {
        run(cargo()
            .args([
                "install",
                "latte-cli",
                "--locked",
                "--version",
                LATTE_VERSION,
                "--root",
            ])
            .arg(&tools))?;
    }
    Ok(bin)
}

/// Settings of one bench run, from the environment (defaults in brackets).
struct Settings {
    /// `ILION_BENCH_SECONDS` [30]: the length of each measured run.
    seconds: u64,
    /// `ILION_BENCH_ROWS` [100000]: rows loaded for the read workload.
    rows: u64,
}

impl Settings {
    fn from_env() -> Settings {
        let get = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Settings {
            seconds: get("ILION_BENCH_SECONDS", 30),
            rows: get("ILION_BENCH_ROWS", 100_000),
        }
    }
}

/// What one latte run measured.
#[derive(Debug, Clone, Copy)]
struct Measured {
    throughput: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    errors: u64,
}

/// Reads latte's JSON report: cycle throughput and the cycle latency percentiles (latte's
/// percentile list is Min, 1, 2, 5, 10, 25, 50, 75, 90, 95, 98, 99, 99.9, 99.99, Max).
fn read_report(path: &Path) -> Result<Measured> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let result = &v["result"];
    let percentile = |i: usize| -> Result<f64> {
        result["cycle_latency"]["percentiles"][i]["value"]
            .as_f64()
            .with_context(|| format!("{}: no latency percentile #{i}", path.display()))
    };
    Ok(Measured {
        throughput: result["cycle_throughput"]["value"]
            .as_f64()
            .with_context(|| format!("{}: no cycle_throughput", path.display()))?,
        p50_ms: percentile(6)?,
        p99_ms: percentile(11)?,
        p999_ms: percentile(12)?,
        errors: result["error_count"].as_u64().unwrap_or(0),
    })
}

pub(crate) fn wait_for_port(addr: SocketAddr, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        sleep(Duration::from_millis(100));
    }
    bail!("nothing listens on {addr} after {within:?}")
}

/// A release `ilion` on 127.0.0.1 with its data under `target/bench-node`.
struct Node {
    child: Child,
}

impl Node {
    fn start() -> Result<Node> {
        run(cargo().args(["build", "--release", "--bin", "ilion"]))?;
        let dir = root().join("target/bench-node");
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        fs::create_dir_all(&dir)?;
        let log = fs::File::create(dir.join("ilion.log"))?;
        let bin = target_dir().join("release/ilion");
        let child = Command::new(&bin)
            .arg("--listen-address")
            .arg("127.0.0.1")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let node = Node { child };
        wait_for_port("127.0.0.1:9042".parse()?, Duration::from_secs(30))?;
        Ok(node)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(10));
    }
}

/// Stops a node process: SIGTERM, then SIGKILL when it has not exited within `grace`.
pub(crate) fn stop_child(child: &mut Child, grace: Duration) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs one latte workload at saturation and at half of it; returns both measurements.
fn measure(
    latte: &Path,
    workload: &str,
    params: &[(&str, String)],
    consistency: &str,
    hosts: &[&str],
    settings: &Settings,
) -> Result<(Measured, Measured)> {
    let script = root().join("benches/latte").join(format!("{workload}.rn"));
    let out = root().join("target/bench-latte");
    fs::create_dir_all(&out)?;
    let with_params = |cmd: &mut Command| {
        for (k, v) in params {
            cmd.arg("-P").arg(format!("{k}={v}"));
        }
    };
    for step in ["schema", "load"] {
        let mut cmd = Command::new(latte);
        cmd.arg(step).arg(&script);
        with_params(&mut cmd);
        if step == "load" {
            cmd.args(["--consistency", consistency]);
        }
        cmd.arg("--").args(hosts);
        run(&mut cmd)?;
    }
    let one = |rate: Option<f64>, name: &str| -> Result<Measured> {
        let report = out.join(format!("{workload}-{name}.json"));
        let _ = fs::remove_file(&report);
        let mut cmd = Command::new(latte);
        cmd.arg("run")
            .arg(&script)
            .args(["--duration", &format!("{}s", settings.seconds)])
            .args(["--warmup", "5s"])
            .args(["--consistency", consistency])
            .arg("--output")
            .arg(&report);
        if let Some(r) = rate {
            cmd.args(["--rate", &format!("{r:.0}")]);
        }
        with_params(&mut cmd);
        cmd.arg("--").args(hosts);
        run(&mut cmd)?;
        read_report(&report)
    };
    let saturated = one(None, "saturated")?;
    let half = one(Some(saturated.throughput / 2.0), "half")?;
    Ok((saturated, half))
}

fn print_table(title: &str, rows: &[(&str, Measured, Measured)]) {
    println!("\n{title}");
    println!(
        "| workload | ops/s at saturation | p50 / p99 / p99.9 ms at saturation | ops/s at half | p50 / p99 / p99.9 ms at half | errors |"
    );
    println!("|---|---|---|---|---|---|");
    for (name, s, h) in rows {
        println!(
            "| {name} | {:.0} | {:.2} / {:.2} / {:.2} | {:.0} | {:.2} / {:.2} / {:.2} | {} |",
            s.throughput,
            s.p50_ms,
            s.p99_ms,
            s.p999_ms,
            h.throughput,
            h.p50_ms,
            h.p99_ms,
            h.p999_ms,
            s.errors + h.errors
        );
    }
}

pub(crate) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg").unwrap_or_default()
}

/// `cargo xtask bench node`: write, point-read and system.local workloads against one node.
pub(crate) fn node() -> Result<()> {
    let settings = Settings::from_env();
    let latte = latte()?;
    let _node = Node::start()?;
    eprintln!("load before: {}", load_average());
    let hosts = ["127.0.0.1"];
    let rows = settings.rows.to_string();
    let write = measure(&latte, "write", &[], "ONE", &hosts, &settings)?;
    let read = measure(&latte, "read", &[("rows", rows)], "ONE", &hosts, &settings)?;
    let local = measure(&latte, "local", &[], "ONE", &hosts, &settings)?;
    print_table(
        "one node, consistency ONE, client and server on this machine",
        &[
            ("write", write.0, write.1),
            ("point read", read.0, read.1),
            ("system.local (no storage)", local.0, local.1),
        ],
    );
    println!(
        "\nratio to the protocol ceiling: writes {:.2}, reads {:.2}",
        write.0.throughput / local.0.throughput,
        read.0.throughput / local.0.throughput
    );
    println!("load after: {}", load_average());
    Ok(())
}

/// `cargo xtask bench cluster`: latte's write and point-read workloads against three real nodes
/// on 127.0.0.1..3 (replication factor 3, QUORUM writes and reads, the driver spreading
/// requests over all three), and against one node (replication factor 1) in the same run, so
/// the ratio compares like with like on this machine's load.
pub(crate) fn cluster() -> Result<()> {
    let settings = Settings::from_env();
    let latte = latte()?;
    let rows = settings.rows.to_string();
    eprintln!("load before: {}", load_average());

    let single = {
        let _node = Node::start()?;
        let hosts = ["127.0.0.1"];
        let params = |extra: &[(&'static str, String)]| {
            let mut p = vec![("rf", "1".to_owned())];
            p.extend_from_slice(extra);
            p
        };
        let write = measure(&latte, "write", &params(&[]), "QUORUM", &hosts, &settings)?;
        let read = measure(
            &latte,
            "read",
            &params(&[("rows", rows.clone())]),
            "QUORUM",
            &hosts,
            &settings,
        )?;
        (write, read)
    };

    cluster::start(3, false, None, false)?;
    let clustered = (|| -> Result<_> {
        let hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
        let rf = ("rf", "3".to_owned());
        let write = measure(
            &latte,
            "write",
            std::slice::from_ref(&rf),
            "QUORUM",
            &hosts,
            &settings,
        )?;
        let read = measure(
            &latte,
            "read",
            &[rf, ("rows", rows.clone())],
            "QUORUM",
            &hosts,
            &settings,
        )?;
        Ok((write, read))
    })();
    let stopped = cluster::stop();
    let (write3, read3) = clustered?;
    stopped?;
    let (write1, read1) = single;

    print_table(
        "one node, replication factor 1, QUORUM, client and server on this machine",
        &[
            ("write", write1.0, write1.1),
            ("point read", read1.0, read1.1),
        ],
    );
    print_table(
        "three nodes on 127.0.0.1..3, replication factor 3, QUORUM, all on this machine",
        &[
            ("write", write3.0, write3.1),
            ("point read", read3.0, read3.1),
        ],
    );
    println!(
        "\nratio three nodes / one node at saturation: writes {:.2}, reads {:.2}",
        write3.0.throughput / write1.0.throughput,
        read3.0.throughput / read1.0.throughput
    );
    println!("load after: {}", load_average());
    Ok(())
}
