//! Request signing: how a caller proves it holds a space's key (or the
//! operator's) on every call that touches a space.
//!
//! ## The `Bgwasm` request signature
//!
//! Each signed request carries `Authorization: Bgwasm <token>`, where
//! `<token>` is `base64url(claims) "." base64url(signature)` (URL-safe
//! alphabet, no padding), and the signature is the ed25519 signature, by the
//! key of `iss`, over the exact claims bytes (no canonicalisation: the
//! verifier checks the bytes it received). The claims are a JSON object with
//! exactly these fields (any other field is refused):
//!
//! | claim | meaning |
//! |---|---|
//! | `iss` | signer's `did:key` (a space's or the operator's) |
//! | `aud` | the daemon's `did:key`, so a token cannot be used on another daemon |
//! | `method` | HTTP method, uppercase |
//! | `path` | path and query exactly as sent, e.g. `/api/spaces/did:key:z6Mk.../cells?x=1` |
//! | `body` | lowercase hex SHA-256 of the body bytes (of the empty string if none) |
//! | `iat`, `exp` | issue and expiry time, unix seconds; `0 < exp - iat <= 300` |
//! | `nonce` | at least 16 random bytes, hex or base64url; single use |
//!
//! A token is accepted while `iat - 30 <= now < exp + 30` (30 s of clock
//! skew) and only once: the daemon remembers nonces until the token expires.
//! Calls on a space must be signed by that space's key (checked against the
//! space DID itself, no key registry) or by the operator key; calls that span
//! all spaces only by the operator. Refusals: no header → 401; malformed,
//! forged, expired, replayed, or bound to another audience/method/path/body
//! → 401 saying which; validly signed by another key → 403. `bgwasm` signs
//! every call itself when given `--identity FILE` or `--space NAME`.

mod replay;

use std::fmt;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::identity::{Did, Identity};
use replay::{Recorded, ReplayCache};

/// The `Authorization` scheme name (and the `WWW-Authenticate` challenge).
pub const SCHEME: &str = "Bgwasm";

/// Longest lifetime (`exp - iat`) a token may claim, in seconds.
pub const MAX_LIFETIME_SECS: u64 = 300;

/// Lifetime [`sign_request`] gives its tokens: long enough for a slow
/// upload to arrive, short enough to keep the replay cache small.
pub const DEFAULT_LIFETIME_SECS: u64 = 120;

/// Clock difference tolerated between signer and daemon, in seconds.
pub const DEFAULT_SKEW_SECS: u64 = 30;

/// Live nonces remembered before new tokens are refused with 503: at the
/// default lifetime, room for about 600 signed requests a second.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// Random bytes in the nonces [`sign_request`] makes, and the least accepted.
pub const MIN_NONCE_BYTES: usize = 16;

/// Caps on untrusted input, checked before decoding anything.
const MAX_HEADER_BYTES: usize = 16 * 1024;
const MAX_NONCE_CHARS: usize = 128;
const MAX_METHOD_CHARS: usize = 32;
/// Longest signed or actual value echoed back in a mismatch message.
const MAX_ECHO_CHARS: usize = 200;

/// The signed content of a token. Field order is the serialisation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub iss: Did,
    pub aud: Did,
    pub method: String,
    pub path: String,
    pub body: String,
    pub iat: u64,
    pub exp: u64,
    pub nonce: String,
}

impl Claims {
    /// Claims for one request by `issuer`, valid for
    /// [`DEFAULT_LIFETIME_SECS`] from `now_unix`, with a fresh random nonce.
    pub fn for_request(
        issuer: Did,
        audience: &Did,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now_unix: u64,
    ) -> Claims {
        let nonce: [u8; MIN_NONCE_BYTES] = rand::random();
        Claims {
            iss: issuer,
            aud: *audience,
            method: method.to_ascii_uppercase(),
            path: path_and_query.to_owned(),
            body: body_hash(body),
            iat: now_unix,
            exp: now_unix + DEFAULT_LIFETIME_SECS,
            nonce: hex::encode(nonce),
        }
    }
}

