// Blob, File and FormData (File API, XHR standard), and for fetch:
// `internal.bodyBytes(blob)` (a Blob's bytes, not to be modified) and
// `internal.encodeFormData(formData)` (the multipart/form-data body of HTML).
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const define = internal.define;
  const encoder = new TextEncoder();
  const CHUNK = 65536;

  function toBytes(part, endings) {
    if (part instanceof ArrayBuffer) return new Uint8Array(part.slice(0));
    if (ArrayBuffer.isView(part)) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength).slice();
    if (part instanceof Blob) return bytesOf(part);
    let text = String(part);
    if (endings === "native") text = text.replace(/\r\n?/g, "\n");
    return encoder.encode(text);
  }
  function concat(chunks) {
    let total = 0;
    for (const chunk of chunks) total += chunk.length;
    const out = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) (out.set(chunk, offset), (offset += chunk.length));
    return out;
  }
  // A type as the File API keeps it: lowercase, or "" if it is not printable ASCII.
  function normalizeType(type) {
    type = String(type);
    return /^[\x20-\x7e]*$/.test(type) ? type.toLowerCase() : "";
  }

  let bytesOf, adopt;

  class Blob {
    #bytes;
    #type;
    constructor(blobParts = undefined, options = undefined) {
      const what = `Failed to construct '${new.target.name}'`;
      if (blobParts !== undefined && (blobParts === null || typeof blobParts !== "object" || typeof blobParts[Symbol.iterator] !== "function")) {
        throw new TypeError(`${what}: the parts must be an array (or iterable) of strings, ArrayBuffers, typed arrays or Blobs`);
      }
      if (options !== undefined && options !== null && typeof options !== "object") throw new TypeError(`${what}: the options must be an object`);
      const endings = options && options.endings !== undefined ? String(options.endings) : "transparent";
      if (endings !== "transparent" && endings !== "native") throw new TypeError(`${what}: endings must be "transparent" or "native", not "${endings}"`);
      this.#type = options && options.type !== undefined ? normalizeType(options.type) : "";
      this.#bytes = blobParts === undefined ? new Uint8Array(0) : concat(Array.from(blobParts, (part) => toBytes(part, endings)));
    }
    static {
      bytesOf = (blob) => blob.#bytes;
      // Gives a new Blob these bytes (shared: they never change) and type.
      adopt = (blob, bytes, type) => {
        blob.#bytes = bytes;
        blob.#type = type;
        return blob;
      };
    }
    get size() {
      return this.#bytes.length;
    }
    get type() {
      return this.#type;
    }
    slice(start = undefined, end = undefined, contentType = undefined) {
      const size = this.#bytes.length;
      const clamp = (value, fallback) => {
        if (value === undefined) return fallback;
        const n = Math.trunc(Number(value)) || 0;
        return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
      };
      const from = clamp(start, 0), to = clamp(end, size);
      return adopt(new Blob(), this.#bytes.subarray(from, Math.max(from, to)), contentType === undefined ? "" : normalizeType(contentType));
    }
    async text() {
      return new TextDecoder().decode(this.#bytes);
    }
    async arrayBuffer() {
      return this.#bytes.slice().buffer;
    }
    async bytes() {
      return this.#bytes.slice();
    }
    stream() {
      const bytes = this.#bytes;
      let offset = 0;
      return new (internal.load("streams").ReadableStream)({
        type: "bytes",
        pull(controller) {
          if (offset >= bytes.length) {
            controller.close();
            return;
          }
          controller.enqueue(bytes.slice(offset, offset + CHUNK));
          offset += CHUNK;
        },
      });
    }
  }
  Object.defineProperty(Blob.prototype, Symbol.toStringTag, { value: "Blob", configurable: true });

  class File extends Blob {
    #name;
    #lastModified;
    constructor(fileBits, fileName, options = undefined) {
      internal.requireArgs(arguments.length, 2, "Failed to construct 'File'");
      super(fileBits, options);
      this.#name = String(fileName);
      const lastModified = options && options.lastModified !== undefined ? Number(options.lastModified) : Date.now();
      this.#lastModified = Number.isFinite(lastModified) ? Math.trunc(lastModified) : 0;
    }
    get name() {
      return this.#name;
    }
    get lastModified() {
      return this.#lastModified;
    }
    get webkitRelativePath() {
      return "";
    }
  }
  Object.defineProperty(File.prototype, Symbol.toStringTag, { value: "File", configurable: true });

  function fileFrom(blob, name, lastModified) {
    return adopt(new File([], name, { lastModified }), bytesOf(blob), blob.type);
  }
  // A Blob or File with the same bytes and type.
  internal.cloneBlob = (blob) => (blob instanceof File ? fileFrom(blob, blob.name, blob.lastModified) : adopt(new Blob(), bytesOf(blob), blob.type));

  const usv = (value) => (typeof String.prototype.toWellFormed === "function" ? String(value).toWellFormed() : String(value));

  class FormData {
    #entries = [];
    constructor(form = undefined, submitter = undefined) {
      if (form !== undefined || submitter !== undefined) throw new TypeError("Failed to construct 'FormData': there are no HTML forms here; create it empty and append()");
    }
    static {
      internal.formDataEntries = (formData) => formData.#entries;
    }
    #entry(name, value, filename, args, what) {
      internal.requireArgs(args, 2, what);
      if (args > 2 && !(value instanceof Blob)) throw new TypeError(`${what}: a filename can only be given with a Blob or File value`);
      if (value instanceof Blob) {
        if (!(value instanceof File) || filename !== undefined) {
          value = fileFrom(value, filename === undefined ? (value instanceof File ? value.name : "blob") : usv(filename), value instanceof File ? value.lastModified : undefined);
        }
      } else {
        value = usv(value);
      }
      return { name: usv(name), value };
    }
    append(name, value, filename = undefined) {
      this.#entries.push(this.#entry(name, value, filename, arguments.length, "FormData.append"));
    }
    set(name, value, filename = undefined) {
      const entry = this.#entry(name, value, filename, arguments.length, "FormData.set");
      const index = this.#entries.findIndex((e) => e.name === entry.name);
      if (index < 0) {
        this.#entries.push(entry);
        return;
      }
      this.#entries[index] = entry;
      this.#entries = this.#entries.filter((e, i) => i <= index || e.name !== entry.name);
    }
    delete(name) {
      internal.requireArgs(arguments.length, 1, "FormData.delete");
      name = usv(name);
      this.#entries = this.#entries.filter((e) => e.name !== name);
    }
    get(name) {
      internal.requireArgs(arguments.length, 1, "FormData.get");
      name = usv(name);
      const entry = this.#entries.find((e) => e.name === name);
      return entry ? entry.value : null;
    }
    getAll(name) {
      internal.requireArgs(arguments.length, 1, "FormData.getAll");
      name = usv(name);
      return this.#entries.filter((e) => e.name === name).map((e) => e.value);
    }
    has(name) {
      internal.requireArgs(arguments.length, 1, "FormData.has");
      name = usv(name);
      return this.#entries.some((e) => e.name === name);
    }
    forEach(callback, thisArg = undefined) {
      if (typeof callback !== "function") throw new TypeError("FormData.forEach: the callback must be a function");
      for (const [name, value] of this.entries()) callback.call(thisArg, value, name, this);
    }
    *entries() {
      for (let i = 0; i < this.#entries.length; i++) yield [this.#entries[i].name, this.#entries[i].value];
    }
    *keys() {
      for (const [name] of this.entries()) yield name;
    }
    *values() {
      for (const [, value] of this.entries()) yield value;
    }
    [Symbol.iterator]() {
      return this.entries();
    }
  }
  Object.defineProperty(FormData.prototype, Symbol.toStringTag, { value: "FormData", configurable: true });

  // The HTML standard's multipart/form-data encoding.
  const normalizeNewlines = (text) => text.replace(/\r\n|\r|\n/g, "\r\n");
  const escapeName = (text) => text.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
  internal.encodeFormData = function (formData) {
    let boundary = "----formdata-bgwasm-";
    for (let i = 0; i < 24; i++) boundary += Math.floor(Math.random() * 10);
    const chunks = [];
    for (const { name, value } of internal.formDataEntries(formData)) {
      let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(normalizeNewlines(name))}"`;
      if (typeof value === "string") {
        chunks.push(encoder.encode(`${head}\r\n\r\n${normalizeNewlines(value)}\r\n`));
      } else {
        head += `; filename="${escapeName(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
        chunks.push(encoder.encode(head), bytesOf(value), encoder.encode("\r\n"));
      }
    }
    chunks.push(encoder.encode(`--${boundary}--\r\n`));
    return { bytes: concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
  };
  internal.bodyBytes = (blob) => bytesOf(blob);

  Object.assign(internal, { Blob, File, FormData });
  internal.uncloneable.push(FormData);
  define("Blob", Blob);
  define("File", File);
  define("FormData", FormData);
})();
