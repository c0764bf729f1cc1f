// reportError, navigator and performance (High Resolution Time and User
// Timing). Time origin: the run's first use of the clock (a run is to a
// piece what a process is to a Deno script), so a run's clock readings are
// all its own and a replay reproduces them; marks and measures last one run.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const define = internal.define;

  // A monotonic clock if the engine has one, else the wall clock.
  const native = globalThis.performance && typeof globalThis.performance.now === "function" ? globalThis.performance : null;
  const clock = native ? () => native.now() : () => Date.now();
  let origin = undefined;
  let originWall = 0;
  const resetClock = () => {
    origin = undefined;
  };
  function startClock() {
    origin = clock();
    originWall = Date.now();
    internal.dirty.add(resetClock);
  }
  internal.now = function () {
    if (origin === undefined) startClock();
    return clock() - origin;
  };
  const entries = [];
  const forget = () => {
    entries.length = 0;
  };
  function record(entry) {
    entries.push(entry);
    internal.dirty.add(forget);
  }

  function reportError(error) {
    internal.requireArgs(arguments.length, 1, "reportError");
    internal.recordUncaught(error);
  }

  const ILLEGAL = Symbol("illegal constructor");
  class Navigator {
    constructor(key) {
      if (key !== ILLEGAL) throw new TypeError("Illegal constructor");
    }
    get userAgent() { return "bgwasm/0.1"; }
    get hardwareConcurrency() { return 1; }
    get language() { return "en-US"; }
    get languages() { return ["en-US"]; }
  }

  class PerformanceEntry {
    #data;
    constructor(key, data) {
      if (key !== ILLEGAL) throw new TypeError("Illegal constructor");
      this.#data = data;
    }
    get name() { return this.#data.name; }
    get entryType() { return this.#data.entryType; }
    get startTime() { return this.#data.startTime; }
    get duration() { return this.#data.duration; }
    get detail() { return this.#data.detail; }
    toJSON() {
      const { name, entryType, startTime, duration, detail } = this.#data;
      return { name, entryType, startTime, duration, detail };
    }
  }
  class PerformanceMark extends PerformanceEntry {
    constructor(name, options = undefined) {
      internal.requireArgs(arguments.length, 1, "Failed to construct 'PerformanceMark'");
      const startTime = options && options.startTime !== undefined ? Number(options.startTime) : internal.now();
      if (!(startTime >= 0)) throw new TypeError(`PerformanceMark: startTime must be a non-negative number, not ${options.startTime}`);
      const detail = options && options.detail !== undefined ? internal.load("clone").structuredClone(options.detail) : null;
      super(ILLEGAL, { name: String(name), entryType: "mark", startTime, duration: 0, detail });
    }
  }
  class PerformanceMeasure extends PerformanceEntry {}

  function markTime(name, what) {
    if (typeof name === "number") {
      if (name < 0) throw new TypeError(`${what}: a time must not be negative, not ${name}`);
      return name;
    }
    for (let i = entries.length - 1; i >= 0; i--) {
      if (entries[i].entryType === "mark" && entries[i].name === name) return entries[i].startTime;
    }
    throw new internal.DOMException(`${what}: there is no mark named '${name}'`, "SyntaxError");
  }

  class Performance extends internal.EventTarget {
    constructor(key) {
      if (key !== ILLEGAL) throw new TypeError("Illegal constructor");
      super();
    }
    now() {
      return internal.now();
    }
    get timeOrigin() {
      if (origin === undefined) startClock();
      return originWall;
    }
    mark(name, options = undefined) {
      internal.requireArgs(arguments.length, 1, "performance.mark");
      const mark = new PerformanceMark(name, options);
      record(mark);
      return mark;
    }
    measure(name, start = undefined, end = undefined) {
      internal.requireArgs(arguments.length, 1, "performance.measure");
      const what = "performance.measure";
      let startTime = 0, endTime, detail = null;
      if (start !== null && typeof start === "object") {
        if (end !== undefined) throw new TypeError(`${what}: pass either options or an end mark, not both`);
        if (start.start === undefined && start.end === undefined) throw new TypeError(`${what}: the options need a start or an end`);
        if (start.duration !== undefined && start.start !== undefined && start.end !== undefined) {
          throw new TypeError(`${what}: the options cannot have start, end and duration together`);
        }
        const duration = start.duration === undefined ? undefined : Number(start.duration);
        endTime = start.end !== undefined ? markTime(start.end, what) : start.start !== undefined && duration !== undefined ? markTime(start.start, what) + duration : internal.now();
        startTime = start.start !== undefined ? markTime(start.start, what) : duration !== undefined ? endTime - duration : 0;
        detail = start.detail === undefined ? null : internal.load("clone").structuredClone(start.detail);
      } else {
        if (start !== undefined) startTime = markTime(String(start), what);
        endTime = end === undefined ? internal.now() : markTime(String(end), what);
      }
      const measure = new PerformanceMeasure(ILLEGAL, { name: String(name), entryType: "measure", startTime, duration: endTime - startTime, detail });
      record(measure);
      return measure;
    }
    getEntries() {
      return entries.slice();
    }
    getEntriesByType(type) {
      return entries.filter((entry) => entry.entryType === String(type));
    }
    getEntriesByName(name, type = undefined) {
      return entries.filter((entry) => entry.name === String(name) && (type === undefined || entry.entryType === String(type)));
    }
    clearMarks(name = undefined) {
      this.#clear("mark", name);
    }
    clearMeasures(name = undefined) {
      this.#clear("measure", name);
    }
    #clear(type, name) {
      const kept = entries.filter((entry) => entry.entryType !== type || (name !== undefined && entry.name !== String(name)));
      entries.length = 0;
      entries.push(...kept);
    }
    toJSON() {
      return { timeOrigin: this.timeOrigin };
    }
  }

  internal.uncloneable.push(Navigator, Performance, PerformanceEntry);
  define("reportError", reportError);
  define("navigator", new Navigator(ILLEGAL));
  define("Navigator", Navigator);
  define("performance", new Performance(ILLEGAL));
  define("Performance", Performance);
  define("PerformanceEntry", PerformanceEntry);
  define("PerformanceMark", PerformanceMark);
  define("PerformanceMeasure", PerformanceMeasure);
})();
