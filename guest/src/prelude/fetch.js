// fetch, Request and Response, over the host's non-blocking HTTP. The host
// follows redirects itself (checking every hop against the egress policy)
// and streams a response's body as the piece reads it. An aborted fetch
// rejects at once and the host drops the request.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const natives = internal.natives;
  const define = internal.define;
  const BODY = internal.BODY;
  const Headers = internal.Headers;

  // Fetches waiting for their response's head, by host id.
  const pendingFetches = new Map();
  const forget = () => pendingFetches.clear();

  const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
  const NORMALISED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const SIGNAL = Symbol("signal");

  function normaliseMethod(method) {
    const text = String(method);
    if (!TOKEN.test(text)) throw new TypeError(`Request: ${JSON.stringify(text)} is not a valid HTTP method`);
    const upper = text.toUpperCase();
    if (FORBIDDEN_METHODS.has(upper)) throw new TypeError(`Request: the method ${upper} is forbidden`);
    return NORMALISED_METHODS.has(upper) ? upper : text;
  }

  function parseUrl(input, what) {
    try {
      return new internal.URL(input).href;
    } catch (_) {
      throw new TypeError(`${what}: ${JSON.stringify(String(input))} is not an absolute URL`);
    }
  }

  class Request {
    constructor(input, init = {}) {
      if (init === null || (typeof init !== "object" && typeof init !== "function")) init = {};
      const from = input instanceof Request ? input : null;
      this.url = from ? from.url : parseUrl(input instanceof internal.URL ? input.href : input, "Request");
      this.method = init.method !== undefined ? normaliseMethod(init.method) : from ? from.method : "GET";
      this.headers = new Headers(init.headers !== undefined ? init.headers : from ? from.headers : undefined);
      this.redirect = init.redirect !== undefined ? String(init.redirect) : from ? from.redirect : "follow";
      if (this.redirect !== "follow") {
        throw new TypeError(`Request: redirect ${JSON.stringify(this.redirect)} is not supported; bgwasm follows redirects itself (up to 10), checking each hop`);
      }
      this.credentials = "same-origin";
      this.mode = "cors";
      this.cache = "default";
      this.referrer = "about:client";
      this.integrity = "";
      this.keepalive = false;
      const signal = init.signal !== undefined ? init.signal : from ? from.signal : null;
      if (signal !== null && !(internal.AbortSignal && signal instanceof internal.AbortSignal)) {
        throw new TypeError("Request: signal must be an AbortSignal");
      }
      this[SIGNAL] = signal;
      let state = null;
      if (init.body !== undefined && init.body !== null) {
        if (this.method === "GET" || this.method === "HEAD") {
          throw new TypeError(`Request: a ${this.method} request cannot have a body`);
        }
        const extracted = internal.extractBody(init.body);
        state = extracted.state;
        if (extracted.type !== null && !this.headers.has("content-type")) this.headers.set("content-type", extracted.type);
      } else if (from && from[BODY] !== null) {
        if (from[BODY].used) throw new TypeError("Request: the body of the given request was already read");
        state = from[BODY];
        from[BODY] = { kind: "bytes", bytes: new Uint8Array(0), used: true };
      }
      this[BODY] = state;
    }
    get signal() {
      if (this[SIGNAL] === null && internal.AbortController) this[SIGNAL] = new internal.AbortController().signal;
      return this[SIGNAL];
    }
    clone() {
      const copy = new Request(this.url, { method: this.method, headers: this.headers, signal: this[SIGNAL] === null ? undefined : this[SIGNAL] });
      copy[BODY] = internal.cloneBody(this);
      return copy;
    }
    get [Symbol.toStringTag]() {
      return "Request";
    }
  }
  internal.mixinBody(Request);

  function checkStatus(status, what) {
    const number = Number(status);
    if (!Number.isInteger(number) || number < 200 || number > 599) {
      throw new RangeError(`${what}: the status ${status} is not in the range 200 to 599`);
    }
    return number;
  }

  class Response {
    constructor(body = null, init = {}) {
      if (init === null || typeof init !== "object") init = {};
      this.status = init.status === undefined ? 200 : checkStatus(init.status, "Response");
      this.statusText = init.statusText === undefined ? "" : String(init.statusText);
      this.headers = new Headers(init.headers);
      this.type = "default";
      this.url = "";
      this.redirected = false;
      if (body !== null && body !== undefined && [101, 204, 205, 304].includes(this.status)) {
        throw new TypeError(`Response: a response with status ${this.status} cannot have a body`);
      }
      const extracted = internal.extractBody(body);
      if (extracted.type !== null && !this.headers.has("content-type")) this.headers.set("content-type", extracted.type);
      this[BODY] = extracted.state;
    }
    get ok() {
      return this.status >= 200 && this.status <= 299;
    }
    clone() {
      const copy = new Response(null, { status: this.status, statusText: this.statusText, headers: this.headers });
      copy.type = this.type;
      copy.url = this.url;
      copy.redirected = this.redirected;
      copy[BODY] = internal.cloneBody(this);
      return copy;
    }
    static json(data, init = {}) {
      const text = JSON.stringify(data);
      if (text === undefined) throw new TypeError("Response.json: the data is not JSON-serialisable");
      const headers = new Headers(init && init.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return new Response(text, { ...init, headers });
    }
    static error() {
      const response = new Response(null, { status: 200 });
      response.status = 0;
      response.type = "error";
      return response;
    }
    static redirect(url, status = 302) {
      if (![301, 302, 303, 307, 308].includes(Number(status))) {
        throw new RangeError(`Response.redirect: ${status} is not a redirect status (301, 302, 303, 307 or 308)`);
      }
      return new Response(null, { status: Number(status), headers: { location: parseUrl(url, "Response.redirect") } });
    }
    get [Symbol.toStringTag]() {
      return "Response";
    }
  }
  internal.mixinBody(Response);

  function abortReason(signal) {
    return signal.reason;
  }

  async function fetch(input, init) {
    const request = new Request(input, init);
    const signal = request[SIGNAL];
    if (signal && signal.aborted) throw abortReason(signal);
    const body = request[BODY] === null ? undefined : await internal.bodyForSending(request);
    if (signal && signal.aborted) throw abortReason(signal);
    const id = natives.fetchStart(request.method, request.url, internal.headerList(request.headers), body);
    return new Promise((resolve, reject) => {
      const pending = { resolve, reject, request, onAbort: null, state: null };
      if (signal) {
        pending.onAbort = () => {
          if (pendingFetches.delete(id)) {
            natives.fetchCancel(id);
            reject(abortReason(signal));
          } else if (pending.state !== null) {
            internal.abortBody(pending.state, abortReason(signal));
          }
        };
        signal.addEventListener("abort", pending.onAbort, { once: true });
      }
      pendingFetches.set(id, pending);
      internal.dirty.add(forget);
    });
  }

  internal.fetchDone = function (id, head, failure) {
    const pending = pendingFetches.get(id);
    if (!pending) return;
    pendingFetches.delete(id);
    const { request } = pending;
    if (failure !== undefined) {
      pending.reject(new TypeError(`fetch ${request.method} ${request.url} failed: ${failure}`));
      return;
    }
    const response = new Response(null, { status: 200, headers: head.headers });
    response.status = head.status;
    response.statusText = head.statusText;
    response.type = "basic";
    response.url = head.url;
    response.redirected = head.url !== request.url;
    const nullBody = request.method === "HEAD" || [101, 204, 205, 304].includes(head.status);
    if (nullBody) {
      natives.fetchCancel(id);
    } else {
      response[BODY] = pending.state = internal.hostBody(id, head.url);
    }
    pending.resolve(response);
  };

  define("Request", Request);
  define("Response", Response);
  define("fetch", fetch);
  internal.Request = Request;
  internal.Response = Response;
})();
