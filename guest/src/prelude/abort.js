// AbortController and AbortSignal (DOM standard), with AbortSignal.abort,
// .timeout and .any. `internal.onAbort(signal, fn)` runs fn when the signal
// aborts, before its abort event, for the other web APIs that take a signal.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const define = internal.define;
  const { DOMException, Event, EventTarget } = internal;
  const ILLEGAL = Symbol("illegal constructor");

  let signalState;

  class AbortSignal extends EventTarget {
    #state = { aborted: false, reason: undefined, algorithms: new Set(), sources: null, dependents: new Set() };
    constructor(key) {
      if (key !== ILLEGAL) throw new TypeError("Illegal constructor: use new AbortController().signal or AbortSignal.abort()");
      super();
    }
    static {
      signalState = (signal) => signal.#state;
    }
    static abort(reason = undefined) {
      const signal = new AbortSignal(ILLEGAL);
      markAborted(signal, reason);
      return signal;
    }
    static timeout(milliseconds) {
      internal.requireArgs(arguments.length, 1, "AbortSignal.timeout");
      const ms = Number(milliseconds);
      if (!Number.isFinite(ms) || ms < 0 || ms > Number.MAX_SAFE_INTEGER) {
        throw new TypeError(`AbortSignal.timeout: the delay must be a number of milliseconds between 0 and 2^53 - 1, not ${String(milliseconds)}`);
      }
      const signal = new AbortSignal(ILLEGAL);
      // An unreferenced timer: it does not keep the run going (as in Deno).
      internal.setUnrefTimeout(() => signalAbort(signal, new DOMException("Signal timed out.", "TimeoutError")), Math.min(Math.floor(ms), 0x7fffffff));
      return signal;
    }
    static any(signals) {
      internal.requireArgs(arguments.length, 1, "AbortSignal.any");
      if (signals === null || typeof signals !== "object" || typeof signals[Symbol.iterator] !== "function") {
        throw new TypeError("AbortSignal.any: the argument must be an iterable of AbortSignals");
      }
      const list = Array.from(signals, (signal) => {
        if (!(signal instanceof AbortSignal)) throw new TypeError("AbortSignal.any: every element must be an AbortSignal");
        return signal;
      });
      const result = new AbortSignal(ILLEGAL);
      const state = result.#state;
      const aborted = list.find((signal) => signal.aborted);
      if (aborted) {
        markAborted(result, aborted.reason);
        return result;
      }
      state.sources = new Set();
      for (const signal of list) {
        const source = signal.#state;
        for (const root of source.sources || [source]) {
          state.sources.add(root);
          root.dependents.add(result);
        }
      }
      return result;
    }
    get aborted() {
      return this.#state.aborted;
    }
    get reason() {
      return this.#state.reason;
    }
    throwIfAborted() {
      if (this.#state.aborted) throw this.#state.reason;
    }
  }
  internal.defineEventHandler(AbortSignal.prototype, "abort");

  function markAborted(signal, reason) {
    const state = signalState(signal);
    state.aborted = true;
    state.reason = reason === undefined ? new DOMException("The signal has been aborted", "AbortError") : reason;
    for (const source of state.sources || []) source.dependents.delete(signal);
  }

  function runAbortSteps(signal) {
    const state = signalState(signal);
    const algorithms = [...state.algorithms];
    state.algorithms.clear();
    for (const algorithm of algorithms) {
      try {
        algorithm();
      } catch (error) {
        internal.recordUncaught(error);
      }
    }
    const event = new Event("abort");
    internal.eventState(event).trusted = true;
    signal.dispatchEvent(event);
  }

  function signalAbort(signal, reason) {
    const state = signalState(signal);
    if (state.aborted) return;
    markAborted(signal, reason);
    const dependents = [];
    for (const dependent of state.dependents) {
      if (signalState(dependent).aborted) continue;
      markAborted(dependent, state.reason);
      dependents.push(dependent);
    }
    state.dependents.clear();
    runAbortSteps(signal);
    dependents.forEach(runAbortSteps);
  }

  class AbortController {
    #signal = new AbortSignal(ILLEGAL);
    get signal() {
      return this.#signal;
    }
    abort(reason = undefined) {
      signalAbort(this.#signal, reason);
    }
  }

  // Runs `algorithm` once when `signal` aborts; returns a function that
  // forgets it.
  internal.onAbort = function (signal, algorithm) {
    const state = signalState(signal);
    if (state.aborted) return () => {};
    state.algorithms.add(algorithm);
    return () => state.algorithms.delete(algorithm);
  };

  Object.assign(internal, { AbortSignal, AbortController });
  define("AbortSignal", AbortSignal);
  define("AbortController", AbortController);
})();