/// The `body` claim for a request body: lowercase hex SHA-256.
pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The current time in unix seconds, as `sign_request` and `verify` expect.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signs a request; returns the whole `Authorization` header value,
/// `Bgwasm <token>`.
///
/// `path_and_query` must be exactly what goes on the request line (after
/// any percent-encoding), and `body` exactly the bytes sent.
pub fn sign_request(
    identity: &Identity,
    audience: &Did,
    method: &str,
    path_and_query: &str,
    body: &[u8],
    now_unix: u64,
) -> String {
    let claims = Claims::for_request(
        identity.did(),
        audience,
        method,
        path_and_query,
        body,
        now_unix,
    );
    encode_token(identity, &claims)
}

/// Signs arbitrary claims; returns the `Authorization` header value.
///
/// For tests and special clients: nothing is checked, so claims whose `iss`
/// is not `identity`'s DID make a token the verifier refuses as forged.
pub fn encode_token(identity: &Identity, claims: &Claims) -> String {
    let json = serde_json::to_vec(claims).expect("claims always serialise");
    let sig = identity.sign(&json);
    format!(
        "{SCHEME} {}.{}",
        URL_SAFE_NO_PAD.encode(&json),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

/// Who a verified request acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// Signed by the key of the space it acts on (that space's DID).
    SpaceKey(Did),
    /// Signed by the daemon's operator key.
    Operator,
}

/// A request-bound claim that does not match the request it came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Audience,
    Method,
    Path,
    Body,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bound::Audience => "audience",
            Bound::Method => "method",
            Bound::Path => "path",
            Bound::Body => "body",
        })
    }
}

/// Why a request's signature was refused. [`AuthError::status`] gives the
/// HTTP status; the message says what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error(
        "this call must be signed: send \"Authorization: {SCHEME} <token>\" signed with the \
         space's key or the operator key; bgwasm signs for you when given --identity or --space"
    )]
    Missing,
    #[error(
        "the Authorization header is not a valid {SCHEME} token: {0}; \
         sign the request with bgwasm (--identity or --space) or follow the scheme in the README"
    )]
    Malformed(String),
    #[error(
        "forged token: its signature does not match its claims and the key of its iss; \
         the token was altered, or signed by a different key than its iss claims. \
         Sign the exact claims with the key of the iss DID"
    )]
    Forged,
    #[error("{}", mismatch_message(*.which, .signed, .actual))]
    Mismatch {
        which: Bound,
        signed: String,
        actual: String,
    },
    #[error("{}", expired_message(*.iat, *.exp, *.now))]
    Expired { iat: u64, exp: u64, now: u64 },
    #[error(
        "replayed token: this token (nonce {nonce}) was already used; every request needs a \
         fresh token with a new nonce, so sign again instead of resending the same header"
    )]
    Replayed { nonce: String },
    #[error(
        "forbidden: the request is signed by {signer}, which is neither space {space} nor the \
         operator. Sign the request with the space's key: bgwasm signs for you when given \
         --identity or --space"
    )]
    WrongSpace { signer: Did, space: Did },
    #[error(
        "forbidden: this call spans all spaces and only the operator may make it, but it is \
         signed by {signer}; sign it with the operator key (bgwasm --identity OPERATOR_KEYFILE)"
    )]
    OperatorOnly { signer: Did },
    #[error(
        "the daemon is tracking {0} live request nonces, its limit, so it cannot accept new \
         signed requests right now; retry in a few seconds"
    )]
    Busy(usize),
}

impl AuthError {
    /// The HTTP status: 403 for a valid signature by a key that has no
    /// right here, 503 when the replay cache is full, 401 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::WrongSpace { .. } | AuthError::OperatorOnly { .. } => 403,
            AuthError::Busy(_) => 503,
            _ => 401,
        }
    }

    /// A short stable word for the problem, for JSON error bodies and logs.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed(_) => "malformed",
            AuthError::Forged => "forged",
            AuthError::Mismatch { .. } => "mismatch",
            AuthError::Expired { .. } => "expired",
            AuthError::Replayed { .. } => "replayed",
            AuthError::WrongSpace { .. } => "wrong_space",
            AuthError::OperatorOnly { .. } => "operator_only",
            AuthError::Busy(_) => "busy",
        }
    }
}

