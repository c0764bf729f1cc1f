#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(id) = bgwasm::store::PieceId::parse(text)
    {
        assert!(!id.as_str().contains(".."));
        assert!(!id.as_str().contains('/'));
        assert!(id.as_str().len() <= 128);
    }
});
