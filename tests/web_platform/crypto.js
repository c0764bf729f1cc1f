// crypto: getRandomValues, randomUUID, subtle digests, HMAC and Ed25519,
// checked against published test vectors.
const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text) => new Uint8Array(text.match(/../g).map((h) => parseInt(h, 16)));
const utf8 = (text) => new TextEncoder().encode(text);

test("getRandomValues fills integer arrays and returns them", () => {
  const a = new Uint8Array(64);
  assert(crypto.getRandomValues(a) === a, "returns its argument");
  assert(a.some((b) => b !== 0), "64 random bytes are not all zero");
  const b = crypto.getRandomValues(new Uint32Array(4));
  assert(b.some((x) => x !== 0));
  const c = crypto.getRandomValues(new Uint8Array(64));
  assert(hex(a) !== hex(c), "two draws differ");
});

test("getRandomValues refuses floats and more than 65536 bytes", () => {
  assertThrows(() => crypto.getRandomValues(new Float64Array(2)), "TypeMismatchError");
  assertThrows(() => crypto.getRandomValues(new Uint8Array(65537)), "QuotaExceededError");
  crypto.getRandomValues(new Uint8Array(65536));
});

test("randomUUID is a version 4 UUID, different each time", () => {
  const uuid = crypto.randomUUID();
  assert(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(uuid), uuid);
  assert(crypto.randomUUID() !== uuid);
});

test("subtle.digest: SHA-1, SHA-256, SHA-384, SHA-512 of 'abc'", async () => {
  const data = utf8("abc");
  assertEquals(hex(await crypto.subtle.digest("SHA-1", data)), "a9993e364706816aba3e25717850c26c9cd0d89d");
  assertEquals(hex(await crypto.subtle.digest("SHA-256", data)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assertEquals(hex(await crypto.subtle.digest({ name: "sha-384" }, data)), "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
  assertEquals(hex(await crypto.subtle.digest("SHA-512", data.buffer)), "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
});

test("subtle.digest refuses an unknown hash and a non-buffer", async () => {
  await assertRejects(() => crypto.subtle.digest("MD5", utf8("abc")), "NotSupportedError");
  await assertRejects(() => crypto.subtle.digest("SHA-256", "abc"), TypeError);
});

test("HMAC: RFC 4231 test case 2, sign and verify", async () => {
  const key = await crypto.subtle.importKey("raw", utf8("Jefe"), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  assertEquals(key.type, "secret");
  assertEquals(key.algorithm, { name: "HMAC", length: 32, hash: { name: "SHA-256" } });
  assert(key instanceof CryptoKey);
  const data = utf8("what do ya want for nothing?");
  const tag = await crypto.subtle.sign("HMAC", key, data);
  assertEquals(hex(tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  assertEquals(await crypto.subtle.verify("HMAC", key, tag, data), true);
  const bad = new Uint8Array(tag);
  bad[0] ^= 1;
  assertEquals(await crypto.subtle.verify("HMAC", key, bad, data), false);
});

test("HMAC keys import from JWK and export when extractable", async () => {
  const jwk = { kty: "oct", k: "SmVmZQ", alg: "HS256" };
  const key = await crypto.subtle.importKey("jwk", jwk, { name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  const tag = await crypto.subtle.sign({ name: "HMAC" }, key, utf8("what do ya want for nothing?"));
  assertEquals(hex(tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  assertEquals((await crypto.subtle.exportKey("jwk", key)).k, "SmVmZQ");
  assertEquals(hex(await crypto.subtle.exportKey("raw", key)), hex(utf8("Jefe")));
  await assertRejects(() => crypto.subtle.importKey("jwk", { ...jwk, alg: "HS512" }, { name: "HMAC", hash: "SHA-256" }, true, ["sign"]), "DataError");
  const hidden = await crypto.subtle.importKey("raw", utf8("k"), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  await assertRejects(() => crypto.subtle.exportKey("raw", hidden), "InvalidAccessError");
});

test("a key is used only for its usages and its algorithm", async () => {
  const key = await crypto.subtle.importKey("raw", utf8("k"), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  await assertRejects(() => crypto.subtle.sign("HMAC", key, utf8("x")), "InvalidAccessError");
  await assertRejects(() => crypto.subtle.importKey("raw", utf8("k"), { name: "HMAC", hash: "SHA-256" }, false, ["encrypt"]), "SyntaxError");
  await assertRejects(() => crypto.subtle.importKey("raw", utf8("k"), { name: "ROT13" }, false, ["encrypt"]), "NotSupportedError");
  assertThrows(() => new CryptoKey(), TypeError);
});

test("Ed25519: RFC 8032 test 1, from pkcs8 and raw keys", async () => {
  const seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
  const publicHex = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
  const signatureHex = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
  const pkcs8 = unhex("302e020100300506032b657004220420" + seed);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, "Ed25519", true, ["sign"]);
  const signature = await crypto.subtle.sign("Ed25519", privateKey, new Uint8Array(0));
  assertEquals(hex(signature), signatureHex);
  const publicKey = await crypto.subtle.importKey("raw", unhex(publicHex), { name: "Ed25519" }, true, ["verify"]);
  assertEquals(await crypto.subtle.verify("Ed25519", publicKey, signature, new Uint8Array(0)), true);
  assertEquals(await crypto.subtle.verify("Ed25519", publicKey, signature, utf8("x")), false);
  assertEquals(hex(await crypto.subtle.exportKey("spki", publicKey)), "302a300506032b6570032100" + publicHex);
  const jwk = await crypto.subtle.exportKey("jwk", privateKey);
  assertEquals([jwk.kty, jwk.crv], ["OKP", "Ed25519"]);
  const again = await crypto.subtle.importKey("jwk", jwk, "Ed25519", false, ["sign"]);
  assertEquals(hex(await crypto.subtle.sign("Ed25519", again, new Uint8Array(0))), signatureHex);
});

test("Ed25519: generated key pairs sign and verify; bad keys are DataErrors", async () => {
  const { publicKey, privateKey } = await crypto.subtle.generateKey("Ed25519", false, ["sign", "verify"]);
  assertEquals([publicKey.type, privateKey.type, publicKey.extractable, privateKey.extractable], ["public", "private", true, false]);
  const data = utf8("hello");
  const signature = await crypto.subtle.sign("Ed25519", privateKey, data);
  assertEquals(signature.byteLength, 64);
  assert(await crypto.subtle.verify("Ed25519", publicKey, signature, data));
  await assertRejects(() => crypto.subtle.importKey("raw", new Uint8Array(31), "Ed25519", true, ["verify"]), "DataError");
  await assertRejects(() => crypto.subtle.importKey("pkcs8", new Uint8Array(48), "Ed25519", true, ["sign"]), "DataError");
});

test("HMAC generateKey makes a key of the hash's block size", async () => {
  const key = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-512" }, true, ["sign", "verify"]);
  assertEquals(key.algorithm.length, 1024);
  assertEquals((await crypto.subtle.exportKey("raw", key)).byteLength, 128);
});

export async function bgUpdater() {
  return await runTests();
}
