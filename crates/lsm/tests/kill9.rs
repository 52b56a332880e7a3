//! kill -9 test: a child process writes and reports each acknowledged key on stdout; the parent
//! kills it (SIGKILL) at a pseudo-random moment, reopens the directory and checks that every
//! acknowledged write is there and nothing is corrupt.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ilion_lsm::Db;

fn child_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lsm-kill9-child"))
}

fn value(k: u64) -> Vec<u8> {
    format!("value-{k}-")
        .repeat(1 + (k % 5) as usize)
        .into_bytes()
}

struct Cycle {
    acked: Vec<u64>,
    durable: Vec<u64>,
}

fn run_child(dir: &Path, mode: &str, first: u64, kill_after: Duration) -> Cycle {
    let mut child = Command::new(child_binary())
        .arg(dir)
        .arg(mode)
        .arg(first.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut c = Cycle {
            acked: Vec::new(),
            durable: Vec::new(),
        };
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(k) = line.strip_prefix("ack ") {
                c.acked.push(k.parse().unwrap());
            } else if let Some(k) = line.strip_prefix("durable ") {
                c.durable.push(k.parse().unwrap());
            }
        }
        c
    });
    std::thread::sleep(kill_after);
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    reader.join().unwrap()
}

/// Reopens and returns every key -> value, checking values are intact.
fn contents(dir: &Path) -> BTreeMap<u64, Vec<u8>> {
    let db = Db::open(dir).unwrap();
    let tree = db.tree("kill9").unwrap();
    let mut all = BTreeMap::new();
    for r in tree.iter() {
        let (k, v) = r.unwrap();
        let k: u64 = std::str::from_utf8(&k[1..]).unwrap().parse().unwrap();
        assert_eq!(v, value(k), "value of key {k} is damaged");
        all.insert(k, v);
    }
    // Point reads agree with the scan.
    for k in all.keys().take(50) {
        assert!(tree.get(format!("k{k:012}").as_bytes()).unwrap().is_some());
    }
    drop(tree);
    db.close().unwrap();
    all
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn batch_mode_never_loses_an_acknowledged_write_across_50_kills() {
    let dir = tempfile::tempdir().unwrap();
    let seed = 0x9e37_79b9_7f4a_7c15u64;
    println!("seed {seed:#x}");
    let mut rng = seed;
    let mut acked_total = 0;
    for cycle in 0..50u64 {
        let wait = Duration::from_millis(5 + xorshift(&mut rng) % 40);
        let c = run_child(dir.path(), "batch", cycle * 1_000_000_000, wait);
        acked_total += c.acked.len();
        let all = contents(dir.path());
        for k in &c.acked {
            assert!(
                all.contains_key(k),
                "cycle {cycle}: acknowledged key {k} was lost"
            );
        }
    }
    assert!(acked_total > 0, "the child never acknowledged a write");
}

#[test]
fn periodic_mode_loses_no_acknowledged_write_when_the_process_is_killed() {
    // Periodic mode hands each record to the operating system before acknowledging it, as
    // Cassandra's memory-mapped commit log does: a killed process loses nothing acknowledged
    // (only a machine crash can lose up to one sync period).
    let dir = tempfile::tempdir().unwrap();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut acked_total = 0;
    for cycle in 0..12u64 {
        let wait = Duration::from_millis(20 + xorshift(&mut rng) % 60);
        let c = run_child(dir.path(), "periodic", cycle * 1_000_000_000, wait);
        acked_total += c.acked.len();
        let all = contents(dir.path());
        for k in &c.acked {
            assert!(
                all.contains_key(k),
                "cycle {cycle}: acknowledged key {k} was lost"
            );
        }
        // Per writer thread, what survived is a prefix of what it wrote.
        for t in 0..4 {
            let mine: Vec<u64> = c.acked.iter().copied().filter(|k| k % 4 == t).collect();
            let kept = mine.iter().take_while(|k| all.contains_key(k)).count();
            assert!(
                mine[kept..].iter().all(|k| !all.contains_key(k)),
                "cycle {cycle}: thread {t} lost a write but kept a later one"
            );
        }
    }
    assert!(acked_total > 0, "the child never acknowledged a write");
}
