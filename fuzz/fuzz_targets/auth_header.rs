#![no_main]
use bgwasm::auth::Verifier;
use bgwasm::identity::Identity;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    let operator = Identity::from_passphrase("fuzz operator");
    Verifier::new(operator.did(), operator.did())
});

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data) {
        // Nobody holds the operator key here, so nothing may be accepted.
        assert!(VERIFIER.verify(Some(header), "POST", "/api/x", b"", None, 1_800_000_000).is_err());
    }
});
