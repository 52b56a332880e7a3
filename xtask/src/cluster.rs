//! A local cluster of real `ilion` processes on 127.0.0.1 .. 127.0.0.N.
//!
//! Node `i` (1-based) listens on 127.0.0.i with the default ports, keeps its data under
//! `target/cluster/node<i>/data`, logs to `target/cluster/node<i>/ilion.log`, and its pid is in
//! `target/cluster/node<i>/pid`. Node 1 is the seed: the nodes find each other by gossip
//! (node-to-node gRPC on port 7000) and form one cluster; `start` waits until node 1 sees
//! every node up and prints `ilion status`. Every developer and test starts clusters this way.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use crate::{cargo, root, run, target_dir};

#[derive(Debug, Subcommand)]
pub(crate) enum Action {
    /// Build `ilion` and start N nodes (stopping any cluster already running).
    Start {
        #[arg(long, default_value_t = 3)]
        nodes: u8,
        /// Use the debug build (faster to build, slower to run).
        #[arg(long)]
        debug: bool,
        /// Data centers, assigned round-robin: `--dcs dc1,dc2` puts odd nodes in dc1.
        #[arg(long, value_delimiter = ',')]
        dcs: Option<Vec<String>>,
        /// Keep the data of a previous run instead of starting empty.
        #[arg(long)]
        keep_data: bool,
    },
    /// Stop every node of the local cluster (SIGTERM, then SIGKILL after 10 s).
    Stop,
    /// Show which nodes are running.
    Status,
}

fn cluster_dir() -> PathBuf {
    root().join("target/cluster")
}

fn node_dir(i: u8) -> PathBuf {
    cluster_dir().join(format!("node{i}"))
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; only count processes that are not dead.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .map(|rest| rest.trim_start().starts_with('Z'))
            .unwrap_or(true),
        Err(_) => false,
    }
}

fn nodes() -> Vec<(u8, Option<u32>)> {
    let mut found = Vec::new();
    for i in 1..=254u8 {
        let dir = node_dir(i);
        if !dir.exists() {
            continue;
        }
        let pid = fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok());
        found.push((i, pid));
    }
    found
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

pub(crate) fn stop() -> Result<()> {
    let running: Vec<(u8, u32)> = nodes()
        .into_iter()
        .filter_map(|(i, pid)| pid.filter(|p| alive(*p)).map(|p| (i, p)))
        .collect();
    for (_, pid) in &running {
        signal(*pid, "-TERM");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while running.iter().any(|(_, p)| alive(*p)) && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    for (i, pid) in &running {
        if alive(*pid) {
            eprintln!("node{i} (pid {pid}) did not stop in 10 s; killing it");
            signal(*pid, "-KILL");
        }
        println!("node{i} stopped");
    }
    for (i, _) in nodes() {
        let _ = fs::remove_file(node_dir(i).join("pid"));
    }
    Ok(())
}

fn status() -> Result<()> {
    let all = nodes();
    if all.is_empty() {
        println!("no local cluster under {}", cluster_dir().display());
    }
    for (i, pid) in all {
        let state = match pid {
            Some(p) if alive(p) => format!("UP   pid {p}"),
            _ => "DOWN".to_owned(),
        };
        println!(
            "node{i}  127.0.0.{i}  {state}  log {}",
            node_dir(i).join("ilion.log").display()
        );
    }
    Ok(())
}

pub(crate) fn start(n: u8, debug: bool, dcs: Option<Vec<String>>, keep_data: bool) -> Result<()> {
    if n == 0 || n > 254 {
        bail!("--nodes must be between 1 and 254");
    }
    stop()?;
    let mut build = cargo();
    build.args(["build", "--bin", "ilion"]);
    if !debug {
        build.arg("--release");
    }
    run(&mut build)?;
    let bin = target_dir()
        .join(if debug { "debug" } else { "release" })
        .join("ilion");
    for i in 1..=n {
        let dir = node_dir(i);
        if !keep_data && dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let log = fs::File::create(dir.join("ilion.log"))?;
        let mut cmd = Command::new(&bin);
        cmd.arg("--listen-address")
            .arg(format!("127.0.0.{i}"))
            .arg("--seeds")
            .arg("127.0.0.1")
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--cluster-name")
            .arg("ilion-local");
        if let Some(dcs) = dcs.as_ref().filter(|d| !d.is_empty()) {
            let dc = &dcs[usize::from(i - 1) % dcs.len()];
            cmd.arg("--dc").arg(dc);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        fs::write(dir.join("pid"), child.id().to_string())?;
        println!(
            "node{i}: 127.0.0.{i} pid {} log {}",
            child.id(),
            dir.join("ilion.log").display()
        );
        // One node joins at a time (a join streams its ranges; a second one waits or is
        // refused), as with Cassandra.
        if i < n {
            wait_for_cluster(&bin, i)?;
        }
    }
    // A node that dies at start (bad config, port in use) should fail the command, not be
    // discovered later by a test.
    sleep(Duration::from_millis(500));
    for (i, pid) in nodes().into_iter().filter(|(i, _)| *i <= n) {
        if !pid.map(alive).unwrap_or(false) {
            let log = fs::read_to_string(node_dir(i).join("ilion.log")).unwrap_or_default();
            bail!("node{i} exited at start:\n{log}");
        }
    }
    wait_for_cluster(&bin, n)
}

/// Waits (up to 60 s) until node 1 reports `n` nodes up and normal, then prints its status.
fn wait_for_cluster(bin: &std::path::Path, n: u8) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let out = Command::new(bin)
            .args(["status", "--host", "127.0.0.1:7000", "--timeout", "2"])
            .output();
        if let Ok(out) = out {
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            let up = last.lines().filter(|l| l.starts_with("UN ")).count();
            if out.status.success() && up == usize::from(n) {
                print!("{last}");
                return Ok(());
            }
        }
        sleep(Duration::from_millis(500));
    }
    bail!("the nodes did not form one cluster of {n} within 60 s; node 1 reports:\n{last}")
}

pub(crate) fn run_action(action: Action) -> Result<()> {
    match action {
        Action::Start {
            nodes,
            debug,
            dcs,
            keep_data,
        } => start(nodes, debug, dcs, keep_data),
        Action::Stop => stop(),
        Action::Status => status(),
    }
}
