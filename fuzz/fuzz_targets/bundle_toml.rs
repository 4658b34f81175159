#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| segstream_fuzz::core::bundle_toml(data));
