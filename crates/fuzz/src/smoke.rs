//! The smoke run of a fuzz target: its committed seeds (`fuzz/seeds/<target>/`), then a seeded
//! stream of random inputs and mutations of the seeds. Stable toolchain, no coverage guidance:
//! it catches what the seeds' neighbourhood and plain noise reach, and runs in every
//! `cargo nextest run` (`tests/smoke.rs`); coverage-guided campaigns are `cargo xtask fuzz`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::Target;

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

pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
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

/// What a smoke run of one target went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Smoked {
    pub seeds: usize,
    pub generated: usize,
}

/// Runs `target` over the seeds of `name`, then `iterations` generated inputs drawn from
/// `seed`. A panic comes back as the message to report: the target, the seed of the stream
/// and the input in hex, so the input can be replayed.
pub fn smoke(name: &str, target: Target, iterations: usize, seed: u64) -> Result<Smoked, String> {
    let corpus = seeds(name);
    let mut rng = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
    let run = |input: &[u8]| -> Result<(), String> {
        catch_unwind(AssertUnwindSafe(|| target(input))).map_err(|_| {
            format!(
                "fuzz smoke: target {name} panicked (seed {seed}); input: {}",
                hex(input)
            )
        })
    };
    for s in &corpus {
        run(s)?;
    }
    for i in 0..iterations {
        let input = if !corpus.is_empty() && i % 4 != 0 {
            let base = &corpus[rng.below(corpus.len())];
            mutate(&mut rng, base)
        } else {
            let n = rng.below(256);
            (0..n).map(|_| rng.next() as u8).collect()
        };
        run(&input)?;
    }
    Ok(Smoked {
        seeds: corpus.len(),
        generated: iterations,
    })
}
