#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tether_core::fuzzing::media(data, std::time::Instant::now())
});
