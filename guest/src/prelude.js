// The web APIs a piece expects (fetch, timers, console, cells, URL), built on
// the natives that engine.rs puts in `__bgwasm_natives`. It runs once, at
// pre-initialisation, and hands the event loop its entry points through
// `__bgwasm_internal`. Both globals are removed again by engine.rs.
(function () {
  "use strict";
  const natives = globalThis.__bgwasm_natives;

  // ---- console --------------------------------------------------------------
  const LEVEL = { debug: 0, info: 1, warn: 2, error: 3 };

  function describe(value, seen) {
    if (typeof value === "string") return value;
    if (value instanceof Error) {
      const head = `${value.name}: ${value.message}`;
      return value.stack ? `${head}\n${value.stack}`.trimEnd() : head;
    }
    if (value === undefined || typeof value === "function" || typeof value === "symbol" || typeof value === "bigint") {
      return String(value);
    }
    try {
      const text = JSON.stringify(value, (key, v) => {
        if (typeof v === "bigint") return `${v}n`;
        if (typeof v === "object" && v !== null) {
          if (seen.has(v)) return "[Circular]";
          seen.add(v);
        }
        return v;
      });
      return text === undefined ? String(value) : text;
    } catch (_) {
      return String(value);
    }
  }

  function logger(level) {
    return function (...args) {
      natives.log(level, args.map((a) => describe(a, new Set())).join(" "));
    };
  }

  const console = {
    log: logger(LEVEL.info),
    info: logger(LEVEL.info),
    debug: logger(LEVEL.debug),
    warn: logger(LEVEL.warn),
    error: logger(LEVEL.error),
    trace: logger(LEVEL.debug),
  };

  // ---- cells ----------------------------------------------------------------
  const cells = Object.freeze({
    get(key) {
      const text = natives.cellGet(String(key));
      return text === undefined ? undefined : JSON.parse(text);
    },
    set(key, value) {
      const text = JSON.stringify(value);
      if (text === undefined) {
        throw new TypeError(`cells.set(${JSON.stringify(String(key))}): the value is not JSON-serialisable`);
      }
      natives.cellSet(String(key), text);
    },
    delete(key) {
      natives.cellDelete(String(key));
    },
    keys() {
      return natives.cellKeys();
    },
  });

  // ---- the run's pending work -----------------------------------------------
  // Promises of fetches in flight and callbacks of armed timers, by host id.
  const pendingFetches = new Map();
  const armedTimers = new Map();
  // Rejections nobody handled yet, as the engine's tracker reports them.
  const unhandledRejections = new Map();
  // Errors thrown by timer callbacks: nobody can catch those.
  let uncaughtError = undefined;
  let hasUncaughtError = false;

  function recordUncaught(error) {
    if (!hasUncaughtError) {
      hasUncaughtError = true;
      uncaughtError = error;
    }
  }

  // ---- timers ---------------------------------------------------------------
  function setTimeout(callback, delay, ...args) {
    if (typeof callback !== "function") {
      throw new TypeError("setTimeout: the callback must be a function");
    }
    let ms = Number(delay);
    if (!Number.isFinite(ms) || ms < 0) ms = 0;
    ms = Math.min(Math.floor(ms), 0x7fffffff);
    const id = natives.timerStart(ms);
    armedTimers.set(id, () => callback(...args));
    return id;
  }

  function clearTimeout(id) {
    if (armedTimers.delete(id)) natives.timerCancel(id);
  }

  function queueMicrotask(callback) {
    Promise.resolve().then(() => callback());
  }

  // ---- URLSearchParams and URL ------------------------------------------------
  function formEncode(text) {
    return encodeURIComponent(text)
      .replace(/%20/g, "+")
      .replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  }

  function formDecode(text) {
    const spaced = text.replace(/\+/g, " ");
    try {
      return decodeURIComponent(spaced);
    } catch (_) {
      return spaced;
    }
  }

  const LIST = Symbol("list");
  const OWNER = Symbol("owner");

  class URLSearchParams {
    constructor(init) {
      this[LIST] = [];
      this[OWNER] = null;
      if (init === undefined || init === null) return;
      if (typeof init === "object") {
        const source = init instanceof URLSearchParams ? init[LIST] : typeof init[Symbol.iterator] === "function" ? init : Object.entries(init);
        for (const pair of source) {
          const [name, value] = Array.from(pair);
          this[LIST].push([String(name), String(value)]);
        }
        return;
      }
      this._parse(String(init));
    }
    _parse(text) {
      this[LIST] = [];
      for (const part of (text.startsWith("?") ? text.slice(1) : text).split("&")) {
        if (part === "") continue;
        const eq = part.indexOf("=");
        const name = eq < 0 ? part : part.slice(0, eq);
        const value = eq < 0 ? "" : part.slice(eq + 1);
        this[LIST].push([formDecode(name), formDecode(value)]);
      }
    }
    _changed() {
      if (this[OWNER]) this[OWNER]._setSearchFromParams(this.toString());
    }
    get size() {
      return this[LIST].length;
    }
    append(name, value) {
      this[LIST].push([String(name), String(value)]);
      this._changed();
    }
    delete(name) {
      this[LIST] = this[LIST].filter(([n]) => n !== String(name));
      this._changed();
    }
    get(name) {
      const hit = this[LIST].find(([n]) => n === String(name));
      return hit ? hit[1] : null;
    }
    getAll(name) {
      return this[LIST].filter(([n]) => n === String(name)).map(([, v]) => v);
    }
    has(name) {
      return this[LIST].some(([n]) => n === String(name));
    }
    set(name, value) {
      name = String(name);
      const index = this[LIST].findIndex(([n]) => n === name);
      if (index < 0) {
        this[LIST].push([name, String(value)]);
      } else {
        this[LIST][index] = [name, String(value)];
        this[LIST] = this[LIST].filter(([n], i) => n !== name || i === index);
      }
      this._changed();
    }
    sort() {
      this[LIST].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      this._changed();
    }
    forEach(callback, thisArg) {
      for (const [name, value] of this[LIST]) callback.call(thisArg, value, name, this);
    }
    *entries() {
      yield* this[LIST].map(([n, v]) => [n, v]);
    }
    *keys() {
      for (const [n] of this[LIST]) yield n;
    }
    *values() {
      for (const [, v] of this[LIST]) yield v;
    }
    [Symbol.iterator]() {
      return this.entries();
    }
    toString() {
      return this[LIST].map(([n, v]) => `${formEncode(n)}=${formEncode(v)}`).join("&");
    }
  }

  const PARTS = Symbol("parts");
  const PARAMS = Symbol("params");

  class URL {
    constructor(input, base) {
      const parts = base === undefined ? natives.urlParse(String(input)) : natives.urlParse(String(input), String(base));
      if (parts === undefined) {
        throw new TypeError(`Invalid URL: ${JSON.stringify(String(input))}`);
      }
      this[PARTS] = parts;
      this[PARAMS] = new URLSearchParams(parts.search);
      this[PARAMS][OWNER] = this;
    }
    static canParse(input, base) {
      return (base === undefined ? natives.urlParse(String(input)) : natives.urlParse(String(input), String(base))) !== undefined;
    }
    _set(component, value) {
      const parts = natives.urlSet(this[PARTS].href, component, String(value));
      if (parts !== undefined) this[PARTS] = parts;
      if (component === "search" || component === "href") this[PARAMS]._parse(this[PARTS].search);
    }
    _setSearchFromParams(query) {
      this[PARTS] = natives.urlSet(this[PARTS].href, "search", query) || this[PARTS];
    }
    get href() { return this[PARTS].href; }
    set href(v) { this._set("href", v); }
    get origin() { return this[PARTS].origin; }
    get protocol() { return this[PARTS].protocol; }
    set protocol(v) { this._set("protocol", v); }
    get username() { return this[PARTS].username; }
    set username(v) { this._set("username", v); }
    get password() { return this[PARTS].password; }
    set password(v) { this._set("password", v); }
    get host() { return this[PARTS].host; }
    set host(v) { this._set("host", v); }
    get hostname() { return this[PARTS].hostname; }
    set hostname(v) { this._set("hostname", v); }
    get port() { return this[PARTS].port; }
    set port(v) { this._set("port", v); }
    get pathname() { return this[PARTS].pathname; }
    set pathname(v) { this._set("pathname", v); }
    get search() { return this[PARTS].search; }
    set search(v) { this._set("search", v); }
    get searchParams() { return this[PARAMS]; }
    get hash() { return this[PARTS].hash; }
    set hash(v) { this._set("hash", v); }
    toString() { return this.href; }
    toJSON() { return this.href; }
  }

  // ---- Headers, Response, fetch ---------------------------------------------
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
    if (body instanceof URLSearchParams) {
      if (!headers.has("content-type")) headers.set("content-type", "application/x-www-form-urlencoded;charset=UTF-8");
      return body.toString();
    }
    if (body instanceof ArrayBuffer) return body;
    if (ArrayBuffer.isView(body)) {
      return new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice().buffer;
    }
    throw new TypeError("fetch: the body must be a string, an ArrayBuffer, a typed array or URLSearchParams; use JSON.stringify for objects");
  }

  function fetch(input, init = {}) {
    return new Promise((resolve, reject) => {
      const url = input instanceof URL ? input.href : typeof input === "object" && input !== null && "url" in input ? String(input.url) : String(input);
      const method = String(init.method || (typeof input === "object" && input !== null && input.method) || "GET").toUpperCase();
      const headers = new Headers(init.headers || (typeof input === "object" && input !== null ? input.headers : undefined));
      const body = requestBody(init.body, headers);
      const id = natives.fetchStart(method, url, headers[ENTRIES], body);
      pendingFetches.set(id, { resolve, reject, url, method });
    });
  }

  // ---- the entry points the event loop uses ----------------------------------
  function errorReport(error) {
    if (error instanceof Error) {
      return { name: String(error.name), message: String(error.message), stack: error.stack === undefined ? undefined : String(error.stack) };
    }
    return { name: "", message: `a non-Error value was thrown: ${describe(error, new Set())}`, stack: undefined };
  }

  const internal = {
    findHandler(namespace) {
      if (namespace && typeof namespace.bgUpdater === "function") return namespace.bgUpdater;
      const fallback = namespace && namespace.default;
      if (fallback && typeof fallback.bgUpdater === "function") return fallback.bgUpdater;
      if (typeof fallback === "function" && fallback.name === "bgUpdater") return fallback;
      return undefined;
    },
    // Starts a run: calls the handler and watches its promise.
    start(handler, eventJson, space, pieceId) {
      unhandledRejections.clear();
      hasUncaughtError = false;
      uncaughtError = undefined;
      const run = { settled: false, ok: false, value: undefined, error: undefined };
      const ctx = Object.freeze({ space, pieceId, cells });
      try {
        const returned = handler(JSON.parse(eventJson), ctx);
        Promise.resolve(returned).then(
          (value) => {
            run.settled = true;
            run.ok = true;
            run.value = value;
          },
          (error) => {
            run.settled = true;
            run.error = error;
          },
        );
      } catch (error) {
        run.settled = true;
        run.error = error;
      }
      return run;
    },
    // Awaits a module's top-level promise the same way.
    watch(promise) {
      const run = { settled: false, ok: false, value: undefined, error: undefined };
      promise.then(
        () => {
          run.settled = true;
          run.ok = true;
        },
        (error) => {
          run.settled = true;
          run.error = error;
        },
      );
      return run;
    },
    // What went wrong outside the handler's own promise, if anything.
    takeDetachedError() {
      if (hasUncaughtError) {
        hasUncaughtError = false;
        return { origin: "uncaught", ...errorReport(uncaughtError) };
      }
      for (const [promise, reason] of unhandledRejections) {
        unhandledRejections.delete(promise);
        return { origin: "unhandled", ...errorReport(reason) };
      }
      return undefined;
    },
    errorReport,
    // The handler's value as JSON text; undefined stays undefined.
    serialize(value) {
      if (value === undefined) return { json: undefined };
      let json;
      try {
        json = JSON.stringify(value);
      } catch (error) {
        return { problem: String(error && error.message ? error.message : error) };
      }
      if (json === undefined) return { problem: `a ${typeof value} is not JSON` };
      return { json };
    },
    onRejection(promise, reason, handled) {
      if (handled) unhandledRejections.delete(promise);
      else unhandledRejections.set(promise, reason);
    },
    fetchDone(id, response, failure) {
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
    },
    timerFired(id) {
      const callback = armedTimers.get(id);
      if (!callback) return;
      armedTimers.delete(id);
      try {
        callback();
      } catch (error) {
        recordUncaught(error);
      }
    },
    // Forgets whatever a failed run left behind.
    reset() {
      pendingFetches.clear();
      armedTimers.clear();
      unhandledRejections.clear();
      hasUncaughtError = false;
      uncaughtError = undefined;
    },
  };

  const define = (name, value) => Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  define("console", console);
  define("cells", cells);
  define("setTimeout", setTimeout);
  define("clearTimeout", clearTimeout);
  define("queueMicrotask", queueMicrotask);
  define("URL", URL);
  define("URLSearchParams", URLSearchParams);
  define("Headers", Headers);
  define("Response", Response);
  define("fetch", fetch);
  globalThis.__bgwasm_internal = internal;
})();
