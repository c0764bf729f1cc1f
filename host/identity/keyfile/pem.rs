//! Keyfile text: an Ed25519 seed between `-----BEGIN PRIVATE KEY-----` and
//! `-----END PRIVATE KEY-----`, in one of two forms ([`KeyFormat`]).
//!
//! - The reference form, which the reference system's identity tools write
//!   and require: the body is a multibase string, `M` (base64pad) and then
//!   the padded base64 of the 48-byte PKCS#8 key (the prefix
//!   `302e020100300506032b657004220420` then the 32-byte seed). It starts
//!   `MMC4CAQAwBQYDK2VwBCIEI` and is 65 characters long.
//! - Standard PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes it:
//!   the same base64 without the `M` (`MC4CAQAwBQYDK2VwBCIEI...`, 64
//!   characters).
//!
//! Reading tells the two apart by the body alone. The base64 of DER always
//! starts with `M` (the SEQUENCE tag 0x30) and never with `MM` (the next byte
//! would then be 0xC0..0xCF, which no DER length is), and padded base64 is 4n
//! characters long; so a body that starts `MM`, or that does not start with
//! `M` and is 4n+1 characters long, is the reference form, and any other is
//! PKCS#8. Like the reference reader, reading strips the frame and all
//! whitespace, so the body may be wrapped over lines, indented or CRLF; a
//! byte-order mark and text before the BEGIN line (OpenSSL's "Bag
//! Attributes") are ignored. Both forms also accept PKCS#8 v2 (with the
//! public key), after checking that key matches the seed.
//!
//! Errors name the form that was expected and what is wrong with the body,
//! and never quote the body or any other key material.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{ALGORITHM_OID, DecodePrivateKey, PrivateKeyInfo};
use thiserror::Error;

/// DER header of an ed25519 PKCS#8 v1 private key holding a 32-byte seed.
pub const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// [`PKCS8_ED25519_PREFIX`] in hex, for messages.
const PREFIX_HEX: &str = "302e020100300506032b657004220420";

pub(super) const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

/// The multibase prefix of padded base64, which starts a reference body.
const MULTIBASE_BASE64PAD: char = 'M';

/// How the key is written between the BEGIN and END lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KeyFormat {
    /// The reference system's form: "M" (multibase base64pad), then the
    /// base64 of the PKCS#8 key; the reference's own tools read only this
    #[default]
    Reference,
    /// Standard PKCS#8 PEM, as OpenSSL writes it
    Pkcs8,
}

impl fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyFormat::Reference => {
                "the reference form (\"M\", then the padded base64 of the PKCS#8 key: \
                 65 characters for Ed25519)"
            }
            KeyFormat::Pkcs8 => {
                "standard PKCS#8 PEM (the padded base64 of the PKCS#8 key: 64 characters \
                 for Ed25519, as OpenSSL writes it)"
            }
        })
    }
}

impl KeyFormat {
    /// The form a whitespace-free body is written in (see the module docs).
    fn of_body(body: &str) -> KeyFormat {
        let mut chars = body.chars();
        match (chars.next(), chars.next()) {
            (Some(MULTIBASE_BASE64PAD), Some(MULTIBASE_BASE64PAD)) => KeyFormat::Reference,
            (Some(MULTIBASE_BASE64PAD), _) => KeyFormat::Pkcs8,
            _ if body.len() % 4 == 1 => KeyFormat::Reference,
            _ => KeyFormat::Pkcs8,
        }
    }
}

/// Why some text is not an Ed25519 keyfile.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PemError {
    #[error(
        "it is an encrypted private key; bgwasm needs it unencrypted (`openssl pkey -in FILE -out PLAIN`)"
    )]
    Encrypted,
    #[error(
        "it is an OpenSSH private key; convert it to PKCS#8 or make a new one with `bgwasm id new --out FILE`"
    )]
    OpenSsh,
    #[error("it holds a PEM \"{0}\", not a \"PRIVATE KEY\" (an Ed25519 key)")]
    OtherLabel(String),
    #[error("there is no \"{PEM_BEGIN}\" line")]
    NoBegin,
    #[error("there is no \"{PEM_END}\" line after the BEGIN line")]
    NoEnd,
    #[error("there is nothing between the BEGIN and END lines")]
    EmptyBody,
    #[error("its body looks like {form}, but {problem}")]
    Body { form: KeyFormat, problem: BodyError },
}

