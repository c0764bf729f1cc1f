// Timers: setTimeout and friends, fired by the host through the event loop.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const natives = internal.natives;
  const define = internal.define;

  // Callbacks of armed timers, by host id.
  const armedTimers = new Map();
  internal.resetHooks.push(() => armedTimers.clear());

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


  internal.timerFired = function (id) {
    const callback = armedTimers.get(id);
    if (!callback) return;
    armedTimers.delete(id);
    try {
      callback();
    } catch (error) {
      internal.recordUncaught(error);
    }
  };

  define("setTimeout", setTimeout);
  define("clearTimeout", clearTimeout);
  define("queueMicrotask", queueMicrotask);
})();
