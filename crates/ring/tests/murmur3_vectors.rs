//! Every key of `vectors/murmur3_vectors.tsv` (generated with the Python driver, see the crate
//! docs) hashes and tokenizes exactly as the driver says.

use ilion_ring::{
    Murmur3Partitioner, Token, murmur3, serialize_composite, serialize_partition_key,
};

const VECTORS: &str = include_str!("vectors/murmur3_vectors.tsv");

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn every_driver_vector_matches_hash_and_token() {
    let mut singles = 0;
    let mut composites = 0;
    let mut min_hash_seen = 0;
    for (n, line) in VECTORS.lines().enumerate() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 4, "line {}: {line:?}", n + 1);
        let hash: i64 = cols[2].parse().expect("hash");
        let driver_token: i64 = cols[3].parse().expect("token");
        let key = match cols[0] {
            "s" => {
                singles += 1;
                hex(cols[1])
            }
            "c" => {
                composites += 1;
                let parts: Vec<Vec<u8>> = cols[1].split(',').map(hex).collect();
                let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
                let key = serialize_partition_key(&refs).expect("composite");
                assert_eq!(key, serialize_composite(&refs).expect("composite"));
                let token = Murmur3Partitioner
                    .token_of_components(&refs)
                    .expect("composite token");
                assert_eq!(token, Murmur3Partitioner.token(&key));
                key
            }
            other => panic!("line {}: unknown kind {other:?}", n + 1),
        };
        assert_eq!(murmur3(&key), hash, "line {}: hash of {}", n + 1, cols[1]);
        if hash == i64::MIN {
            min_hash_seen += 1;
        }
        let token = Murmur3Partitioner.token(&key);
        if key.is_empty() {
            // Cassandra gives the empty key the minimum token; the driver hashes it to 0.
            assert_eq!(token, Token::MIN);
            assert_eq!(driver_token, 0);
        } else {
            assert_eq!(token.value(), driver_token, "line {}: token", n + 1);
        }
    }
    assert!(singles >= 10_000, "{singles} single keys");
    assert!(composites >= 2_000, "{composites} composite keys");
    assert!(
        min_hash_seen >= 2,
        "the Long.MIN_VALUE edge case must be covered"
    );
}
