// console: each call is one log line of the run, with its level.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const natives = internal.natives;
  const define = internal.define;

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

  internal.describe = describe;

  define("console", console);
})();