/// What is wrong with the body of a keyfile, in the form it looked like.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BodyError {
    #[error(
        "it starts with {} instead of the multibase prefix \"M\" (padded base64)",
        describe_prefix(*.0)
    )]
    Prefix(char),
    #[error(
        "its base64 is {len} characters long, and padded base64 comes in groups of 4 \
         (is part of it missing?)"
    )]
    Base64Length { len: usize },
    #[error(
        "character {position} is {}, which is not standard base64 (A-Z a-z 0-9 + / and = at the end)",
        describe_byte(*.byte)
    )]
    Base64Character { position: usize, byte: u8 },
    #[error("character {position} cannot end canonical base64 (is the end cut off or changed?)")]
    Base64End { position: usize },
    #[error("its base64 padding (\"=\" at the end) is wrong or missing")]
    Base64Padding,
    #[error(
        "it decodes to {len} bytes that are not PKCS#8 ({reason}); an Ed25519 key is 48 bytes \
         starting {PREFIX_HEX}"
    )]
    NotPkcs8 { len: usize, reason: String },
    #[error("it is a PKCS#8 {algorithm} key, not Ed25519")]
    NotEd25519 { algorithm: String },
    #[error("it is an Ed25519 PKCS#8 key, but a malformed one: {reason}")]
    BadEd25519 { reason: String },
}

/// Names a body's first character (never key material: in either form it
/// encodes only the first DER byte or the multibase prefix).
fn describe_prefix(c: char) -> String {
    let name = match c {
        'm' => " (multibase base64 without padding)",
        'u' => " (multibase base64url without padding)",
        'U' => " (multibase base64url)",
        'z' => " (multibase base58btc)",
        'f' | 'F' => " (multibase hex)",
        'b' | 'B' => " (multibase base32)",
        _ => "",
    };
    format!("{}{name}", describe_char(c))
}

/// Names a byte that is not in the base64 alphabet (so it carries no key
/// bits and may be shown).
fn describe_byte(byte: u8) -> String {
    if byte.is_ascii() {
        describe_char(char::from(byte))
    } else {
        format!("the non-ASCII byte 0x{byte:02x}")
    }
}

fn describe_char(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("{c:?}")
    } else {
        format!("U+{:04X}", u32::from(c))
    }
}

/// The 48-byte PKCS#8 DER form of a seed.
pub fn seed_to_pkcs8(seed: &[u8; 32]) -> [u8; 48] {
    let mut der = [0u8; 48];
    der[..16].copy_from_slice(&PKCS8_ED25519_PREFIX);
    der[16..].copy_from_slice(seed);
    der
}

/// The keyfile text of a seed in `format`, the body on one line.
pub fn seed_to_pem(seed: &[u8; 32], format: KeyFormat) -> String {
    let base64 = STANDARD.encode(seed_to_pkcs8(seed));
    let prefix = match format {
        KeyFormat::Reference => MULTIBASE_BASE64PAD.to_string(),
        KeyFormat::Pkcs8 => String::new(),
    };
    format!("{PEM_BEGIN}\n{prefix}{base64}\n{PEM_END}\n")
}

/// The ed25519 seed in keyfile text, in either form.
pub fn seed_from_pem(text: &str) -> Result<[u8; 32], PemError> {
    let body = pem_body(text.strip_prefix('\u{feff}').unwrap_or(text))?;
    let form = KeyFormat::of_body(&body);
    seed_from_body(form, &body).map_err(|problem| PemError::Body { form, problem })
}

/// The body between the BEGIN and END lines, without any whitespace.
fn pem_body(text: &str) -> Result<String, PemError> {
    let Some(begin) = text.find(PEM_BEGIN) else {
        return Err(other_pem(text).unwrap_or(PemError::NoBegin));
    };
    let rest = &text[begin + PEM_BEGIN.len()..];
    let end = rest.find(PEM_END).ok_or(PemError::NoEnd)?;
    let body: String = rest[..end].chars().filter(|c| !c.is_whitespace()).collect();
    if body.is_empty() {
        return Err(PemError::EmptyBody);
    }
    Ok(body)
}

