// fetch, Headers and Response, over the host's non-blocking HTTP.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const natives = internal.natives;
  const define = internal.define;

  // Promises of fetches in flight, by host id.
  const pendingFetches = new Map();
  internal.resetHooks.push(() => pendingFetches.clear());

  const ENTRIES = Symbol("entries");

  class Headers {
    constructor(init) {
      this[ENTRIES] = [];
      if (init === undefined || init === null) return;
      const source = init instanceof Headers ? init[ENTRIES] : typeof init[Symbol.iterator] === "function" ? init : Object.entries(init);
      for (const pair of source) {
        const [name, value] = Array.from(pair);
        this.append(name, value);
      }
    }
    append(name, value) {
      this[ENTRIES].push([String(name).toLowerCase(), String(value)]);
    }
    delete(name) {
      const lower = String(name).toLowerCase();
      this[ENTRIES] = this[ENTRIES].filter(([n]) => n !== lower);
    }
    get(name) {
      const lower = String(name).toLowerCase();
      const values = this[ENTRIES].filter(([n]) => n === lower).map(([, v]) => v);
      return values.length === 0 ? null : values.join(", ");
    }
    has(name) {
      const lower = String(name).toLowerCase();
      return this[ENTRIES].some(([n]) => n === lower);
    }
    set(name, value) {
      this.delete(name);
      this.append(name, value);
    }
    forEach(callback, thisArg) {
      for (const [name, value] of this.entries()) callback.call(thisArg, value, name, this);
    }
    *entries() {
      const names = [...new Set(this[ENTRIES].map(([n]) => n))].sort();
      for (const name of names) yield [name, this.get(name)];
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

  const BYTES = Symbol("bytes");

  function utf8(bytes) {
    return new TextDecoder().decode(bytes);
  }

  class Response {
    constructor(body, init = {}) {
      this.status = init.status === undefined ? 200 : init.status;
      this.statusText = init.statusText === undefined ? "" : String(init.statusText);
      this.headers = new Headers(init.headers);
      this.url = init.url === undefined ? "" : init.url;
      this.redirected = false;
      this.type = "basic";
      this.bodyUsed = false;
      this[BYTES] = body === undefined || body === null ? new Uint8Array(0) : typeof body === "string" ? new TextEncoder().encode(body) : new Uint8Array(body);
    }
    get ok() {
      return this.status >= 200 && this.status <= 299;
    }
    _consume() {
      if (this.bodyUsed) throw new TypeError(`the body of the response from ${this.url} was already read`);
      this.bodyUsed = true;
      return this[BYTES];
    }
    async arrayBuffer() {
      return this._consume().slice().buffer;
    }
    async bytes() {
      return this._consume().slice();
    }
    async text() {
      return utf8(this._consume());
    }
    async json() {
      const text = utf8(this._consume());
      try {
        return JSON.parse(text);
      } catch (error) {
        throw new SyntaxError(`the response from ${this.url} is not JSON: ${error.message}`);
      }
    }
    clone() {
      if (this.bodyUsed) throw new TypeError("cannot clone a response whose body was read");
      const copy = new Response(this[BYTES], { status: this.status, statusText: this.statusText, headers: this.headers, url: this.url });
      copy.redirected = this.redirected;
      return copy;
    }
  }

  function requestBody(body, headers) {
    if (body === undefined || body === null) return undefined;
    if (typeof body === "string") return body;
    if (body instanceof internal.URLSearchParams) {
      if (!headers.has("content-type")) headers.set("content-type", "application/x-www-form-urlencoded;charset=UTF-8");
      return body.toString();
    }
    if (body instanceof internal.FormData) {
      const { bytes, contentType } = internal.encodeFormData(body);
      if (!headers.has("content-type")) headers.set("content-type", contentType);
      return bytes.buffer;
    }
    if (body instanceof internal.Blob) {
      if (!headers.has("content-type") && body.type) headers.set("content-type", body.type);
      return internal.bodyBytes(body).slice().buffer;
    }
    if (body instanceof ArrayBuffer) return body;
    if (ArrayBuffer.isView(body)) {
      return new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice().buffer;
    }
    throw new TypeError("fetch: the body must be a string, an ArrayBuffer, a typed array, URLSearchParams, a Blob or FormData; use JSON.stringify for objects");
  }

  function fetch(input, init = {}) {
    return new Promise((resolve, reject) => {
      const url = input instanceof internal.URL ? input.href : typeof input === "object" && input !== null && "url" in input ? String(input.url) : String(input);
      const method = String(init.method || (typeof input === "object" && input !== null && input.method) || "GET").toUpperCase();
      const headers = new Headers(init.headers || (typeof input === "object" && input !== null ? input.headers : undefined));
      const body = requestBody(init.body, headers);
      const id = natives.fetchStart(method, url, headers[ENTRIES], body);
      pendingFetches.set(id, { resolve, reject, url, method });
    });
  }


  internal.fetchDone = function (id, response, failure) {
    const pending = pendingFetches.get(id);
    if (!pending) return;
    pendingFetches.delete(id);
    if (failure !== undefined) {
      pending.reject(new TypeError(`fetch ${pending.method} ${pending.url} failed: ${failure}`));
      return;
    }
    const result = new Response(response.body, { status: response.status, statusText: response.statusText, headers: response.headers, url: response.url });
    result.redirected = response.url !== pending.url;
    pending.resolve(result);
  };

  define("Headers", Headers);
  define("Response", Response);
  define("fetch", fetch);
  internal.Headers = Headers;
  internal.Response = Response;
})();
