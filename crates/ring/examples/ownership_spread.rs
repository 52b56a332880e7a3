//! Prints the ownership spread (max/min owned share over the nodes) of clusters built one node
//! at a time with the random and the balanced token allocators: 3, 10, 30 and 100 nodes with
//! 16 vnodes in one datacenter and one rack, replication factor 3.
//!
//! `cargo run --release -p ilion-ring --example ownership_spread`
//!
//! The table in `docs/token-placement.md` comes from this program.

use ilion_ring::{
    DEFAULT_NUM_TOKENS, Error, NodeId, ReplicationStrategy, SimpleStrategy, TokenMetadata,
    balanced_tokens, random_tokens,
};

const RF: usize = 3;
const SIZES: [usize; 4] = [3, 10, 30, 100];
const SEED: u64 = 0x1110_4e55;

#[derive(Clone, Copy)]
enum Allocator {
    Random,
    Balanced,
}

fn spread(shares: impl Iterator<Item = f64>) -> f64 {
    let (mut min, mut max) = (f64::INFINITY, 0.0f64);
    for s in shares {
        min = min.min(s);
        max = max.max(s);
    }
    max / min
}

/// Grows a cluster to each size in `SIZES` and returns (primary spread, replicated spread) at
/// each size.
fn measure(allocator: Allocator) -> Result<Vec<(usize, f64, f64)>, Error> {
    let strategy = ReplicationStrategy::Simple(SimpleStrategy::new(RF));
    let mut meta = TokenMetadata::new();
    let mut out = Vec::new();
    for n in 1..=*SIZES.last().unwrap_or(&0) {
        let tokens = match allocator {
            Allocator::Random => random_tokens(&meta, DEFAULT_NUM_TOKENS, SEED + n as u64)?,
            Allocator::Balanced => balanced_tokens(&meta, "dc1", "rack1", DEFAULT_NUM_TOKENS, RF)?,
        };
        meta.add_node(NodeId::from_u128(n as u128), "dc1", "rack1", tokens)?;
        if SIZES.contains(&n) {
            let primary = spread(meta.primary_ownership().into_values());
            let replicated = spread(strategy.replica_map(&meta)?.ownership().into_values());
            out.push((n, primary, replicated));
        }
    }
    Ok(out)
}

fn main() -> Result<(), Error> {
    let random = measure(Allocator::Random)?;
    let balanced = measure(Allocator::Balanced)?;
    println!(
        "ownership spread (max/min owned share), {DEFAULT_NUM_TOKENS} vnodes, one dc, one rack, RF {RF}"
    );
    println!(
        "| nodes | random: primary | random: RF {RF} | balanced: primary | balanced: RF {RF} |"
    );
    println!("|------:|----------------:|-------------:|------------------:|---------------:|");
    for (r, b) in random.iter().zip(&balanced) {
        println!(
            "| {:>5} | {:>15.3} | {:>12.3} | {:>17.3} | {:>14.3} |",
            r.0, r.1, r.2, b.1, b.2
        );
    }
    Ok(())
}
