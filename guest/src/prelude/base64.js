// atob and btoa (HTML), with the forgiving-base64 decode of the Infra standard.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const VALUES = new Int8Array(128).fill(-1);
  for (let i = 0; i < 64; i++) VALUES[ALPHABET.charCodeAt(i)] = i;

  function invalid(message) {
    return new internal.DOMException(message, "InvalidCharacterError");
  }

  // A string of the char codes in `codes` (a typed array or array).
  function fromCodes(codes) {
    let text = "";
    for (let i = 0; i < codes.length; i += 8192) text += String.fromCharCode.apply(null, codes.subarray ? codes.subarray(i, i + 8192) : codes.slice(i, i + 8192));
    return text;
  }

  function base64Encode(bytes) {
    const out = new Uint8Array(Math.ceil(bytes.length / 3) * 4);
    let o = 0;
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] | 0) << 8) | (bytes[i + 2] | 0);
      out[o++] = ALPHABET.charCodeAt(n >> 18);
      out[o++] = ALPHABET.charCodeAt((n >> 12) & 63);
      out[o++] = i + 1 < bytes.length ? ALPHABET.charCodeAt((n >> 6) & 63) : 61;
      out[o++] = i + 2 < bytes.length ? ALPHABET.charCodeAt(n & 63) : 61;
    }
    return fromCodes(out);
  }

  // Forgiving-base64 decode: ASCII whitespace is skipped, padding is optional.
  function base64Decode(text, what = "atob") {
    text = text.replace(/[\t\n\f\r ]+/g, "");
    if (text.length % 4 === 0) text = text.replace(/==?$/, "");
    if (text.length % 4 === 1) throw invalid(`${what}: the string is not valid base64 (its length, without padding, is one more than a multiple of 4)`);
    const out = new Uint8Array((text.length * 3) >> 2);
    let buffer = 0, bits = 0, o = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      const value = code < 128 ? VALUES[code] : -1;
      if (value < 0) throw invalid(`${what}: the string is not valid base64 (${JSON.stringify(text[i])} at position ${i} is not a base64 character)`);
      buffer = (buffer << 6) | value;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[o++] = (buffer >> bits) & 255;
      }
    }
    return out;
  }

  function btoa(data) {
    internal.requireArgs(arguments.length, 1, "btoa");
    const text = String(data);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code > 255) throw invalid(`btoa: the string has a character outside Latin1 at position ${i}; encode text to UTF-8 bytes first (TextEncoder)`);
      bytes[i] = code;
    }
    return base64Encode(bytes);
  }

  function atob(data) {
    internal.requireArgs(arguments.length, 1, "atob");
    return fromCodes(base64Decode(String(data)));
  }

  internal.define("atob", atob);
  internal.define("btoa", btoa);
})();
