// The body of a Request or Response (the Fetch standard's Body mixin): what
// a body may be made from, reading it whole (text, json, arrayBuffer, bytes,
// blob, formData) and reading it as a stream (`body`). A fetched response's
// body comes from the host chunk by chunk, as it is read, so a large body
// never has to sit whole in memory.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const natives = internal.natives;

  const BODY = Symbol("body");
  internal.BODY = BODY;

  // Body reads waiting for the host, by fetch id.
  const hostReads = new Map();
  const forget = () => hostReads.clear();

  // A body's state: { kind: "bytes" | "host" | "stream", bytes, id, url,
  // stream, used, aborted }. `null` is no body at all.

  // Turns what a piece passed as a body into a body state and the
  // content-type it implies (Fetch's "extract a body").
  internal.extractBody = function (init) {
    const bytes = (b) => ({ kind: "bytes", bytes: b, used: false });
    if (init === undefined || init === null) return { state: null, type: null };
    if (typeof init === "string") return { state: bytes(internal.utf8Encode(init)), type: "text/plain;charset=UTF-8" };
    if (init instanceof internal.URLSearchParams) {
      return { state: bytes(internal.utf8Encode(init.toString())), type: "application/x-www-form-urlencoded;charset=UTF-8" };
    }
    if (init instanceof ArrayBuffer) return { state: bytes(new Uint8Array(init.slice(0))), type: null };
    if (ArrayBuffer.isView(init)) {
      return { state: bytes(new Uint8Array(init.buffer, init.byteOffset, init.byteLength).slice()), type: null };
    }
    if (internal.loaded("blob") && init instanceof internal.Blob) {
      return { state: bytes(internal.bodyBytes(init)), type: init.type || null };
    }
    if (internal.loaded("blob") && init instanceof internal.FormData) {
      const encoded = internal.encodeFormData(init);
      return { state: bytes(encoded.bytes), type: encoded.contentType };
    }
    if (internal.loaded("streams") && init instanceof internal.ReadableStream) {
      if (init.locked) throw new TypeError("the body stream is locked: it is being read elsewhere");
      return { state: { kind: "stream", stream: init, used: false }, type: null };
    }
    // WebIDL's fallback for the union: any other value is a string.
    return { state: bytes(internal.utf8Encode(String(init))), type: "text/plain;charset=UTF-8" };
  };

  // A body read from the host: the state of fetch `id`'s response.
  internal.hostBody = (id, url) => ({ kind: "host", id, url, used: false, done: false, aborted: undefined });

  // Aborts a host body: a read under way rejects with `reason`, and so does
  // every later one; the host drops the connection.
  internal.abortBody = function (state, reason) {
    if (!state || state.kind !== "host" || state.done || state.aborted !== undefined) return;
    state.aborted = reason;
    natives.fetchCancel(state.id);
    const waiting = hostReads.get(state.id);
    if (waiting) {
      hostReads.delete(state.id);
      waiting.reject(reason);
    }
  };

  // The next chunk of a host body, or undefined at its end.
  function readHost(state) {
    if (state.aborted !== undefined) return Promise.reject(state.aborted);
    if (state.done) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      hostReads.set(state.id, { resolve, reject, state });
      internal.dirty.add(forget);
      natives.fetchReadBody(state.id);
    });
  }

  internal.bodyChunk = function (id, buffer, failure) {
    const waiting = hostReads.get(id);
    if (!waiting) return;
    hostReads.delete(id);
    if (failure !== undefined) {
      waiting.state.done = true;
      waiting.reject(new TypeError(`reading the body of ${waiting.state.url} failed: ${failure}`));
    } else if (buffer === undefined) {
      waiting.state.done = true;
      waiting.resolve(undefined);
    } else {
      waiting.resolve(new Uint8Array(buffer));
    }
  };

  function makeStream(state) {
    const source = state.kind === "bytes"
      ? {
        pull(controller) {
          state.used = true;
          if (state.bytes.byteLength > 0) controller.enqueue(state.bytes.slice());
          controller.close();
        },
      }
      : {
        async pull(controller) {
          state.used = true;
          const chunk = await readHost(state);
          if (chunk === undefined) controller.close();
          else controller.enqueue(chunk);
        },
        cancel() {
          if (!state.done) {
            state.done = true;
            natives.fetchCancel(state.id);
          }
        },
      };
    return new (internal.load("streams").ReadableStream)(source, { highWaterMark: 0 });
  }

  function concat(chunks, total) {
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  }

  // Reads the whole body (Fetch's "consume body").
  async function consume(owner, what) {
    const state = owner[BODY];
    if (state === null) return new Uint8Array(0);
    if (state.used) throw new TypeError(`${what}: the body was already read; clone() before reading it twice`);
    if (state.stream && state.stream.locked) throw new TypeError(`${what}: the body stream is locked: it is being read elsewhere`);
    state.used = true;
    if (state.kind === "bytes" && !state.stream) return state.bytes.slice();
    const chunks = [];
    let total = 0;
    if (state.kind === "host" && !state.stream) {
      for (let chunk; (chunk = await readHost(state)) !== undefined;) {
        chunks.push(chunk);
        total += chunk.byteLength;
      }
      return concat(chunks, total);
    }
    const reader = state.stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!(value instanceof Uint8Array)) throw new TypeError(`${what}: the body stream gave a chunk that is not a Uint8Array`);
      chunks.push(value);
      total += value.byteLength;
    }
    return concat(chunks, total);
  }

  function mimeOf(owner) {
    const type = owner.headers.get("content-type");
    return type === null ? "" : type;
  }

  function parseFormData(bytes, type) {
    const form = new (internal.load("blob").FormData)();
    if (/^application\/x-www-form-urlencoded/i.test(type)) {
      for (const [name, value] of new internal.URLSearchParams(internal.utf8Decode(bytes))) form.append(name, value);
      return form;
    }
    const boundary = /^multipart\/form-data\s*;.*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(type);
    if (!boundary) throw new TypeError(`formData: the content-type ${JSON.stringify(type)} is neither multipart/form-data with a boundary nor application/x-www-form-urlencoded`);
    // Latin-1 keeps one character per byte, so offsets are byte offsets.
    let text = "";
    for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    const delimiter = `--${boundary[1] || boundary[2]}`;
    const parts = text.split(delimiter);
    if (parts.length < 3) throw new TypeError("formData: the multipart body has no parts, or no closing boundary");
    for (const part of parts.slice(1, -1)) {
      const split = part.indexOf("\r\n\r\n");
      if (split < 0) throw new TypeError("formData: a multipart part has no blank line after its headers");
      const head = part.slice(2, split);
      const start = split + 4;
      const end = part.length - 2;
      const disposition = /content-disposition:\s*form-data\s*;([^\r\n]*)/i.exec(head);
      if (!disposition) throw new TypeError("formData: a multipart part has no Content-Disposition: form-data header");
      const param = (key) => {
        const hit = new RegExp(`;?\\s*${key}="([^"]*)"`, "i").exec(";" + disposition[1]);
        return hit ? internal.utf8Decode(latin1Bytes(hit[1])).replace(/%22/g, '"').replace(/%0D/g, "\r").replace(/%0A/g, "\n") : null;
      };
      const name = param("name");
      if (name === null) throw new TypeError("formData: a multipart part has no name");
      const filename = param("filename");
      const body = latin1Bytes(part.slice(start, end));
      if (filename === null) {
        form.append(name, internal.utf8Decode(body));
      } else {
        const partType = /content-type:\s*([^\r\n]*)/i.exec(head);
        form.append(name, new internal.File([body], filename, { type: partType ? partType[1].trim() : "" }));
      }
    }
    return form;
  }

  function latin1Bytes(text) {
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  // Installs the Body mixin's members on a class.
  internal.mixinBody = function (target) {
    const members = {
      get body() {
        const state = this[BODY];
        if (state === null) return null;
        if (state.kind === "stream") return state.stream;
        if (!state.stream) state.stream = makeStream(state);
        return state.stream;
      },
      get bodyUsed() {
        const state = this[BODY];
        return state !== null && state.used;
      },
      async arrayBuffer() {
        return (await consume(this, "arrayBuffer")).buffer;
      },
      async bytes() {
        return consume(this, "bytes");
      },
      async text() {
        return internal.utf8Decode(await consume(this, "text"));
      },
      async json() {
        const text = internal.utf8Decode(await consume(this, "json"));
        try {
          return JSON.parse(text);
        } catch (error) {
          throw new SyntaxError(`the body${this.url ? ` of ${this.url}` : ""} is not JSON: ${error.message}`);
        }
      },
      async blob() {
        const bytes = await consume(this, "blob");
        return new (internal.load("blob").Blob)([bytes], { type: mimeOf(this) });
      },
      async formData() {
        return parseFormData(await consume(this, "formData"), mimeOf(this));
      },
    };
    for (const name of Object.keys(members)) {
      Object.defineProperty(target.prototype, name, Object.getOwnPropertyDescriptor(members, name));
    }
  };

  // A copy of a body for clone(): bytes are shared (every read copies them),
  // a stream is teed.
  internal.cloneBody = function (owner) {
    const state = owner[BODY];
    if (state === null) return null;
    if (state.used) throw new TypeError("clone: the body was already read");
    if (state.kind === "bytes") return { kind: "bytes", bytes: state.bytes, used: false };
    const [mine, theirs] = owner.body.tee();
    state.kind = "stream";
    state.stream = mine;
    return { kind: "stream", stream: theirs, used: false };
  };

  // A body's bytes for the host when it is sent, read whole.
  internal.bodyForSending = (owner) => consume(owner, "fetch");
})();