/// Why text with no `PRIVATE KEY` frame is the wrong kind of PEM, if it is.
fn other_pem(text: &str) -> Option<PemError> {
    let label = text.lines().find_map(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")?
            .strip_suffix("-----")
    })?;
    Some(match label {
        "ENCRYPTED PRIVATE KEY" => PemError::Encrypted,
        "OPENSSH PRIVATE KEY" => PemError::OpenSsh,
        // A PEM label is a short name; anything else is not shown.
        _ if label.len() <= 40
            && label
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b' ' || b.is_ascii_digit()) =>
        {
            PemError::OtherLabel(label.to_owned())
        }
        _ => return None,
    })
}

/// The seed in a whitespace-free body written in `form`.
fn seed_from_body(form: KeyFormat, body: &str) -> Result<[u8; 32], BodyError> {
    let base64 = match form {
        KeyFormat::Reference => body
            .strip_prefix(MULTIBASE_BASE64PAD)
            .ok_or_else(|| BodyError::Prefix(body.chars().next().unwrap_or(' ')))?,
        KeyFormat::Pkcs8 => body,
    };
    // Positions count from 1 over the whole body, the prefix included.
    let skipped = body.len() - base64.len();
    // Padded base64 is whole groups of 4; checked first, so that a cut-off
    // body is reported as such rather than as missing padding.
    if base64.len() % 4 != 0 {
        return Err(BodyError::Base64Length { len: base64.len() });
    }
    let der = STANDARD.decode(base64).map_err(|e| match e {
        base64::DecodeError::InvalidByte(offset, byte) => BodyError::Base64Character {
            position: skipped + offset + 1,
            byte,
        },
        base64::DecodeError::InvalidLength(_) => BodyError::Base64Length { len: base64.len() },
        base64::DecodeError::InvalidLastSymbol(offset, _) => BodyError::Base64End {
            position: skipped + offset + 1,
        },
        base64::DecodeError::InvalidPadding => BodyError::Base64Padding,
    })?;
    seed_from_pkcs8(&der)
}

/// The ed25519 seed in PKCS#8 DER bytes.
pub fn seed_from_pkcs8(der: &[u8]) -> Result<[u8; 32], BodyError> {
    if der.len() == 48 && der[..16] == PKCS8_ED25519_PREFIX {
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&der[16..]);
        return Ok(seed);
    }
    let info = PrivateKeyInfo::try_from(der).map_err(|e| BodyError::NotPkcs8 {
        len: der.len(),
        reason: e.to_string(),
    })?;
    if info.algorithm.oid != ALGORITHM_OID {
        return Err(BodyError::NotEd25519 {
            algorithm: algorithm_name(&info.algorithm.oid.to_string()),
        });
    }
    // Other encoders may add the public key (PKCS#8 v2); the general decoder
    // handles that and checks the public key against the seed.
    SigningKey::from_pkcs8_der(der)
        .map(|k| k.to_bytes())
        .map_err(|e| BodyError::BadEd25519 {
            reason: e.to_string(),
        })
}

