#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ilion_fuzz::auth::sasl_plain(data));
