//! Ring arithmetic against a model that works on offsets from the ring's minimum as u128.

use ilion_ring::{Token, TokenRange};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Offset of a token from MIN, in [0, 2^64).
fn offset(t: Token) -> u128 {
    u128::from((t.value() as u64) ^ (1 << 63))
}

/// Model of `(l, r]`: the clockwise walk from `l` (exclusive) for `distance` steps.
fn model_contains(l: Token, r: Token, p: Token) -> bool {
    let ring = 1u128 << 64;
    let distance = match (offset(r) + ring - offset(l)) % ring {
        0 => ring,
        d => d,
    };
    let steps = (offset(p) + ring - offset(l)) % ring;
    steps != 0 && steps <= distance || (steps == 0 && distance == ring)
}

fn config() -> Config {
    Config {
        cases: 2000,
        rng_seed: RngSeed::Fixed(4),
        failure_persistence: None,
        ..Config::default()
    }
}

fn token() -> impl Strategy<Value = Token> {
    prop_oneof![
        any::<i64>().prop_map(Token::new),
        (-3i64..=3).prop_map(Token::new),
        prop_oneof![Just(Token::MIN), Just(Token::MAX)],
        (0i64..4).prop_map(|d| Token::new(i64::MIN + d)),
        (0i64..4).prop_map(|d| Token::new(i64::MAX - d)),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn range_contains_matches_the_clockwise_walk_model(l in token(), r in token(), p in token()) {
        let range = TokenRange::new(l, r);
        // Cassandra's (x, MIN] means "to the end of the ring": MIN itself is included.
        let expected = model_contains(l, r, p);
        prop_assert_eq!(range.contains(p), expected, "{} contains {}", range, p);
    }

    #[test]
    fn unwrapped_ranges_cover_exactly_the_same_tokens(l in token(), r in token(), p in token()) {
        let range = TokenRange::new(l, r);
        let (a, b) = range.unwrap();
        prop_assert!(!a.is_wrap_around() || a.right == Token::MIN || a == range);
        let in_parts = a.contains(p) || b.is_some_and(|b| b.contains(p));
        prop_assert_eq!(in_parts, range.contains(p));
    }

    #[test]
    fn midpoint_lies_within_the_range(l in token(), r in token()) {
        let range = TokenRange::new(l, r);
        let m = l.midpoint(r);
        // Cassandra's wrapping formula is off by one (it uses MAX - MIN = 2^64 - 1 as the ring
        // size), so a wrapping range 2 tokens wide has its left bound as midpoint; the seeded
        // run found (MAX - 1, MIN], now the named test in token.rs.
        if range.width() >= 3 {
            prop_assert!(range.contains(m), "midpoint {} of {}", m, range);
        }
    }
}
