// URL (parsed by the `url` crate through natives, WHATWG semantics) and
// URLSearchParams.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const natives = internal.natives;
  const define = internal.define;

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

  define("URLSearchParams", URLSearchParams);
  define("URL", URL);
  internal.URLSearchParams = URLSearchParams;
  internal.URL = URL;
})();
