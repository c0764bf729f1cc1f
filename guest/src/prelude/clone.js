// structuredClone: the HTML structured clone algorithm (serialize and
// deserialize in one pass), with `transfer` of ArrayBuffers.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const DOMException = internal.DOMException;

  const getter = (prototype, name) => Object.getOwnPropertyDescriptor(prototype, name).get;
  const typedArrayTag = getter(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag);
  const bufferLength = getter(ArrayBuffer.prototype, "byteLength");
  const dataViewBuffer = getter(DataView.prototype, "buffer");
  const regExpSource = getter(RegExp.prototype, "source");
  const ERRORS = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
  const UNCLONEABLE = ["WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry", "Promise", "Generator", "AsyncGenerator", "Proxy"];

  // Whether `check` accepts `value` as its receiver: the internal-slot test.
  function has(check, value) {
    try {
      check.call(value);
      return true;
    } catch {
      return false;
    }
  }

  function uncloneable(value) {
    let text;
    try {
      text = typeof value === "function" ? `function ${value.name || "(anonymous)"}` : typeof value === "symbol" ? value.toString() : Object.prototype.toString.call(value);
    } catch {
      text = typeof value;
    }
    return new DOMException(`structuredClone: ${text} could not be cloned`, "DataCloneError");
  }

  function isError(value) {
    return typeof Error.isError === "function" ? Error.isError(value) : value instanceof Error;
  }

  function cloneBuffer(buffer) {
    if (buffer.detached) throw new DOMException("structuredClone: an ArrayBuffer is detached and could not be cloned", "DataCloneError");
    if (!buffer.resizable) return buffer.slice(0);
    const copy = new ArrayBuffer(buffer.byteLength, { maxByteLength: buffer.maxByteLength });
    new Uint8Array(copy).set(new Uint8Array(buffer));
    return copy;
  }

  function clone(value, memory) {
    if (typeof value === "symbol") throw uncloneable(value);
    if ((typeof value !== "object" && typeof value !== "function") || value === null) return value;
    if (memory.has(value)) return memory.get(value);
    if (typeof value === "function") throw uncloneable(value);
    const copy = cloneShell(value, memory);
    if (copy !== undefined) return copy;
    // A plain object or array: its own enumerable string-keyed properties.
    const target = Array.isArray(value) ? new Array(value.length) : {};
    memory.set(value, target);
    for (const key of Object.keys(value)) {
      if (Object.prototype.hasOwnProperty.call(value, key)) target[key] = clone(value[key], memory);
    }
    return target;
  }

  // The clone of an object with internal slots (remembered in `memory`), or
  // undefined for a plain object. The tag is only a hint: each branch checks
  // the internal slot itself.
  function cloneShell(value, memory) {
    const remember = (result) => (memory.set(value, result), result);
    const tag = Object.prototype.toString.call(value).slice(8, -1);
    switch (tag) {
      case "Boolean":
      case "Number":
      case "BigInt":
      case "String": {
        const valueOf = globalThis[tag].prototype.valueOf;
        if (has(valueOf, value)) return remember(Object(valueOf.call(value)));
        break;
      }
      case "Date":
        if (has(Date.prototype.getTime, value)) return remember(new Date(Date.prototype.getTime.call(value)));
        break;
      case "RegExp":
        if (value !== RegExp.prototype && has(regExpSource, value)) return remember(new RegExp(regExpSource.call(value), value.flags));
        break;
      case "ArrayBuffer":
        if (has(bufferLength, value)) return remember(cloneBuffer(value));
        break;
      case "DataView":
        if (has(dataViewBuffer, value)) return remember(new DataView(clone(dataViewBuffer.call(value), memory), value.byteOffset, value.byteLength));
        break;
      case "Map":
        if (has(Map.prototype.has, value)) {
          const copy = remember(new Map());
          for (const [k, v] of [...Map.prototype.entries.call(value)]) copy.set(clone(k, memory), clone(v, memory));
          return copy;
        }
        break;
      case "Set":
        if (has(Set.prototype.has, value)) {
          const copy = remember(new Set());
          for (const v of [...Set.prototype.values.call(value)]) copy.add(clone(v, memory));
          return copy;
        }
        break;
      case "DOMException":
        if (value instanceof DOMException) return remember(cloneErrorExtras(value, new DOMException(value.message, value.name), memory));
        break;
      case "Error":
        if (isError(value)) {
          const name = value.name;
          const Kind = Object.prototype.hasOwnProperty.call(ERRORS, name) ? ERRORS[name] : Error;
          const message = Object.getOwnPropertyDescriptor(value, "message");
          const copy = remember(Object.create(Kind.prototype));
          if (message && "value" in message) {
            Object.defineProperty(copy, "message", { value: String(message.value), writable: true, configurable: true });
          }
          return cloneErrorExtras(value, copy, memory);
        }
        break;
      default:
        if (typedArrayTag.call(value) !== undefined) {
          const buffer = clone(value.buffer, memory);
          return remember(new globalThis[typedArrayTag.call(value)](buffer, value.byteOffset, value.length));
        }
        if (UNCLONEABLE.includes(tag) || tag.endsWith("Iterator")) throw uncloneable(value);
    }
    if (internal.loaded("blob") && value instanceof internal.Blob) return remember(internal.cloneBlob(value));
    for (const platform of internal.uncloneable) if (value instanceof platform) throw uncloneable(value);
    return undefined;
  }

  function cloneErrorExtras(value, copy, memory) {
    const stack = value.stack;
    if (typeof stack === "string") Object.defineProperty(copy, "stack", { value: stack, writable: true, configurable: true });
    const cause = Object.getOwnPropertyDescriptor(value, "cause");
    if (cause && "value" in cause) {
      Object.defineProperty(copy, "cause", { value: clone(cause.value, memory), writable: true, configurable: true });
    }
    return copy;
  }

  function structuredClone(value, options = undefined) {
    internal.requireArgs(arguments.length, 1, "structuredClone");
    if (options !== undefined && options !== null && typeof options !== "object") {
      throw new TypeError("structuredClone: the options must be an object such as { transfer: [buffer] }");
    }
    const transfer = options && options.transfer !== undefined ? options.transfer : [];
    if (transfer === null || typeof transfer !== "object" || typeof transfer[Symbol.iterator] !== "function") {
      throw new TypeError("structuredClone: the 'transfer' option must be an array of ArrayBuffers");
    }
    const memory = new Map();
    const buffers = [];
    for (const item of transfer) {
      if (item === null || (typeof item !== "object" && typeof item !== "function")) {
        throw new TypeError("structuredClone: every value in 'transfer' must be an object");
      }
      if (!has(bufferLength, item)) throw new DOMException(`structuredClone: ${Object.prototype.toString.call(item)} is not transferable; only ArrayBuffers are`, "DataCloneError");
      if (buffers.includes(item)) throw new DOMException("structuredClone: an ArrayBuffer is listed twice in 'transfer'", "DataCloneError");
      buffers.push(item);
      memory.set(item, cloneBuffer(item));
    }
    const result = clone(value, memory);
    // The transferred buffers are detached once the clone succeeded.
    for (const buffer of buffers) if (typeof buffer.transfer === "function") buffer.transfer();
    return result;
  }

  // Platform objects that are not serializable; later files add theirs.
  internal.uncloneable.push(...["EventTarget", "Event", "AbortController", "URL", "URLSearchParams", "Headers", "Request", "Response"].map((name) => internal[name]).filter(Boolean));
  internal.structuredClone = structuredClone;
  internal.define("structuredClone", structuredClone);
})();
