// The entry points the event loop (event_loop.rs, engine.rs) uses: start a
// run, watch a promise, report what went wrong outside the handler's promise,
// serialise the result, and forget everything after the run.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const describe = internal.describe;

  // Rejections nobody handled yet, as the engine's tracker reports them.
  const unhandledRejections = new Map();
  // Errors thrown by timer callbacks: nobody can catch those.
  let uncaughtError = undefined;
  let hasUncaughtError = false;

  function clearDetached() {
    unhandledRejections.clear();
    hasUncaughtError = false;
    uncaughtError = undefined;
  }

  internal.recordUncaught = function (error) {
    if (!hasUncaughtError) {
      hasUncaughtError = true;
      uncaughtError = error;
    }
  };

  function errorReport(error) {
    if (error instanceof Error) {
      return { name: String(error.name), message: String(error.message), stack: error.stack === undefined ? undefined : String(error.stack) };
    }
    if (error !== null && typeof error === "object" && typeof error.name === "string" && typeof error.message === "string") {
      // A DOMException-like value that is not an Error subclass.
      return { name: error.name, message: error.message, stack: typeof error.stack === "string" ? error.stack : undefined };
    }
    return { name: "", message: `a non-Error value was thrown: ${describe(error, new Set())}`, stack: undefined };
  }

  function watch(promise) {
    const run = { settled: false, ok: false, value: undefined, error: undefined };
    promise.then(
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
    return run;
  }

  Object.assign(internal, {
    findHandler(namespace) {
      if (namespace && typeof namespace.bgUpdater === "function") return namespace.bgUpdater;
      const fallback = namespace && namespace.default;
      if (fallback && typeof fallback.bgUpdater === "function") return fallback.bgUpdater;
      if (typeof fallback === "function" && fallback.name === "bgUpdater") return fallback;
      return undefined;
    },
    // Starts a run: calls the handler and watches its promise.
    start(handler, eventJson, space, pieceId) {
      clearDetached();
      const ctx = Object.freeze({ space, pieceId, cells: internal.cells });
      try {
        return watch(Promise.resolve(handler(JSON.parse(eventJson), ctx)));
      } catch (error) {
        return { settled: true, ok: false, value: undefined, error };
      }
    },
    // Awaits a module's top-level promise the same way.
    watch,
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
    // Forgets whatever a run left behind.
    reset() {
      const dirty = internal.dirty;
      if (dirty.size === 0) return;
      for (const hook of dirty) hook();
      dirty.clear();
    },
  });
})();
