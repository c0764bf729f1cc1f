// Timers: setTimeout, setInterval and queueMicrotask, fired by the host through the event loop.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const natives = internal.natives;
  const define = internal.define;

  // Callbacks of armed timers, by host id.
  const armedTimers = new Map();
  const forget = () => armedTimers.clear();
  function arm(id, timer) {
    armedTimers.set(id, timer);
    internal.dirty.add(forget);
  }

  function delayOf(delay) {
    const ms = Number(delay);
    return !Number.isFinite(ms) || ms < 0 ? 0 : Math.min(Math.floor(ms), 0x7fffffff);
  }

  function checkCallback(callback, what) {
    if (typeof callback !== "function") {
      throw new TypeError(`${what}: the callback must be a function, not ${typeof callback}`);
    }
  }

  function setTimeout(callback, delay, ...args) {
    checkCallback(callback, "setTimeout");
    const id = natives.timerStart(delayOf(delay), "once");
    arm(id, { repeat: false, fire: () => callback(...args) });
    return id;
  }

  // Where a piece's code called us: the first frame outside the prelude.
  function caller() {
    const frames = String(new Error().stack || "").split("\n");
    const frame = frames.find((line) => line.includes("at ") && !line.includes("bgwasm:prelude"));
    return frame ? frame.trim().replace(/^at /, "") : "an unknown place";
  }

  function setInterval(callback, delay, ...args) {
    checkCallback(callback, "setInterval");
    // As browsers clamp it: an interval of 0 would spin.
    const ms = Math.max(delayOf(delay), 1);
    const name = `${callback.name || "an anonymous callback"} set at ${caller()}`;
    const id = natives.timerStart(ms, "interval", name);
    arm(id, { repeat: true, fire: () => callback(...args) });
    return id;
  }

  // A timer that fires only if the run is still going: it does not keep the
  // run alive (as Deno's unrefTimer). For AbortSignal.timeout.
  internal.setUnrefTimeout = function (callback, delay) {
    const id = natives.timerStart(delayOf(delay), "unref");
    arm(id, { repeat: false, fire: callback });
    return id;
  };

  // Timeouts and intervals share one pool of ids, as on the web.
  function clearTimeout(id) {
    if (armedTimers.delete(id)) natives.timerCancel(id);
  }

  function queueMicrotask(callback) {
    checkCallback(callback, "queueMicrotask");
    Promise.resolve().then(() => callback());
  }

  internal.timerFired = function (id) {
    const timer = armedTimers.get(id);
    if (!timer) return;
    if (!timer.repeat) armedTimers.delete(id);
    try {
      timer.fire();
    } catch (error) {
      internal.recordUncaught(error);
    }
  };

  define("setTimeout", setTimeout);
  define("clearTimeout", clearTimeout);
  define("setInterval", setInterval);
  define("clearInterval", clearTimeout);
  define("queueMicrotask", queueMicrotask);
})();
