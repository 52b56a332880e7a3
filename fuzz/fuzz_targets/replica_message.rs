#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ilion_fuzz::coordinator::replica_message(data));
