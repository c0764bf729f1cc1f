//! Property tests of the parsers that face the network: the DID decoder, the
//! registration body parser, the piece id rule and the signed-request check.
//! Random but seeded, so a failure reproduces; `fuzz/` has the same targets
//! for cargo-fuzz.

use bgwasm::auth::{Verifier, now_unix, sign_request};
use bgwasm::identity::{Did, Identity};
use bgwasm::store::PieceId;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

const CASES: usize = 20_000;

fn rng() -> StdRng {
    StdRng::seed_from_u64(0x6267_7761_736d)
}

/// Random text biased towards the characters these parsers care about.
fn text(rng: &mut StdRng, max: usize) -> String {
    const ALPHABET: &[char] = &[
        'd', 'i', ':', 'k', 'e', 'y', 'z', '6', 'M', 'k', '1', 'A', 'l', '0', 'O', '.', '/', '-',
        '_', '%', '"', '{', '}', ',', ' ', 'é', '\u{0}',
    ];
    let len = rng.gen_range(0..=max);
    (0..len)
        .map(|_| {
            if rng.gen_bool(0.8) {
                ALPHABET[rng.gen_range(0..ALPHABET.len())]
            } else {
                rng.r#gen::<char>()
            }
        })
        .collect()
}

#[test]
fn did_decoding_never_panics_and_round_trips_real_keys() {
    let mut rng = rng();
    for _ in 0..CASES {
        let mut input = text(&mut rng, 80);
        if rng.gen_bool(0.5) {
            input = format!("did:key:z{input}");
        }
        let _ = Did::decode(&input);
    }
    for _ in 0..200 {
        let did = Identity::generate().did();
        let text = did.to_string();
        assert_eq!(Did::decode(&text).unwrap(), did);
        assert_eq!(
            Did::from_public_key_bytes(did.public_key_bytes()).unwrap(),
            did
        );
        // Any single-character change is either refused or another valid key,
        // never this one.
        let mut chars: Vec<char> = text.chars().collect();
        let at = rng.gen_range(9..chars.len());
        chars[at] = if chars[at] == '2' { '3' } else { '2' };
        let mutated: String = chars.into_iter().collect();
        assert_ne!(Did::decode(&mutated).ok(), Some(did));
    }
}

#[test]
fn registration_bodies_parse_exactly_when_well_formed() {
    let mut rng = rng();
    let space = Identity::from_passphrase("common user")
        .derive("prop")
        .did()
        .to_string();
    for _ in 0..CASES / 4 {
        let garbage: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.r#gen()).collect();
        let _ = bgwasm::api::parse_register_request(&garbage);
        let _ = bgwasm::api::parse_register_request(text(&mut rng, 64).as_bytes());
    }
    for _ in 0..CASES / 4 {
        let id_field = if rng.gen_bool(0.5) {
            "pieceId"
        } else {
            "charmId"
        };
        let id: String = (0..rng.gen_range(1..20))
            .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
            .collect();
        // A label: not blank, no control characters (the parser's stated rule).
        let integration = loop {
            let candidate = text(&mut rng, 10);
            if !candidate.trim().is_empty() && !candidate.chars().any(char::is_control) {
                break candidate;
            }
        };
        let good = json!({ id_field: id, "space": space, "integration": integration });
        let parsed = bgwasm::api::parse_register_request(good.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("refused {good}: {}", e.message));
        assert_eq!(parsed.piece_id.as_str(), id);
        assert_eq!(parsed.integration, integration);

        let mut bad = good.as_object().unwrap().clone();
        let field = match rng.gen_range(0..3) {
            0 => {
                bad.remove("space");
                "space"
            }
            1 => {
                bad.insert("integration".into(), json!(rng.r#gen::<u32>()));
                "integration"
            }
            _ => {
                bad.remove(id_field);
                "pieceId"
            }
        };
        let error = bgwasm::api::parse_register_request(
            serde_json::Value::Object(bad.clone())
                .to_string()
                .as_bytes(),
        )
        .expect_err("a mutated body must be refused");
        assert_eq!(error.status, 400);
        assert!(
            error.message.contains(field),
            "{} for {:?}",
            error.message,
            bad
        );
    }
}

/// The rule as the README states it, written independently.
fn is_valid_piece_id(id: &str) -> bool {
    (1..=128).contains(&id.chars().count())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !id.contains("..")
}

#[test]
fn piece_ids_follow_the_stated_rule() {
    let mut rng = rng();
    for _ in 0..CASES {
        let id = text(&mut rng, 140);
        assert_eq!(
            PieceId::parse(&id).is_ok(),
            is_valid_piece_id(&id),
            "{id:?}"
        );
    }
    for traversal in [
        "..",
        "../x",
        "a/../b",
        "%2e%2e",
        "..%2F",
        "/etc/passwd",
        "a\\b",
    ] {
        assert!(PieceId::parse(traversal).is_err(), "{traversal}");
    }
}

#[test]
fn the_verifier_never_panics_and_never_accepts_a_changed_token() {
    let mut rng = rng();
    let operator = Identity::from_passphrase("prop operator");
    let verifier = Verifier::new(operator.did(), operator.did());
    let now = now_unix();
    for _ in 0..CASES / 4 {
        let header = format!("Bgwasm {}", text(&mut rng, 200));
        assert!(
            verifier
                .verify(Some(&header), "GET", "/x", b"", None, now)
                .is_err()
        );
        let _ = verifier.verify(Some(&text(&mut rng, 100)), "GET", "/x", b"", None, now);
    }
    for _ in 0..500 {
        let token = sign_request(&operator, &operator.did(), "POST", "/api/x", b"body", now);
        let mut bytes = token.into_bytes();
        let at = rng.gen_range("Bgwasm ".len()..bytes.len());
        let original = bytes[at];
        bytes[at] = loop {
            let candidate = *b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
                .get(rng.gen_range(0..65))
                .unwrap();
            if candidate != original {
                break candidate;
            }
        };
        let changed = String::from_utf8(bytes).unwrap();
        // base64 decoding refuses non-canonical trailing bits, so every
        // changed character changes what is checked.
        if let Ok(authority) = verifier.verify(Some(&changed), "POST", "/api/x", b"body", None, now)
        {
            panic!("accepted a changed token as {authority:?}: {changed}");
        }
    }
}
