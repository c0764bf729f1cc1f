// Headers, as the Fetch standard defines them: names are validated and
// lower-cased, values trimmed and checked, iteration is sorted and combines
// repeated names (except set-cookie, which getSetCookie keeps apart).
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const define = internal.define;

  const ENTRIES = Symbol("entries");
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

  function headerName(name, what) {
    const text = String(name);
    if (!TOKEN.test(text)) throw new TypeError(`Headers.${what}: ${JSON.stringify(text)} is not a valid header name`);
    return text.toLowerCase();
  }

  function headerValue(value, name, what) {
    const text = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    if (/[\0\r\n]/.test(text)) {
      throw new TypeError(`Headers.${what}: the value of ${JSON.stringify(name)} contains a NUL, CR or LF character`);
    }
    return text;
  }

  class Headers {
    constructor(init) {
      this[ENTRIES] = [];
      if (init === undefined || init === null) return;
      if (init instanceof Headers) {
        this[ENTRIES] = init[ENTRIES].map(([n, v]) => [n, v]);
        return;
      }
      if (typeof init !== "object" && typeof init !== "function") {
        throw new TypeError("Headers: init must be a Headers, an array of [name, value] pairs or a record");
      }
      if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          const entry = Array.from(pair);
          if (entry.length !== 2) throw new TypeError(`Headers: each entry must be a [name, value] pair, not ${entry.length} items`);
          this.append(entry[0], entry[1]);
        }
      } else {
        for (const name of Object.keys(init)) this.append(name, init[name]);
      }
    }
    append(name, value) {
      const lower = headerName(name, "append");
      this[ENTRIES].push([lower, headerValue(value, lower, "append")]);
    }
    delete(name) {
      const lower = headerName(name, "delete");
      this[ENTRIES] = this[ENTRIES].filter(([n]) => n !== lower);
    }
    get(name) {
      const lower = headerName(name, "get");
      const values = this[ENTRIES].filter(([n]) => n === lower).map(([, v]) => v);
      return values.length === 0 ? null : values.join(", ");
    }
    getSetCookie() {
      return this[ENTRIES].filter(([n]) => n === "set-cookie").map(([, v]) => v);
    }
    has(name) {
      const lower = headerName(name, "has");
      return this[ENTRIES].some(([n]) => n === lower);
    }
    set(name, value) {
      const lower = headerName(name, "set");
      const text = headerValue(value, lower, "set");
      const at = this[ENTRIES].findIndex(([n]) => n === lower);
      this[ENTRIES] = this[ENTRIES].filter(([n], i) => n !== lower || i === at);
      if (at < 0) this[ENTRIES].push([lower, text]);
      else this[ENTRIES][this[ENTRIES].findIndex(([n]) => n === lower)] = [lower, text];
    }
    forEach(callback, thisArg) {
      for (const [name, value] of this.entries()) callback.call(thisArg, value, name, this);
    }
    *entries() {
      const names = [...new Set(this[ENTRIES].map(([n]) => n))].sort();
      for (const name of names) {
        if (name === "set-cookie") {
          for (const value of this.getSetCookie()) yield [name, value];
        } else {
          yield [name, this.get(name)];
        }
      }
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
    get [Symbol.toStringTag]() {
      return "Headers";
    }
  }

  // The [name, value] pairs as given, for the host.
  internal.headerList = (headers) => headers[ENTRIES];

  define("Headers", Headers);
  internal.Headers = Headers;
})();
