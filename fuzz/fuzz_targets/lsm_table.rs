#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ilion_fuzz::lsm_table::lsm_table(data));
