//! Table files of the storage engine (`ilion-lsm`).

/// `data` is either a table file (it ends with the table magic, or its first byte is even) or,
/// after its first byte, the recipe for a valid table that is then damaged at positions the
/// recipe names. Opening and reading must never panic, and a damaged table must never serve
/// data other than what was written.
pub fn lsm_table(data: &[u8]) {
    let is_table_file = data.ends_with(b"ILNSST01");
    match data.split_first() {
        Some((mode, rest)) if mode & 1 == 1 && !is_table_file => {
            ilion_lsm::harness::fuzz_table_round_trip(rest)
        }
        _ => ilion_lsm::harness::fuzz_table_bytes(data),
    }
}