fn mismatch_message(which: Bound, signed: &str, actual: &str) -> String {
    let (signed, actual) = (echo(signed), echo(actual));
    match which {
        Bound::Audience => format!(
            "token mismatch: it was signed for daemon {signed}, but this daemon is {actual}; \
             sign for this daemon's DID"
        ),
        Bound::Method => format!(
            "token mismatch: it was signed for method {signed}, but the request is {actual}; \
             sign each request separately"
        ),
        Bound::Path => format!(
            "token mismatch: it was signed for path {signed:?}, but the request went to \
             {actual:?}; sign the path and query exactly as sent (a proxy that rewrites \
             paths breaks this)"
        ),
        Bound::Body => format!(
            "token mismatch: it signs a body with SHA-256 {signed}, but the body received has \
             SHA-256 {actual}; sign the exact bytes sent (a client or proxy that re-encodes \
             the body breaks this)"
        ),
    }
}

fn expired_message(iat: u64, exp: u64, now: u64) -> String {
    if now < iat {
        format!(
            "token not yet valid: it was issued at {iat} (unix seconds) but it is {now} here, \
             more than the allowed clock skew; check the signer's clock"
        )
    } else {
        format!(
            "expired token: it expired at {exp} (unix seconds) and it is {now} here; sign a \
             fresh token for each request, and check the signer's clock"
        )
    }
}

fn echo(s: &str) -> String {
    if s.chars().count() <= MAX_ECHO_CHARS {
        s.to_owned()
    } else {
        let mut cut: String = s.chars().take(MAX_ECHO_CHARS).collect();
        cut.push('…');
        cut
    }
}

/// Checks signed requests for one daemon. Cheap to share: put it in an
/// `Arc`; it is `Send + Sync` and locks only around the replay cache.
#[derive(Debug)]
pub struct Verifier {
    audience: Did,
    operator: Did,
    skew_secs: u64,
    replay: Mutex<ReplayCache>,
}

impl Verifier {
    /// A verifier for the daemon `audience` whose operator is `operator`,
    /// with [`DEFAULT_SKEW_SECS`] and [`DEFAULT_REPLAY_CAPACITY`].
    pub fn new(audience: Did, operator: Did) -> Verifier {
        Verifier {
            audience,
            operator,
            skew_secs: DEFAULT_SKEW_SECS,
            replay: Mutex::new(ReplayCache::new(DEFAULT_REPLAY_CAPACITY)),
        }
    }

    /// Sets the clock skew allowance in seconds.
    pub fn with_skew_secs(mut self, skew_secs: u64) -> Verifier {
        self.skew_secs = skew_secs;
        self
    }

    /// Sets how many live nonces are remembered before refusing (503).
    pub fn with_replay_capacity(self, capacity: usize) -> Verifier {
        self.cache().set_capacity(capacity);
        self
    }

    /// The daemon's DID, which tokens must name as `aud`.
    pub fn audience(&self) -> &Did {
        &self.audience
    }

    /// The operator's DID.
    pub fn operator(&self) -> &Did {
        &self.operator
    }

    /// Checks the `Authorization` header of a request.
    ///
    /// `path_and_query` is the request target as received, `body` the exact
    /// body bytes, and `space` the space the call acts on, or `None` for a
    /// call over all spaces (only the operator may make those). A token is
    /// consumed (its nonce remembered) only when it is accepted.
    pub fn verify(
        &self,
        header: Option<&str>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        space: Option<&Did>,
        now_unix: u64,
    ) -> Result<Authority, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let (claims_bytes, signature) = split_token(header)?;
        let claims: Claims = serde_json::from_slice(&claims_bytes)
            .map_err(|e| AuthError::Malformed(format!("the claims are not valid: {e}")))?;
        // The signature comes before any judgement of the claims' content,
        // so that an altered token is reported as forged, not as whatever
        // the alteration happened to break.
        claims
            .iss
            .verify(&claims_bytes, &signature)
            .map_err(|_| AuthError::Forged)?;
        check_claim_forms(&claims)?;

