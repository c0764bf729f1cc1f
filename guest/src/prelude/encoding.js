// TextEncoder and TextDecoder (every WHATWG encoding, by encoding_rs through
// the natives), and the prelude's own UTF-8 helpers.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const natives = internal.natives;
  const define = internal.define;

  // Lone surrogates cannot cross into Rust; the web replaces them too.
  const wellFormed = (text) => (typeof text.toWellFormed === "function" ? text.toWellFormed() : text);

  internal.utf8Encode = (text) => natives.utf8Encode(wellFormed(String(text)));
  internal.utf8Decode = (bytes) => natives.decode("utf-8", bytes, false, false, true, 0);

  // The bytes of a BufferSource, as a Uint8Array over the same memory.
  function bufferBytes(input, what) {
    if (input instanceof Uint8Array) return input;
    if (input instanceof ArrayBuffer) return new Uint8Array(input);
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeError(`${what}: the input must be an ArrayBuffer, a typed array or a DataView`);
  }
  internal.bufferBytes = bufferBytes;

  class TextEncoder {
    get encoding() {
      return "utf-8";
    }
    encode(input = "") {
      return internal.utf8Encode(input);
    }
    encodeInto(source, destination) {
      if (!(destination instanceof Uint8Array)) throw new TypeError("TextEncoder.encodeInto: the destination must be a Uint8Array");
      const text = wellFormed(String(source));
      const [read, written] = natives.utf8Fit(text, destination.byteLength);
      if (written > 0) destination.set(natives.utf8Encode(text.slice(0, read)));
      return { read, written };
    }
    get [Symbol.toStringTag]() {
      return "TextEncoder";
    }
  }

  const STATE = Symbol("decoder");
  // Streaming decoders hold native state; free it if the decoder is dropped
  // mid-stream.
  const registry = typeof FinalizationRegistry === "function" ? new FinalizationRegistry((handle) => natives.decoderFree(handle)) : null;

  class TextDecoder {
    constructor(label = "utf-8", options = {}) {
      const encoding = natives.encodingFor(String(label));
      if (encoding === undefined) {
        throw new RangeError(`TextDecoder: ${JSON.stringify(String(label))} is not a supported encoding label`);
      }
      options = options === null || options === undefined ? {} : options;
      this[STATE] = { encoding, fatal: Boolean(options.fatal), ignoreBOM: Boolean(options.ignoreBOM), handle: 0 };
    }
    get encoding() {
      return this[STATE].encoding;
    }
    get fatal() {
      return this[STATE].fatal;
    }
    get ignoreBOM() {
      return this[STATE].ignoreBOM;
    }
    decode(input, options = {}) {
      const state = this[STATE];
      const bytes = input === undefined ? new Uint8Array(0) : bufferBytes(input, "TextDecoder.decode");
      const stream = Boolean(options && options.stream);
      if (stream && state.handle === 0) {
        state.handle = natives.decoderNew(state.encoding, state.ignoreBOM);
        if (registry) registry.register(this, state.handle, state);
      }
      const handle = state.handle;
      if (!stream && handle !== 0) {
        state.handle = 0;
        if (registry) registry.unregister(state);
      }
      try {
        return natives.decode(state.encoding, bytes, state.fatal, state.ignoreBOM, !stream, handle);
      } catch (error) {
        // A fatal error ends the stream; the next decode starts afresh.
        if (state.handle !== 0) {
          if (registry) registry.unregister(state);
          state.handle = 0;
        }
        throw error;
      }
    }
    get [Symbol.toStringTag]() {
      return "TextDecoder";
    }
  }

  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);
  internal.TextEncoder = TextEncoder;
  internal.TextDecoder = TextDecoder;
})();
