// DOMException, Event, EventTarget and CustomEvent, as the DOM standard and
// WebIDL define them. A listener that throws is reported like an uncaught
// error (the run fails), as in Deno.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const define = internal.define;

  // The legacy codes of the names that have one (WebIDL).
  const CODES = {
    IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4, InvalidCharacterError: 5,
    NoModificationAllowedError: 7, NotFoundError: 8, NotSupportedError: 9, InUseAttributeError: 10,
    InvalidStateError: 11, SyntaxError: 12, InvalidModificationError: 13, NamespaceError: 14,
    InvalidAccessError: 15, TypeMismatchError: 17, SecurityError: 18, NetworkError: 19, AbortError: 20,
    URLMismatchError: 21, QuotaExceededError: 22, TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
  };
  const CONSTANTS = [
    "INDEX_SIZE_ERR", "DOMSTRING_SIZE_ERR", "HIERARCHY_REQUEST_ERR", "WRONG_DOCUMENT_ERR", "INVALID_CHARACTER_ERR",
    "NO_DATA_ALLOWED_ERR", "NO_MODIFICATION_ALLOWED_ERR", "NOT_FOUND_ERR", "NOT_SUPPORTED_ERR", "INUSE_ATTRIBUTE_ERR",
    "INVALID_STATE_ERR", "SYNTAX_ERR", "INVALID_MODIFICATION_ERR", "NAMESPACE_ERR", "INVALID_ACCESS_ERR",
    "VALIDATION_ERR", "TYPE_MISMATCH_ERR", "SECURITY_ERR", "NETWORK_ERR", "ABORT_ERR", "URL_MISMATCH_ERR",
    "QUOTA_EXCEEDED_ERR", "TIMEOUT_ERR", "INVALID_NODE_TYPE_ERR", "DATA_CLONE_ERR",
  ];

  class DOMException extends Error {
    #name;
    #message;
    constructor(message = "", options = "Error") {
      super();
      this.#message = String(message);
      if (options !== null && typeof options === "object") {
        this.#name = options.name === undefined ? "Error" : String(options.name);
        if ("cause" in options) {
          Object.defineProperty(this, "cause", { value: options.cause, writable: true, configurable: true, enumerable: false });
        }
      } else {
        this.#name = String(options);
      }
    }
    get name() {
      return this.#name;
    }
    get message() {
      return this.#message;
    }
    get code() {
      return CODES[this.#name] || 0;
    }
  }
  CONSTANTS.forEach((name, index) => {
    const descriptor = { value: index + 1, enumerable: true };
    Object.defineProperty(DOMException, name, descriptor);
    Object.defineProperty(DOMException.prototype, name, descriptor);
  });
  Object.defineProperty(DOMException.prototype, Symbol.toStringTag, { value: "DOMException", configurable: true });

  // The number of arguments a web API needs, checked as WebIDL does.
  internal.requireArgs = function (given, needed, what) {
    if (given < needed) {
      throw new TypeError(`${what}: ${needed} argument${needed === 1 ? "" : "s"} required, but only ${given} present`);
    }
  };

  const NONE = 0, AT_TARGET = 2;
  let eventState;

  class Event {
    #state;
    constructor(type, init = undefined) {
      internal.requireArgs(arguments.length, 1, `Failed to construct '${new.target.name}'`);
      if (init !== undefined && init !== null && typeof init !== "object") {
        throw new TypeError(`Failed to construct '${new.target.name}': the event init must be an object`);
      }
      init = init || {};
      this.#state = {
        type: String(type), bubbles: !!init.bubbles, cancelable: !!init.cancelable, composed: !!init.composed,
        canceled: false, stop: false, stopNow: false, passive: false, dispatching: false, trusted: false,
        target: null, currentTarget: null, phase: NONE, timeStamp: internal.now ? internal.now() : 0,
      };
    }
    static {
      eventState = (event) => event.#state;
    }
    get type() { return this.#state.type; }
    get bubbles() { return this.#state.bubbles; }
    get cancelable() { return this.#state.cancelable; }
    get composed() { return this.#state.composed; }
    get defaultPrevented() { return this.#state.canceled; }
    get target() { return this.#state.target; }
    get srcElement() { return this.#state.target; }
    get currentTarget() { return this.#state.currentTarget; }
    get eventPhase() { return this.#state.phase; }
    get timeStamp() { return this.#state.timeStamp; }
    get isTrusted() { return this.#state.trusted; }
    get cancelBubble() { return this.#state.stop; }
    set cancelBubble(value) { if (value) this.#state.stop = true; }
    get returnValue() { return !this.#state.canceled; }
    set returnValue(value) { if (!value) this.preventDefault(); }
    composedPath() {
      return this.#state.dispatching ? [this.#state.currentTarget] : [];
    }
    preventDefault() {
      if (this.#state.cancelable && !this.#state.passive) this.#state.canceled = true;
    }
    stopPropagation() {
      this.#state.stop = true;
    }
    stopImmediatePropagation() {
      this.#state.stop = this.#state.stopNow = true;
    }
  }
  ["NONE", "CAPTURING_PHASE", "AT_TARGET", "BUBBLING_PHASE"].forEach((name, value) => {
    Object.defineProperty(Event, name, { value, enumerable: true });
    Object.defineProperty(Event.prototype, name, { value, enumerable: true });
  });

  class CustomEvent extends Event {
    #detail;
    constructor(type, init = undefined) {
      super(type, init);
      this.#detail = init && init.detail !== undefined ? init.detail : null;
    }
    get detail() {
      return this.#detail;
    }
  }

  function listenerOptions(options, what) {
    if (typeof options === "boolean" || options === undefined || options === null) return { capture: !!options };
    if (typeof options !== "object") return { capture: !!options };
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof internal.AbortSignal)) {
      throw new TypeError(`${what}: the 'signal' option must be an AbortSignal`);
    }
    return { capture: !!options.capture, once: !!options.once, passive: !!options.passive, signal };
  }

  class EventTarget {
    #listeners = new Map();
    addEventListener(type, callback, options = undefined) {
      internal.requireArgs(arguments.length, 2, "EventTarget.addEventListener");
      const flags = listenerOptions(options, "EventTarget.addEventListener");
      if (callback === null || callback === undefined) return;
      if (typeof callback !== "function" && typeof callback !== "object") {
        throw new TypeError("EventTarget.addEventListener: the listener must be a function or an object with a handleEvent method");
      }
      if (flags.signal && flags.signal.aborted) return;
      type = String(type);
      let list = this.#listeners.get(type);
      if (!list) this.#listeners.set(type, (list = []));
      if (list.some((l) => l.callback === callback && l.capture === flags.capture)) return;
      const listener = { callback, ...flags, removed: false };
      list.push(listener);
      if (flags.signal) internal.onAbort(flags.signal, () => this.#remove(type, listener));
    }
    removeEventListener(type, callback, options = undefined) {
      internal.requireArgs(arguments.length, 2, "EventTarget.removeEventListener");
      const capture = listenerOptions(options, "EventTarget.removeEventListener").capture;
      const list = this.#listeners.get(String(type));
      const listener = list && list.find((l) => l.callback === callback && l.capture === capture);
      if (listener) this.#remove(String(type), listener);
    }
    #remove(type, listener) {
      listener.removed = true;
      const list = this.#listeners.get(type);
      const index = list ? list.indexOf(listener) : -1;
      if (index >= 0) list.splice(index, 1);
      if (list && list.length === 0) this.#listeners.delete(type);
    }
    dispatchEvent(event) {
      internal.requireArgs(arguments.length, 1, "EventTarget.dispatchEvent");
      if (!(event instanceof Event)) throw new TypeError("EventTarget.dispatchEvent: the argument must be an Event");
      const state = eventState(event);
      if (state.dispatching) {
        throw new DOMException("EventTarget.dispatchEvent: the event is already being dispatched", "InvalidStateError");
      }
      state.dispatching = true;
      state.target = state.currentTarget = this;
      state.phase = AT_TARGET;
      const list = this.#listeners.get(state.type);
      for (const listener of list ? list.slice() : []) {
        if (listener.removed) continue;
        if (listener.once) this.#remove(state.type, listener);
        state.passive = !!listener.passive;
        try {
          const callback = listener.callback;
          if (typeof callback === "function") {
            callback.call(this, event);
          } else {
            const handleEvent = callback.handleEvent;
            if (typeof handleEvent !== "function") throw new TypeError(`the listener for '${state.type}' has no handleEvent method`);
            handleEvent.call(callback, event);
          }
        } catch (error) {
          internal.recordUncaught(error);
        }
        state.passive = false;
        if (state.stopNow) break;
      }
      state.phase = NONE;
      state.currentTarget = null;
      state.dispatching = state.stop = state.stopNow = false;
      return !state.canceled;
    }
  }

  // An `on<type>` event handler attribute on a prototype, as HTML defines them.
  internal.defineEventHandler = function (prototype, type) {
    const handlers = new WeakMap();
    Object.defineProperty(prototype, `on${type}`, {
      configurable: true,
      enumerable: true,
      get() {
        const entry = handlers.get(this);
        return entry ? entry.handler : null;
      },
      set(value) {
        const handler = typeof value === "function" || (value !== null && typeof value === "object") ? value : null;
        let entry = handlers.get(this);
        if (!entry) {
          if (handler === null) return;
          entry = { handler: null };
          handlers.set(this, entry);
          this.addEventListener(type, function (event) {
            return typeof entry.handler === "function" ? entry.handler.call(this, event) : undefined;
          });
        }
        entry.handler = handler;
      },
    });
  };
  internal.eventState = (event) => eventState(event);

  Object.assign(internal, { DOMException, Event, EventTarget, CustomEvent });
  define("DOMException", DOMException);
  define("Event", Event);
  define("EventTarget", EventTarget);
  define("CustomEvent", CustomEvent);
})();
