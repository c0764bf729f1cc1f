//! The bytes behind `crypto`: randomness from WASI's random source, SHA
//! digests, HMAC and Ed25519, all by RustCrypto crates. `Math.random` is here
//! too: QuickJS seeds its own generator once, when the engine is built (so
//! in the pre-initialised snapshot), which would make it neither fresh per
//! run nor replayable; ours is reseeded from WASI's random source at the start
//! of every run, so a run's host-chosen seed decides it. The prelude's
//! `crypto.js` holds the Web Crypto API's shapes (keys, algorithms, errors);
//! nothing here is re-implemented in JavaScript.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use javy::quickjs::{ArrayBuffer, Ctx, Exception, Function, Object, Result, TypedArray};
use sha2::Digest;
use std::cell::Cell;

/// The most bytes `getRandomValues` fills at once, as the Web Crypto API says.
const MAX_RANDOM_BYTES: usize = 65536;

thread_local! {
    /// The state of `Math.random`'s xorshift64* generator; never zero.
    static MATH_RANDOM: Cell<u64> = const { Cell::new(0x9e37_79b9_7f4a_7c15) };
}

/// Reseeds `Math.random` from WASI's random source: called at the start of
/// every run.
pub fn reseed_math_random() {
    if let Ok(seed) = getrandom::u64() {
        MATH_RANDOM.set(seed | 1);
    }
}

/// `Math.random`: xorshift64*, as QuickJS's own, turned into a double in
/// [0, 1) from its top 52 bits.
fn math_random() -> f64 {
    let mut x = MATH_RANDOM.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    MATH_RANDOM.set(x);
    let bits = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 12) | 0x3ff0_0000_0000_0000;
    f64::from_bits(bits) - 1.0
}

pub fn register<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    // Replacing the value keeps the property's attributes (writable,
    // configurable, not enumerable).
    let math: Object = ctx.globals().get("Math")?;
    math.set(
        "random",
        Function::new(ctx.clone(), math_random)?.with_name("random")?,
    )?;
    natives.set("randomBytes", Function::new(ctx.clone(), random_bytes)?)?;
    natives.set("digest", Function::new(ctx.clone(), digest)?)?;
    natives.set("hmacSign", Function::new(ctx.clone(), hmac_sign)?)?;
    natives.set("hmacVerify", Function::new(ctx.clone(), hmac_verify)?)?;
    natives.set("ed25519Public", Function::new(ctx.clone(), ed25519_public)?)?;
    natives.set("ed25519Sign", Function::new(ctx.clone(), ed25519_sign)?)?;
    natives.set("ed25519Verify", Function::new(ctx.clone(), ed25519_verify)?)?;
    Ok(())
}

fn bytes<'a>(array: &'a TypedArray<'_, u8>) -> &'a [u8] {
    array.as_bytes().unwrap_or_default()
}

fn random_bytes<'js>(ctx: Ctx<'js>, length: usize) -> Result<ArrayBuffer<'js>> {
    if length > MAX_RANDOM_BYTES {
        return Err(Exception::throw_range(
            &ctx,
            &format!("at most {MAX_RANDOM_BYTES} random bytes at once, not {length}"),
        ));
    }
    let mut buffer = vec![0u8; length];
    getrandom::fill(&mut buffer).map_err(|error| {
        Exception::throw_internal(&ctx, &format!("the random source failed: {error}"))
    })?;
    ArrayBuffer::new(ctx, buffer)
}

fn digest<'js>(
    ctx: Ctx<'js>,
    algorithm: String,
    data: TypedArray<'js, u8>,
) -> Result<ArrayBuffer<'js>> {
    let data = bytes(&data);
    let out = match algorithm.as_str() {
        "SHA-1" => sha1::Sha1::digest(data).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data).to_vec(),
        other => return Err(unsupported(&ctx, other)),
    };
    ArrayBuffer::new(ctx, out)
}

fn unsupported(ctx: &Ctx<'_>, algorithm: &str) -> javy::quickjs::Error {
    Exception::throw_type(
        ctx,
        &format!("the hash {algorithm:?} is not supported: use SHA-1, SHA-256, SHA-384 or SHA-512"),
    )
}

/// An HMAC over `data` with `key`, by the named hash.
fn hmac_tag(ctx: &Ctx<'_>, hash: &str, key: &[u8], data: &[u8]) -> Result<Vec<u8>> {
    fn tag<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key)
            .expect("HMAC takes a key of any length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    Ok(match hash {
        "SHA-1" => tag::<Hmac<sha1::Sha1>>(key, data),
        "SHA-256" => tag::<Hmac<sha2::Sha256>>(key, data),
        "SHA-384" => tag::<Hmac<sha2::Sha384>>(key, data),
        "SHA-512" => tag::<Hmac<sha2::Sha512>>(key, data),
        other => return Err(unsupported(ctx, other)),
    })
}

fn hmac_sign<'js>(
    ctx: Ctx<'js>,
    hash: String,
    key: TypedArray<'js, u8>,
    data: TypedArray<'js, u8>,
) -> Result<ArrayBuffer<'js>> {
    let tag = hmac_tag(&ctx, &hash, bytes(&key), bytes(&data))?;
    ArrayBuffer::new(ctx, tag)
}

/// Checks an HMAC tag in constant time.
fn hmac_verify<'js>(
    ctx: Ctx<'js>,
    hash: String,
    key: TypedArray<'js, u8>,
    data: TypedArray<'js, u8>,
    signature: TypedArray<'js, u8>,
) -> Result<bool> {
    let expected = hmac_tag(&ctx, &hash, bytes(&key), bytes(&data))?;
    let given = bytes(&signature);
    Ok(expected.len() == given.len()
        && expected
            .iter()
            .zip(given)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0)
}

fn seed(ctx: &Ctx<'_>, key: &TypedArray<'_, u8>) -> Result<[u8; 32]> {
    bytes(key)
        .try_into()
        .map_err(|_| Exception::throw_type(ctx, "an Ed25519 private key is a 32-byte seed"))
}

fn ed25519_public<'js>(ctx: Ctx<'js>, private: TypedArray<'js, u8>) -> Result<ArrayBuffer<'js>> {
    let key = SigningKey::from_bytes(&seed(&ctx, &private)?);
    ArrayBuffer::new(ctx, key.verifying_key().to_bytes().to_vec())
}

fn ed25519_sign<'js>(
    ctx: Ctx<'js>,
    private: TypedArray<'js, u8>,
    data: TypedArray<'js, u8>,
) -> Result<ArrayBuffer<'js>> {
    let key = SigningKey::from_bytes(&seed(&ctx, &private)?);
    ArrayBuffer::new(ctx, key.sign(bytes(&data)).to_bytes().to_vec())
}

/// Whether `signature` is `public`'s signature of `data`. A malformed key or
/// signature is simply not a valid signature, as Web Crypto's verify says.
fn ed25519_verify(
    public: TypedArray<'_, u8>,
    data: TypedArray<'_, u8>,
    signature: TypedArray<'_, u8>,
) -> bool {
    let Ok(public) = <[u8; 32]>::try_from(bytes(&public)) else {
        return false;
    };
    let Ok(signature) = <[u8; 64]>::try_from(bytes(&signature)) else {
        return false;
    };
    VerifyingKey::from_bytes(&public).is_ok_and(|key| {
        key.verify(bytes(&data), &Signature::from_bytes(&signature))
            .is_ok()
    })
}
