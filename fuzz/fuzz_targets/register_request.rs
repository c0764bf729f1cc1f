#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(error) = bgwasm::api::parse_register_request(data) {
        assert_eq!(error.status, 400);
        assert!(!error.message.is_empty());
    }
});
