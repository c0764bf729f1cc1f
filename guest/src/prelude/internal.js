// The prelude's shared core. Every file of the prelude is one IIFE, evaluated
// in the order engine.rs lists them; they share `__bgwasm_internal`: the
// natives, `define` for globals, the run's bookkeeping hooks, and the classes
// other files build on (so a piece that replaces a global cannot break them).
// engine.rs removes `__bgwasm_internal` and `__bgwasm_natives` at the end.
(function () {
  "use strict";
  const internal = {
    natives: globalThis.__bgwasm_natives,
    // A global as the web defines them: writable, configurable, not enumerable.
    define(name, value) {
      Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
    },
    // Called by `reset` after every run, to forget what it left behind.
    resetHooks: [],
  };
  globalThis.__bgwasm_internal = internal;
})();
