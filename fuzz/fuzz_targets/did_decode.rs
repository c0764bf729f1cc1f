#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(did) = bgwasm::identity::Did::decode(text)
    {
        // Whatever decodes must print back to itself.
        assert_eq!(did.to_string(), text);
    }
});
