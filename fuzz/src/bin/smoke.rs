//! Runs every fuzz target over its committed seeds (`fuzz/seeds/<target>/`), then over a seeded
//! stream of random inputs and mutations of the seeds. Stable toolchain; no coverage guidance.
//! A panic reports the target, the seed of the stream and the input in hex, then exits non-zero.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::ExitCode;

/// xorshift64*: small, seeded, good enough to generate test inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            if let Ok(bytes) = std::fs::read(&p) {
                out.push(bytes);
            }
        }
    }
    out
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            2 if !v.is_empty() => {
                let at = rng.below(v.len());
                v.truncate(at);
            }
            3 => {
                let at = rng.below(v.len() + 1);
                let n = rng.below(16);
                let extra: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(at..at, extra);
            }
            _ if v.len() > 1 => {
                let i = rng.below(v.len());
                let j = rng.below(v.len());
                v.swap(i, j);
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> ExitCode {
    let mut iterations = 10_000usize;
    let mut seed = 0x1110_u64;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--iterations" => {
                iterations = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(iterations)
            }
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(seed),
            other => only = Some(other.to_owned()),
        }
    }
    // Keep the default hook's message quiet; we print our own report.
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    let targets = ilion_fuzz::targets();
    if targets.is_empty() {
        println!("fuzz smoke: no targets registered yet");
    }
    for (name, target) in targets {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let corpus = seeds(name);
        let mut rng = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
        let run = |input: &[u8]| -> bool {
            if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
                eprintln!(
                    "fuzz smoke: target {name} panicked (seed {seed}); input: {}",
                    hex(input)
                );
                return false;
            }
            true
        };
        for s in &corpus {
            if !run(s) {
                return ExitCode::FAILURE;
            }
        }
        for i in 0..iterations {
            let input = if !corpus.is_empty() && i % 4 != 0 {
                let base = &corpus[rng.below(corpus.len())];
                mutate(&mut rng, base)
            } else {
                let n = rng.below(256);
                (0..n).map(|_| rng.next() as u8).collect()
            };
            if !run(&input) {
                return ExitCode::FAILURE;
            }
        }
        println!(
            "fuzz smoke: {name}: {} seeds + {iterations} generated inputs, no panic",
            corpus.len()
        );
    }
    ExitCode::SUCCESS
}
