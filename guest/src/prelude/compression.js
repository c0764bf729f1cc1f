// CompressionStream and DecompressionStream (gzip, deflate, deflate-raw):
// TransformStreams over the natives' flate2 codecs.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const natives = internal.natives;
  const define = internal.define;

  const registry = typeof FinalizationRegistry === "function" ? new FinalizationRegistry((handle) => natives.codecFree(handle)) : null;

  function codecStream(format, compress, what) {
    const handle = natives.codecNew(String(format), compress);
    if (handle === undefined) {
      throw new TypeError(`${what}: the format ${JSON.stringify(String(format))} is not supported; use "gzip", "deflate" or "deflate-raw"`);
    }
    const token = {};
    const transform = new internal.TransformStream({
      transform(chunk, controller) {
        const bytes = internal.bufferBytes(chunk, what);
        const out = natives.codecPush(handle, bytes);
        if (out.byteLength > 0) controller.enqueue(out);
      },
      flush(controller) {
        if (registry) registry.unregister(token);
        const out = natives.codecFinish(handle);
        if (out.byteLength > 0) controller.enqueue(out);
      },
    });
    if (registry) registry.register(transform, handle, token);
    return transform;
  }

  const TRANSFORM = Symbol("transform");

  // What both classes share: a readable and a writable side.
  class CodecStream {
    get readable() {
      return this[TRANSFORM].readable;
    }
    get writable() {
      return this[TRANSFORM].writable;
    }
  }

  class CompressionStream extends CodecStream {
    constructor(format) {
      super();
      this[TRANSFORM] = codecStream(format, true, "CompressionStream");
    }
  }

  class DecompressionStream extends CodecStream {
    constructor(format) {
      super();
      this[TRANSFORM] = codecStream(format, false, "DecompressionStream");
    }
  }

  define("CompressionStream", CompressionStream);
  define("DecompressionStream", DecompressionStream);
})();
