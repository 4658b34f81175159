#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| segstream_fuzz::core::spool_file(data));
