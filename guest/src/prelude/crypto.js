// crypto: getRandomValues, randomUUID, and crypto.subtle for SHA digests,
// HMAC and Ed25519. The shapes of the Web Crypto API (keys, algorithm
// names, formats, errors) live here; every byte of cryptography is done by
// RustCrypto crates through the natives, and randomness comes from WASI.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const natives = internal.natives;
  const define = internal.define;
  const bufferBytes = internal.bufferBytes;

  function domError(message, name) {
    return new internal.DOMException(message, name);
  }

  // ---- getRandomValues, randomUUID ------------------------------------------
  const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array];

  function getRandomValues(array) {
    if (!INTEGER_ARRAYS.some((type) => array instanceof type)) {
      throw domError("getRandomValues: the argument must be an integer typed array (not a float array or DataView)", "TypeMismatchError");
    }
    if (array.byteLength > 65536) {
      throw domError(`getRandomValues: ${array.byteLength} bytes asked for; at most 65536 at once`, "QuotaExceededError");
    }
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(new Uint8Array(natives.randomBytes(array.byteLength)));
    return array;
  }

  function randomUUID() {
    const b = new Uint8Array(natives.randomBytes(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  // ---- base64url, for JWK -----------------------------------------------------
  const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  function toBase64Url(bytes) {
    let out = "";
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      const chars = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6));
      for (let c = 0; c < chars; c++) out += ALPHABET[(n >> (18 - 6 * c)) & 63];
    }
    return out;
  }
  function fromBase64Url(text, what) {
    if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
      throw domError(`importKey: the JWK member "${what}" is not base64url`, "DataError");
    }
    const out = new Uint8Array(Math.floor((text.length * 6) / 8));
    let bits = 0, value = 0, at = 0;
    for (const c of text) {
      value = (value << 6) | ALPHABET.indexOf(c);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[at++] = (value >> bits) & 0xff;
      }
    }
    return out;
  }

  // ---- algorithms and keys ------------------------------------------------------
  const HASHES = { "SHA-1": 64, "SHA-256": 64, "SHA-384": 128, "SHA-512": 128 };
  const NAMES = { hmac: "HMAC", ed25519: "Ed25519" };

  function hashName(hash, what) {
    const name = typeof hash === "string" ? hash : hash && hash.name;
    const upper = typeof name === "string" ? name.toUpperCase() : "";
    if (!(upper in HASHES)) throw domError(`${what}: the hash ${JSON.stringify(name)} is not supported; use SHA-1, SHA-256, SHA-384 or SHA-512`, "NotSupportedError");
    return upper;
  }

  function normalise(algorithm, what) {
    const given = typeof algorithm === "string" ? { name: algorithm } : algorithm;
    if (!given || typeof given.name !== "string") throw new TypeError(`${what}: the algorithm must be a name or an object with a name`);
    const name = NAMES[given.name.toLowerCase()];
    if (!name) throw domError(`${what}: the algorithm ${JSON.stringify(given.name)} is not supported; bgwasm has HMAC and Ed25519 (and SHA digests)`, "NotSupportedError");
    return { ...given, name };
  }

  const KEY = Symbol("key material");
  let constructing = false;

  class CryptoKey {
    constructor() {
      if (!constructing) throw new TypeError("CryptoKey: illegal constructor; use crypto.subtle.importKey or generateKey");
    }
    get [Symbol.toStringTag]() {
      return "CryptoKey";
    }
  }

  function makeKey(type, extractable, algorithm, usages, material) {
    constructing = true;
    const key = new CryptoKey();
    constructing = false;
    Object.defineProperties(key, {
      type: { value: type, enumerable: true },
      extractable: { value: Boolean(extractable), enumerable: true },
      algorithm: { value: Object.freeze(algorithm), enumerable: true },
      usages: { value: Object.freeze([...usages]), enumerable: true },
      [KEY]: { value: material },
    });
    return key;
  }

  function checkUsages(usages, allowed, what) {
    const list = Array.from(usages || []);
    for (const usage of list) {
      if (!allowed.includes(usage)) throw domError(`${what}: the usage ${JSON.stringify(usage)} is not valid here; use ${allowed.join(" or ")}`, "SyntaxError");
    }
    return list;
  }

  function requireUsage(key, usage, algorithm, what) {
    if (!(key instanceof CryptoKey)) throw new TypeError(`${what}: the key must be a CryptoKey`);
    if (key.algorithm.name !== algorithm.name) throw domError(`${what}: the key is for ${key.algorithm.name}, not ${algorithm.name}`, "InvalidAccessError");
    if (!key.usages.includes(usage)) throw domError(`${what}: the key's usages do not include "${usage}"`, "InvalidAccessError");
  }

  const PKCS8_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
  const SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

  function withPrefix(prefix, bytes) {
    const out = new Uint8Array(prefix.length + bytes.length);
    out.set(prefix);
    out.set(bytes, prefix.length);
    return out;
  }
  function stripPrefix(prefix, bytes, what) {
    if (bytes.length !== prefix.length + 32 || prefix.some((b, i) => bytes[i] !== b)) {
      throw domError(`importKey: the ${what} data is not an Ed25519 key`, "DataError");
    }
    return bytes.slice(prefix.length);
  }

  function importHmac(format, keyData, algorithm, extractable, usages) {
    const hash = hashName(algorithm.hash, "importKey");
    let bytes;
    if (format === "raw") {
      bytes = bufferBytes(keyData, "importKey").slice();
    } else if (format === "jwk") {
      if (!keyData || keyData.kty !== "oct") throw domError('importKey: an HMAC JWK must have kty "oct"', "DataError");
      bytes = fromBase64Url(keyData.k, "k");
      const expected = hash === "SHA-1" ? "HS1" : `HS${hash.slice(4)}`;
      if (keyData.alg !== undefined && keyData.alg !== expected) {
        throw domError(`importKey: the JWK's alg ${keyData.alg} does not match the hash ${hash}`, "DataError");
      }
      if (keyData.ext === false && extractable) throw domError("importKey: the JWK is not extractable (ext: false)", "DataError");
    } else {
      throw domError(`importKey: an HMAC key is imported as "raw" or "jwk", not ${JSON.stringify(format)}`, "NotSupportedError");
    }
    if (bytes.length === 0) throw domError("importKey: an HMAC key cannot be empty", "DataError");
    const list = checkUsages(usages, ["sign", "verify"], "importKey");
    if (list.length === 0) throw domError("importKey: a secret key needs at least one usage", "SyntaxError");
    return makeKey("secret", extractable, { name: "HMAC", length: bytes.length * 8, hash: { name: hash } }, list, bytes);
  }

  function importEd25519(format, keyData, extractable, usages) {
    let type, bytes;
    if (format === "raw") {
      type = "public";
      bytes = bufferBytes(keyData, "importKey").slice();
      if (bytes.length !== 32) throw domError(`importKey: a raw Ed25519 public key is 32 bytes, not ${bytes.length}`, "DataError");
    } else if (format === "spki") {
      type = "public";
      bytes = stripPrefix(SPKI_PREFIX, bufferBytes(keyData, "importKey"), "spki");
    } else if (format === "pkcs8") {
      type = "private";
      bytes = stripPrefix(PKCS8_PREFIX, bufferBytes(keyData, "importKey"), "pkcs8");
    } else if (format === "jwk") {
      if (!keyData || keyData.kty !== "OKP" || keyData.crv !== "Ed25519") throw domError('importKey: an Ed25519 JWK must have kty "OKP" and crv "Ed25519"', "DataError");
      if (keyData.d !== undefined) {
        type = "private";
        bytes = fromBase64Url(keyData.d, "d");
        const publicKey = new Uint8Array(natives.ed25519Public(bytes));
        if (toBase64Url(publicKey) !== keyData.x) throw domError("importKey: the JWK's x is not the public key of its d", "DataError");
      } else {
        type = "public";
        bytes = fromBase64Url(keyData.x, "x");
      }
      if (bytes.length !== 32) throw domError("importKey: an Ed25519 JWK key is 32 bytes", "DataError");
    } else {
      throw domError(`importKey: the format ${JSON.stringify(format)} is not supported for Ed25519`, "NotSupportedError");
    }
    const list = checkUsages(usages, type === "public" ? ["verify"] : ["sign"], "importKey");
    if (type === "private" && list.length === 0) throw domError("importKey: a private key needs at least one usage", "SyntaxError");
    return makeKey(type, type === "public" ? true : extractable, { name: "Ed25519" }, list, bytes);
  }

  const subtle = {
    async digest(algorithm, data) {
      const name = hashName(algorithm, "digest");
      return natives.digest(name, bufferBytes(data, "digest"));
    },
    async importKey(format, keyData, algorithm, extractable, usages) {
      const normalised = normalise(algorithm, "importKey");
      return normalised.name === "HMAC"
        ? importHmac(String(format), keyData, normalised, extractable, usages)
        : importEd25519(String(format), keyData, extractable, usages);
    },
    async exportKey(format, key) {
      if (!(key instanceof CryptoKey)) throw new TypeError("exportKey: the key must be a CryptoKey");
      if (!key.extractable) throw domError("exportKey: the key is not extractable", "InvalidAccessError");
      const bytes = key[KEY];
      const ed = key.algorithm.name === "Ed25519";
      if (format === "raw" && (!ed || key.type === "public")) return bytes.slice().buffer;
      if (format === "spki" && ed && key.type === "public") return withPrefix(SPKI_PREFIX, bytes).buffer;
      if (format === "pkcs8" && ed && key.type === "private") return withPrefix(PKCS8_PREFIX, bytes).buffer;
      if (format === "jwk") {
        if (!ed) {
          const hash = key.algorithm.hash.name;
          return { kty: "oct", k: toBase64Url(bytes), alg: `HS${hash === "SHA-1" ? 1 : hash.slice(4)}`, key_ops: [...key.usages], ext: true };
        }
        const x = key.type === "public" ? bytes : new Uint8Array(natives.ed25519Public(bytes));
        const jwk = { kty: "OKP", crv: "Ed25519", x: toBase64Url(x), key_ops: [...key.usages], ext: true };
        if (key.type === "private") jwk.d = toBase64Url(bytes);
        return jwk;
      }
      throw domError(`exportKey: a ${key.type} ${key.algorithm.name} key cannot be exported as ${JSON.stringify(format)}`, "NotSupportedError");
    },
    async generateKey(algorithm, extractable, usages) {
      const normalised = normalise(algorithm, "generateKey");
      if (normalised.name === "HMAC") {
        const hash = hashName(normalised.hash, "generateKey");
        const bits = normalised.length === undefined ? HASHES[hash] * 8 : Number(normalised.length);
        if (!Number.isInteger(bits) || bits <= 0 || bits % 8 !== 0) throw domError("generateKey: the HMAC length must be a positive multiple of 8 bits", "OperationError");
        const list = checkUsages(usages, ["sign", "verify"], "generateKey");
        if (list.length === 0) throw domError("generateKey: a secret key needs at least one usage", "SyntaxError");
        return makeKey("secret", extractable, { name: "HMAC", length: bits, hash: { name: hash } }, list, new Uint8Array(natives.randomBytes(bits / 8)));
      }
      const list = checkUsages(usages, ["sign", "verify"], "generateKey");
      const seed = new Uint8Array(natives.randomBytes(32));
      const publicKey = makeKey("public", true, { name: "Ed25519" }, list.filter((u) => u === "verify"), new Uint8Array(natives.ed25519Public(seed)));
      const privateKey = makeKey("private", extractable, { name: "Ed25519" }, list.filter((u) => u === "sign"), seed);
      if (privateKey.usages.length === 0) throw domError("generateKey: an Ed25519 key pair needs the usage \"sign\"", "SyntaxError");
      return { publicKey, privateKey };
    },
    async sign(algorithm, key, data) {
      const normalised = normalise(algorithm, "sign");
      requireUsage(key, "sign", normalised, "sign");
      const bytes = bufferBytes(data, "sign");
      return normalised.name === "HMAC" ? natives.hmacSign(key.algorithm.hash.name, key[KEY], bytes) : natives.ed25519Sign(key[KEY], bytes);
    },
    async verify(algorithm, key, signature, data) {
      const normalised = normalise(algorithm, "verify");
      requireUsage(key, "verify", normalised, "verify");
      const sig = bufferBytes(signature, "verify");
      const bytes = bufferBytes(data, "verify");
      return normalised.name === "HMAC" ? natives.hmacVerify(key.algorithm.hash.name, key[KEY], bytes, sig) : natives.ed25519Verify(key[KEY], bytes, sig);
    },
  };

  class SubtleCrypto {
    constructor() {
      throw new TypeError("SubtleCrypto: illegal constructor; use crypto.subtle");
    }
  }
  Object.setPrototypeOf(subtle, SubtleCrypto.prototype);

  class Crypto {
    constructor() {
      throw new TypeError("Crypto: illegal constructor; use the global crypto");
    }
    get subtle() {
      return subtle;
    }
  }
  const crypto = Object.create(Crypto.prototype);
  Object.defineProperties(crypto, {
    getRandomValues: { value: getRandomValues },
    randomUUID: { value: randomUUID },
  });

  define("crypto", crypto);
  define("Crypto", Crypto);
  define("CryptoKey", CryptoKey);
  define("SubtleCrypto", SubtleCrypto);
})();