/// A key algorithm by its OID, named when it is a common one.
fn algorithm_name(oid: &str) -> String {
    let name = match oid {
        "1.2.840.113549.1.1.1" => "RSA ",
        "1.2.840.10045.2.1" => "EC ",
        "1.3.101.110" => "X25519 ",
        "1.3.101.111" => "X448 ",
        "1.3.101.113" => "Ed448 ",
        _ => "",
    };
    format!("{name}(OID {oid})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const ZERO_REFERENCE_BODY: &str =
        "MMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    /// What `openssl pkey -inform DER` writes for the zero seed.
    const ZERO_PKCS8_BODY: &str =
        "MC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

    /// A seed whose base64 is unlike any English, so a leak is easy to spot.
    fn secret_seed() -> [u8; 32] {
        Sha256::digest(b"bgwasm keyfile test seed").into()
    }

    fn framed(body: &str) -> String {
        format!("{PEM_BEGIN}\n{body}\n{PEM_END}\n")
    }

    fn body_of(pem: &str) -> &str {
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.len(), 3, "{pem}");
        assert_eq!(lines[0], PEM_BEGIN);
        assert_eq!(lines[2], PEM_END);
        lines[1]
    }

    #[test]
    fn the_zero_seed_in_both_forms_is_the_fixed_vector() {
        let zero = [0u8; 32];
        assert_eq!(
            seed_to_pem(&zero, KeyFormat::Reference),
            framed(ZERO_REFERENCE_BODY)
        );
        assert_eq!(
            seed_to_pem(&zero, KeyFormat::Pkcs8),
            framed(ZERO_PKCS8_BODY)
        );
        assert_eq!(seed_from_pem(&framed(ZERO_REFERENCE_BODY)), Ok(zero));
        assert_eq!(seed_from_pem(&framed(ZERO_PKCS8_BODY)), Ok(zero));
    }

    #[test]
    fn both_forms_carry_the_48_byte_pkcs8_key() {
        let seed = secret_seed();
        let expected = format!("{PREFIX_HEX}{}", hex::encode(seed));
        assert_eq!(hex::encode(PKCS8_ED25519_PREFIX), PREFIX_HEX);

        let reference = seed_to_pem(&seed, KeyFormat::Reference);
        let body = body_of(&reference);
        assert_eq!(body.len(), 65);
        assert!(body.starts_with("MMC4CAQAwBQYDK2VwBCIEI"), "{body}");
        assert_eq!(hex::encode(STANDARD.decode(&body[1..]).unwrap()), expected);

        let pkcs8 = seed_to_pem(&seed, KeyFormat::Pkcs8);
        let body = body_of(&pkcs8);
        assert_eq!(body.len(), 64);
        assert!(body.starts_with("MC4CAQAwBQYDK2VwBCIEI"), "{body}");
        assert_eq!(hex::encode(STANDARD.decode(body).unwrap()), expected);

        // The same bytes ed25519-dalek's own PKCS#8 v1 encoder makes.
        use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes};
        let v1 = KeypairBytes {
            secret_key: seed,
            public_key: None,
        }
        .to_pkcs8_der()
        .unwrap();
        assert_eq!(hex::encode(v1.as_bytes()), expected);

        for pem in [reference, pkcs8] {
            assert_eq!(seed_from_pem(&pem), Ok(seed));
        }
    }

    #[test]
    fn form_is_told_by_the_body() {
        assert_eq!(
            KeyFormat::of_body(ZERO_REFERENCE_BODY),
            KeyFormat::Reference
        );
        assert_eq!(KeyFormat::of_body(ZERO_PKCS8_BODY), KeyFormat::Pkcs8);
        // A truncated reference body is still read as one.
        assert_eq!(KeyFormat::of_body("MMC4CA"), KeyFormat::Reference);
        // Another multibase prefix on a 65-character body.
        assert_eq!(
            KeyFormat::of_body(&format!("m{ZERO_PKCS8_BODY}")),
            KeyFormat::Reference
        );
        assert_eq!(KeyFormat::of_body("MC4C"), KeyFormat::Pkcs8);
    }

    #[test]
    fn both_forms_read_through_messy_layouts() {
        let seed = secret_seed();
        for format in [KeyFormat::Reference, KeyFormat::Pkcs8] {
            let pem = seed_to_pem(&seed, format);
            let body = body_of(&pem);
            let crlf = pem.replace('\n', "\r\n");
            let wrapped = format!(
                "\u{feff}Bag Attributes: none\n  {PEM_BEGIN}  \n{}\n {}\n\t{}\n{PEM_END}",
                &body[..20],
                &body[20..50],
                &body[50..]
            );
            let one_line = format!("{PEM_BEGIN}{body}{PEM_END}");
            let per_char: String = body.chars().map(|c| format!("{c}\n")).collect();
            let per_char = format!("{PEM_BEGIN}\n{per_char}{PEM_END}\n");
            for text in [pem.clone(), crlf, wrapped, one_line, per_char] {
                assert_eq!(seed_from_pem(&text), Ok(seed), "{format:?}: {text:?}");
            }
        }
    }

    #[test]
    fn accepts_pkcs8_v2_with_matching_public_key_in_both_forms() {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let seed = secret_seed();
        let der = SigningKey::from_bytes(&seed).to_pkcs8_der().unwrap();
        assert!(
            der.as_bytes().len() > 48,
            "expected the v2 form with the public key"
        );
        assert_eq!(seed_from_pkcs8(der.as_bytes()), Ok(seed));
        let base64 = STANDARD.encode(der.as_bytes());
        assert_eq!(seed_from_pem(&framed(&base64)), Ok(seed));
        assert_eq!(seed_from_pem(&framed(&format!("M{base64}"))), Ok(seed));

        // The public key of another seed is refused.
        let mut mismatched = der.as_bytes().to_vec();
        let last = mismatched.len() - 1;
        mismatched[last] ^= 1;
        assert!(matches!(
            seed_from_pkcs8(&mismatched),
            Err(BodyError::BadEd25519 { .. })
        ));
    }

    #[test]
    fn refuses_what_is_not_an_ed25519_pem() {
        assert_eq!(seed_from_pem("hello"), Err(PemError::NoBegin));
        assert_eq!(
            seed_from_pem(&format!("{PEM_BEGIN}\nMC4C\n")),
            Err(PemError::NoEnd)
        );
        assert_eq!(
            seed_from_pem(&format!("{PEM_BEGIN}\n \n{PEM_END}")),
            Err(PemError::EmptyBody)
        );
        assert_eq!(
            seed_from_pem(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nabc\n-----END ENCRYPTED PRIVATE KEY-----"
            ),
            Err(PemError::Encrypted)
        );
        assert_eq!(
            seed_from_pem(
                "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"
            ),
            Err(PemError::OpenSsh)
        );
        assert_eq!(
            seed_from_pem("-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----"),
            Err(PemError::OtherLabel("RSA PRIVATE KEY".into()))
        );
    }

    /// The error for `body`, which must be in `form`.
    fn body_error(body: &str, form: KeyFormat) -> BodyError {
        match seed_from_pem(&framed(body)) {
            Err(PemError::Body {
                form: found,
                problem,
            }) => {
                assert_eq!(found, form, "{body}");
                problem
            }
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn bad_bodies_say_which_form_and_what_is_wrong() {
        let seed = secret_seed();
        let reference = seed_to_pem(&seed, KeyFormat::Reference);
        let reference = body_of(&reference);
        let pkcs8 = &reference[1..];

        // Prefix: another multibase code on the reference form.
        assert_eq!(
            body_error(&format!("m{pkcs8}"), KeyFormat::Reference),
            BodyError::Prefix('m')
        );
        // Length: cut short, in either form.
        assert_eq!(
            body_error(&reference[..63], KeyFormat::Reference),
            BodyError::Base64Length { len: 62 }
        );
        assert!(matches!(
            body_error(&pkcs8[..60], KeyFormat::Pkcs8),
            BodyError::NotPkcs8 { len: 45, .. }
        ));
        // Bad base64: a character outside the alphabet, counted in the body.
        let mut dashed = reference.to_owned();
        dashed.replace_range(30..31, "-");
        assert_eq!(
            body_error(&dashed, KeyFormat::Reference),
            BodyError::Base64Character {
                position: 31,
                byte: b'-'
            }
        );
        assert_eq!(
            body_error(&dashed[1..], KeyFormat::Pkcs8),
            BodyError::Base64Character {
                position: 30,
                byte: b'-'
            }
        );
        assert_eq!(
            body_error("MC4CAQ==AAAA", KeyFormat::Pkcs8),
            BodyError::Base64Character {
                position: 7,
                byte: b'='
            }
        );
        // Not Ed25519: the same layout with the X25519 OID.
        let mut x25519 = seed_to_pkcs8(&seed);
        x25519[11] = 0x6e;
        let x25519 = STANDARD.encode(x25519);
        for (body, form) in [
            (x25519.clone(), KeyFormat::Pkcs8),
            (format!("M{x25519}"), KeyFormat::Reference),
        ] {
            assert_eq!(
                body_error(&body, form),
                BodyError::NotEd25519 {
                    algorithm: "X25519 (OID 1.3.101.110)".into()
                }
            );
        }
    }

    /// The base64 of the first 47 bytes of the PKCS#8 key, its last symbol
    /// changed to set bits that padding leaves unused.
    fn non_canonical_end(seed: &[u8; 32]) -> String {
        let mut body = STANDARD.encode(&seed_to_pkcs8(seed)[..47]);
        assert!(body.ends_with('='), "{body}");
        body.replace_range(62..63, "/");
        body
    }

    #[test]
    fn a_non_canonical_end_is_named() {
        let body = non_canonical_end(&secret_seed());
        assert_eq!(
            body_error(&body, KeyFormat::Pkcs8),
            BodyError::Base64End { position: 63 }
        );
    }

    #[test]
    fn the_issue_8_error_is_gone() {
        // Reading a reference keyfile as plain base64 used to fail with
        // "not standard base64: Invalid input length: 65".
        assert_eq!(ZERO_REFERENCE_BODY.len(), 65);
        assert!(seed_from_pem(&framed(ZERO_REFERENCE_BODY)).is_ok());
    }

    #[test]
    fn errors_never_show_key_material() {
        let seed = secret_seed();
        let reference = seed_to_pem(&seed, KeyFormat::Reference);
        let reference = body_of(&reference).to_owned();
        let pkcs8 = reference[1..].to_owned();
        let mut dashed = reference.clone();
        dashed.replace_range(40..41, "-");
        let non_canonical_end = non_canonical_end(&seed);
        let mut x25519 = seed_to_pkcs8(&seed);
        x25519[11] = 0x6e;
        let bad_bodies = [
            format!("m{pkcs8}"),
            format!("z{pkcs8}"),
            reference[..50].to_owned(),
            pkcs8[..60].to_owned(),
            pkcs8[..61].to_owned(),
            dashed.clone(),
            dashed[1..].to_owned(),
            non_canonical_end,
            format!("{pkcs8}AAAA"),
            STANDARD.encode(x25519),
            STANDARD.encode(seed),
        ];
        // Every stretch of 5 characters that carries seed bits (the base64 of
        // bytes 16.. starts at character 21 of the PKCS#8 body).
        let seed_hex = hex::encode(seed);
        let mut secrets: Vec<String> = vec![seed_hex.clone()];
        for text in [&pkcs8, &STANDARD.encode(seed)] {
            let start = if text == &pkcs8 { 21 } else { 0 };
            secrets.extend((start..text.len() - 5).map(|i| text[i..i + 5].to_owned()));
        }
        secrets.extend((0..seed_hex.len() - 8).map(|i| seed_hex[i..i + 8].to_owned()));
        for body in &bad_bodies {
            let err = seed_from_pem(&framed(body)).expect_err(body);
            let message = err.to_string();
            for secret in &secrets {
                assert!(
                    !message.contains(secret.as_str()),
                    "the error for {body} shows {secret}: {message}"
                );
            }
            let debug = format!("{err:?}");
            assert!(!debug.contains(&seed_hex), "{debug}");
        }
    }

    #[test]
    fn messages_read_well() {
        let message = |body: &str| seed_from_pem(&framed(body)).unwrap_err().to_string();
        let m = message(&format!("m{ZERO_PKCS8_BODY}"));
        assert!(m.contains("the reference form"), "{m}");
        assert!(
            m.contains("starts with 'm' (multibase base64 without padding)"),
            "{m}"
        );
        let m = message(&ZERO_PKCS8_BODY[..60]);
        assert!(m.contains("standard PKCS#8 PEM"), "{m}");
        assert!(m.contains("decodes to 45 bytes"), "{m}");
        assert!(m.contains(PREFIX_HEX), "{m}");
        let m = message(&ZERO_REFERENCE_BODY[..63]);
        assert!(m.contains("62 characters long"), "{m}");
        let m = message("MC4C\u{e9}AA");
        assert!(m.contains("character 5 is the non-ASCII byte 0xc3"), "{m}");
    }
}
