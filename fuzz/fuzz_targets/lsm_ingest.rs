#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ilion_fuzz::lsm_ingest::lsm_ingest(data));