        let bindings = [
            (
                Bound::Audience,
                claims.aud.to_string(),
                self.audience.to_string(),
            ),
            (
                Bound::Method,
                claims.method.clone(),
                method.to_ascii_uppercase(),
            ),
            (Bound::Path, claims.path.clone(), path_and_query.to_owned()),
            (Bound::Body, claims.body.clone(), body_hash(body)),
        ];
        for (which, signed, actual) in bindings {
            if signed != actual {
                return Err(AuthError::Mismatch {
                    which,
                    signed,
                    actual,
                });
            }
        }

        let valid_from = claims.iat.saturating_sub(self.skew_secs);
        let valid_until = claims.exp.saturating_add(self.skew_secs);
        if now_unix < valid_from || now_unix >= valid_until {
            return Err(AuthError::Expired {
                iat: claims.iat,
                exp: claims.exp,
                now: now_unix,
            });
        }

        let authority = match space {
            Some(space) if claims.iss == *space => Authority::SpaceKey(*space),
            _ if claims.iss == self.operator => Authority::Operator,
            Some(space) => {
                return Err(AuthError::WrongSpace {
                    signer: claims.iss,
                    space: *space,
                });
            }
            None => return Err(AuthError::OperatorOnly { signer: claims.iss }),
        };

        // Last, so that only accepted tokens take room in the cache.
        let mut cache = self.cache();
        match cache.record(&claims.nonce, valid_until, now_unix) {
            Recorded::New => Ok(authority),
            Recorded::Replayed => Err(AuthError::Replayed {
                nonce: claims.nonce,
            }),
            Recorded::Full => {
                let live = cache.len();
                drop(cache);
                tracing::warn!(
                    live,
                    "replay cache full; refusing signed requests until nonces expire"
                );
                Err(AuthError::Busy(live))
            }
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, ReplayCache> {
        // A panic while holding the lock cannot leave the cache half-updated
        // in a way that matters (at worst one nonce is in one index only), so
        // keep serving rather than failing every request from then on.
        self.replay
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Splits `Bgwasm <claims>.<signature>` into the claims bytes and signature.
fn split_token(header: &str) -> Result<(Vec<u8>, [u8; 64]), AuthError> {
    let malformed = |detail: &str| AuthError::Malformed(detail.to_owned());
    if header.len() > MAX_HEADER_BYTES {
        return Err(AuthError::Malformed(format!(
            "it is {} bytes, more than the {MAX_HEADER_BYTES} allowed",
            header.len()
        )));
    }
    let header = header.trim();
    let (scheme, token) = header
        .split_once(|c: char| c.is_ascii_whitespace())
        .ok_or_else(|| malformed("expected \"Bgwasm <claims>.<signature>\""))?;
    // Auth scheme names are case-insensitive (RFC 9110).
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return Err(AuthError::Malformed(format!(
            "the scheme is {:?}, expected {SCHEME:?}",
            echo(scheme)
        )));
    }
    let (claims_b64, sig_b64) = token
        .trim_start()
        .split_once('.')
        .ok_or_else(|| malformed("the token has no '.' between claims and signature"))?;
    let claims = URL_SAFE_NO_PAD
        .decode(claims_b64)
        .map_err(|e| AuthError::Malformed(format!("the claims are not unpadded base64url: {e}")))?;
    let sig = URL_SAFE_NO_PAD.decode(sig_b64).map_err(|e| {
        AuthError::Malformed(format!("the signature is not unpadded base64url: {e}"))
    })?;
    let sig: [u8; 64] = sig.try_into().map_err(|s: Vec<u8>| {
        AuthError::Malformed(format!("the signature is {} bytes, expected 64", s.len()))
    })?;
    Ok((claims, sig))
}

/// Checks the shape of claims that are not compared against the request.
fn check_claim_forms(claims: &Claims) -> Result<(), AuthError> {
    let malformed = |detail: String| Err(AuthError::Malformed(detail));
    if claims.exp <= claims.iat {
        return malformed(format!(
            "exp ({}) must be after iat ({})",
            claims.exp, claims.iat
        ));
    }
    let lifetime = claims.exp - claims.iat;
    if lifetime > MAX_LIFETIME_SECS {
        return malformed(format!(
            "the token lives {lifetime} s (exp - iat), more than the {MAX_LIFETIME_SECS} s allowed"
        ));
    }
    let method = &claims.method;
    if method.is_empty()
        || method.len() > MAX_METHOD_CHARS
        || *method != method.to_ascii_uppercase()
    {
        return malformed(format!(
            "method {:?} must be an uppercase HTTP method like \"POST\"",
            echo(method)
        ));
    }
    let body = &claims.body;
    if body.len() != 64 || !body.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return malformed(format!(
            "body {:?} must be the lowercase hex SHA-256 of the body (64 characters)",
            echo(body)
        ));
    }
    let nonce_bytes = decode_nonce(&claims.nonce);
    if nonce_bytes < MIN_NONCE_BYTES {
        return malformed(format!(
            "nonce {:?} must be at least {MIN_NONCE_BYTES} random bytes in hex or base64url \
             (at most {MAX_NONCE_CHARS} characters)",
            echo(&claims.nonce)
        ));
    }
    Ok(())
}

/// How many bytes a nonce encodes, or 0 if it is not a nonce we accept.
fn decode_nonce(nonce: &str) -> usize {
    if nonce.len() > MAX_NONCE_CHARS {
        return 0;
    }
    if let Ok(bytes) = hex::decode(nonce) {
        return bytes.len();
    }
    URL_SAFE_NO_PAD.decode(nonce).map_or(0, |b| b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000;
    const SPACE_BODY: &[u8] = br#"{"source":"export default 1"}"#;
    const PATH: &str = "/api/spaces/x/pieces?run=1";

    struct World {
        daemon: Identity,
        operator: Identity,
        space: Identity,
        other_space: Identity,
        verifier: Verifier,
    }

    fn world() -> World {
        let daemon = Identity::from_passphrase("daemon");
        let operator = Identity::from_passphrase("operator");
        let verifier = Verifier::new(daemon.did(), operator.did());
        World {
            daemon,
            operator,
            space: Identity::from_passphrase("common user").derive("space"),
            other_space: Identity::from_passphrase("common user").derive("other"),
            verifier,
        }
    }

    impl World {
        fn sign(&self, who: &Identity) -> String {
            sign_request(who, &self.daemon.did(), "post", PATH, SPACE_BODY, NOW)
        }

        fn verify(&self, header: &str) -> Result<Authority, AuthError> {
            self.verify_at(header, NOW)
        }

        fn verify_at(&self, header: &str, now: u64) -> Result<Authority, AuthError> {
            let space = self.space.did();
            self.verifier
                .verify(Some(header), "POST", PATH, SPACE_BODY, Some(&space), now)
        }

        fn sign_claims(&self, who: &Identity, edit: impl FnOnce(&mut Claims)) -> String {
            let mut claims =
                Claims::for_request(who.did(), &self.daemon.did(), "POST", PATH, SPACE_BODY, NOW);
            edit(&mut claims);
            encode_token(who, &claims)
        }
    }

    /// Re-signs raw claims JSON, to test what serde would refuse.
    fn token_from_json(who: &Identity, json: &str) -> String {
        let sig = who.sign(json.as_bytes());
        format!(
            "Bgwasm {}.{}",
            URL_SAFE_NO_PAD.encode(json),
            URL_SAFE_NO_PAD.encode(sig)
        )
    }

    fn assert_malformed(result: Result<Authority, AuthError>, needle: &str) {
        match result {
            Err(err @ AuthError::Malformed(_)) => {
                assert!(err.to_string().contains(needle), "{err}");
                assert_eq!(err.status(), 401);
            }
            other => panic!("expected Malformed containing {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn verifier_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Verifier>();
    }

    #[test]
    fn accepts_the_space_key() {
        let w = world();
        let header = w.sign(&w.space);
        assert!(header.starts_with("Bgwasm "));
        assert_eq!(w.verify(&header), Ok(Authority::SpaceKey(w.space.did())));
    }

    #[test]
    fn accepts_the_operator_on_any_space_and_on_global_calls() {
        let w = world();
        assert_eq!(w.verify(&w.sign(&w.operator)), Ok(Authority::Operator));
        let header = sign_request(&w.operator, &w.daemon.did(), "GET", "/api/spaces", b"", NOW);
        let result = w
            .verifier
            .verify(Some(&header), "GET", "/api/spaces", b"", None, NOW);
        assert_eq!(result, Ok(Authority::Operator));
    }

    #[test]
    fn refuses_a_space_key_on_global_calls() {
        let w = world();
        let header = sign_request(&w.space, &w.daemon.did(), "GET", "/api/spaces", b"", NOW);
        let err = w
            .verifier
            .verify(Some(&header), "GET", "/api/spaces", b"", None, NOW)
            .unwrap_err();
        assert_eq!(
            err,
            AuthError::OperatorOnly {
                signer: w.space.did()
            }
        );
        assert_eq!(err.status(), 403);
        assert!(err.to_string().contains("operator key"), "{err}");
    }

    #[test]
    fn refuses_another_spaces_key_with_403() {
        let w = world();
        let err = w.verify(&w.sign(&w.other_space)).unwrap_err();
        assert_eq!(
            err,
            AuthError::WrongSpace {
                signer: w.other_space.did(),
                space: w.space.did()
            }
        );
        assert_eq!(err.status(), 403);
        let msg = err.to_string();
        assert!(msg.contains("--identity or --space"), "{msg}");
        assert!(msg.contains(&w.space.did().to_string()), "{msg}");
        // Refused tokens are not consumed: the nonce cache stays empty.
        assert_eq!(w.verifier.cache().len(), 0);
    }

    #[test]
    fn missing_header_is_401() {
        let w = world();
        let err = w
            .verifier
            .verify(None, "POST", PATH, SPACE_BODY, Some(&w.space.did()), NOW)
            .unwrap_err();
        assert_eq!(err, AuthError::Missing);
        assert_eq!(err.status(), 401);
        assert_eq!(err.code(), "missing");
        assert!(err.to_string().contains("bgwasm signs for you"), "{err}");
    }

    #[test]
    fn malformed_headers() {
        let w = world();
        let good = w.sign(&w.space);
        let token = good.strip_prefix("Bgwasm ").unwrap();
        let (claims_b64, sig_b64) = token.split_once('.').unwrap();
        assert_malformed(w.verify(""), "expected \"Bgwasm");
        assert_malformed(w.verify("Bgwasm"), "expected \"Bgwasm");
        assert_malformed(w.verify(&format!("Bearer {token}")), "scheme is \"Bearer\"");
        assert_malformed(w.verify(&format!("Bgwasm {claims_b64}")), "no '.'");
        assert_malformed(
            w.verify(&format!("Bgwasm {claims_b64}=.{sig_b64}")),
            "claims are not",
        );
        assert_malformed(
            w.verify(&format!("Bgwasm {claims_b64}.{sig_b64}==")),
            "signature is not",
        );
        assert_malformed(
            w.verify(&format!("Bgwasm {claims_b64}.AAAA")),
            "expected 64",
        );
        assert_malformed(w.verify(&format!("Bgwasm e30.{sig_b64}")), "missing field");
        assert_malformed(
            w.verify(&format!("Bgwasm bm90IGpzb24.{sig_b64}")),
            "claims are not valid",
        );
        assert_malformed(
            w.verify(&"a".repeat(MAX_HEADER_BYTES + 1)),
            "bytes, more than",
        );

        // Scheme case and extra spaces do not matter.
        assert!(w.verify(&format!("bgWASM   {token}")).is_ok());
    }

    #[test]
    fn unknown_or_invalid_claims_are_malformed() {
        let w = world();
        let c = Claims::for_request(
            w.space.did(),
            &w.daemon.did(),
            "POST",
            PATH,
            SPACE_BODY,
            NOW,
        );
        let mut value = serde_json::to_value(&c).unwrap();
        value["admin"] = serde_json::Value::Bool(true);
        let extra = token_from_json(&w.space, &value.to_string());
        assert_malformed(w.verify(&extra), "unknown field `admin`");

        let mut value = serde_json::to_value(&c).unwrap();
        value["iss"] = "did:key:zX".into();
        let bad_iss = token_from_json(&w.space, &value.to_string());
        assert_malformed(w.verify(&bad_iss), "invalid DID \"did:key:zX\"");

        let json = serde_json::to_string(&c).unwrap();
        let dup = json.replacen('{', &format!("{{\"nonce\":\"{}\",", c.nonce), 1);
        assert_malformed(
            w.verify(&token_from_json(&w.space, &dup)),
            "duplicate field",
        );

        let lower = w.sign_claims(&w.space, |c| c.method = "post".into());
        assert_malformed(w.verify(&lower), "uppercase");
        let body = w.sign_claims(&w.space, |c| c.body = c.body.to_uppercase());
        assert_malformed(w.verify(&body), "lowercase hex SHA-256");
        let short = w.sign_claims(&w.space, |c| c.nonce = "00ff".into());
        assert_malformed(w.verify(&short), "at least 16");
        let b64 = w.sign_claims(&w.space, |c| c.nonce = URL_SAFE_NO_PAD.encode([7u8; 16]));
        assert!(w.verify(&b64).is_ok(), "base64url nonces are fine");
    }

    #[test]
    fn lifetime_too_long_or_empty_is_malformed() {
        let w = world();
        let long = w.sign_claims(&w.space, |c| c.exp = c.iat + MAX_LIFETIME_SECS + 1);
        assert_malformed(w.verify(&long), "more than the 300 s");
        let max = w.sign_claims(&w.space, |c| c.exp = c.iat + MAX_LIFETIME_SECS);
        assert!(w.verify(&max).is_ok());
        let empty = w.sign_claims(&w.space, |c| c.exp = c.iat);
        assert_malformed(w.verify(&empty), "must be after iat");
    }

    #[test]
    fn tampered_claims_are_forged() {
        let w = world();
        let good = w.sign(&w.space);
        let (claims_b64, sig_b64) = good
            .strip_prefix("Bgwasm ")
            .unwrap()
            .split_once('.')
            .unwrap();
        let mut claims: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims_b64).unwrap()).unwrap();
        claims.path = "/api/spaces/x/pieces?run=2".into();
        let tampered = format!(
            "Bgwasm {}.{sig_b64}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
        );
        // Forged, not a path mismatch: the signature is checked first.
        let err = w.verify(&tampered).unwrap_err();
        assert_eq!(err, AuthError::Forged);
        assert_eq!(err.status(), 401);
        assert!(err.to_string().starts_with("forged token"), "{err}");

        let mut sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
        sig[0] ^= 1;
        let flipped = format!("Bgwasm {claims_b64}.{}", URL_SAFE_NO_PAD.encode(sig));
        assert_eq!(w.verify(&flipped), Err(AuthError::Forged));
    }

    #[test]
    fn signing_as_someone_else_is_forged() {
        let w = world();
        // Claims the space's DID, signed with another key.
        let header = w.sign_claims(&w.other_space, |c| c.iss = w.space.did());
        assert_eq!(w.verify(&header), Err(AuthError::Forged));
        let as_operator = w.sign_claims(&w.space, |c| c.iss = w.operator.did());
        assert_eq!(w.verify(&as_operator), Err(AuthError::Forged));
    }

    #[test]
    fn expired_tokens() {
        let w = world();
        let header = w.sign(&w.space);
        let skew = DEFAULT_SKEW_SECS;
        let end = NOW + DEFAULT_LIFETIME_SECS + skew;
        let err = w.verify_at(&header, end).unwrap_err();
        assert_eq!(
            err,
            AuthError::Expired {
                iat: NOW,
                exp: NOW + DEFAULT_LIFETIME_SECS,
                now: end
            }
        );
        assert_eq!(err.status(), 401);
        assert!(err.to_string().starts_with("expired token"), "{err}");
        assert!(w.verify_at(&header, end - 1).is_ok(), "skew extends exp");
    }

    #[test]
    fn future_tokens_beyond_skew() {
        let w = world();
        let header = w.sign(&w.space);
        let err = w
            .verify_at(&header, NOW - DEFAULT_SKEW_SECS - 1)
            .unwrap_err();
        assert!(matches!(err, AuthError::Expired { .. }), "{err:?}");
        assert!(err.to_string().contains("not yet valid"), "{err}");
        assert!(
            w.verify_at(&header, NOW - DEFAULT_SKEW_SECS).is_ok(),
            "within skew"
        );
    }

    #[test]
    fn replayed_tokens() {
        let w = world();
        let header = w.sign(&w.space);
        assert!(w.verify(&header).is_ok());
        let err = w.verify_at(&header, NOW + 5).unwrap_err();
        assert!(matches!(err, AuthError::Replayed { .. }), "{err:?}");
        assert_eq!(err.status(), 401);
        assert!(err.to_string().starts_with("replayed token"), "{err}");
        // After expiry the nonce is forgotten, and the token is refused as
        // expired instead.
        let later = NOW + DEFAULT_LIFETIME_SECS + DEFAULT_SKEW_SECS;
        assert!(matches!(
            w.verify_at(&header, later),
            Err(AuthError::Expired { .. })
        ));
        // A second token by the same key is fine.
        assert!(w.verify(&w.sign(&w.space)).is_ok());
    }

    #[test]
    fn bound_claims_must_match_the_request() {
        let w = world();
        let space = w.space.did();
        let v = &w.verifier;

        let header = w.sign(&w.space);
        let err = v
            .verify(Some(&header), "POST", PATH, b"{}", Some(&space), NOW)
            .unwrap_err();
        assert!(
            matches!(
                err,
                AuthError::Mismatch {
                    which: Bound::Body,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("sign the exact bytes sent"),
            "{err}"
        );

        let err = v
            .verify(
                Some(&header),
                "POST",
                "/api/spaces/x/pieces",
                SPACE_BODY,
                Some(&space),
                NOW,
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                AuthError::Mismatch {
                    which: Bound::Path,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("\"/api/spaces/x/pieces?run=1\""),
            "{err}"
        );

        let err = v
            .verify(Some(&header), "PUT", PATH, SPACE_BODY, Some(&space), NOW)
            .unwrap_err();
        assert!(
            matches!(
                err,
                AuthError::Mismatch {
                    which: Bound::Method,
                    ..
                }
            ),
            "{err:?}"
        );

        let elsewhere = sign_request(
            &w.space,
            &w.other_space.did(),
            "POST",
            PATH,
            SPACE_BODY,
            NOW,
        );
        let err = w.verify(&elsewhere).unwrap_err();
        assert!(
            matches!(
                err,
                AuthError::Mismatch {
                    which: Bound::Audience,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.status(), 401);

        // None of these consumed the token.
        assert!(w.verify(&header).is_ok());
    }

    #[test]
    fn full_replay_cache_refuses_with_503_until_nonces_expire() {
        let w = world();
        let verifier = Verifier::new(w.daemon.did(), w.operator.did()).with_replay_capacity(1);
        let space = w.space.did();
        let check = |header: &str, now| {
            verifier.verify(Some(header), "POST", PATH, SPACE_BODY, Some(&space), now)
        };
        assert!(check(&w.sign(&w.space), NOW).is_ok());
        let err = check(&w.sign(&w.space), NOW).unwrap_err();
        assert_eq!(err, AuthError::Busy(1));
        assert_eq!(err.status(), 503);
        let later = NOW + DEFAULT_LIFETIME_SECS + DEFAULT_SKEW_SECS;
        let fresh = sign_request(&w.space, &w.daemon.did(), "POST", PATH, SPACE_BODY, later);
        assert!(check(&fresh, later).is_ok());
    }

    #[test]
    fn every_error_has_a_code_and_a_status() {
        let did = Identity::generate().did();
        let errors = [
            AuthError::Missing,
            AuthError::Malformed("x".into()),
            AuthError::Forged,
            AuthError::Mismatch {
                which: Bound::Path,
                signed: "/a".into(),
                actual: "/b".into(),
            },
            AuthError::Expired {
                iat: 1,
                exp: 2,
                now: 3,
            },
            AuthError::Replayed { nonce: "n".into() },
            AuthError::WrongSpace {
                signer: did,
                space: did,
            },
            AuthError::OperatorOnly { signer: did },
            AuthError::Busy(3),
        ];
        let statuses: Vec<u16> = errors.iter().map(AuthError::status).collect();
        assert_eq!(statuses, [401, 401, 401, 401, 401, 401, 403, 403, 503]);
        for e in &errors {
            assert!(!e.code().is_empty() && !e.to_string().is_empty());
        }
    }
}
