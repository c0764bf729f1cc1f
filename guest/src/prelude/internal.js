// The prelude's shared core. Every file of the prelude is one IIFE, evaluated
// in the order engine.rs lists them; they share `__bgwasm_internal`: the
// natives, `define` for globals, the run's bookkeeping hooks, and the classes
// other files build on (so a piece that replaces a global cannot break them).
// prelude.rs removes `__bgwasm_internal` and `__bgwasm_natives` at the end.
(function () {
  "use strict";
  const internal = {
    natives: globalThis.__bgwasm_natives,
    // A global as the web defines them: writable, configurable, not enumerable.
    define(name, value) {
      Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
    },
    // What `reset` calls after a run to forget what it left behind: each
    // part of the prelude adds its hook when it first holds state for a run,
    // so a run that started nothing resets nothing (a call into JavaScript
    // costs the run thousands of instructions).
    dirty: new Set(),
    // Platform classes whose instances structuredClone refuses.
    uncloneable: [],
    // Parts of the prelude that are evaluated on first use (prelude.rs,
    // `LAZY`): until then their globals are accessors that load them, so a
    // fresh sandbox pays neither memory nor start-up time for APIs its pieces
    // never touch. The other files reach them through `load(group)`, and
    // check `loaded(group)` before an `instanceof`.
    lazy(group, names) {
      groups.set(group, false);
      for (const name of names) {
        Object.defineProperty(globalThis, name, {
          configurable: true,
          enumerable: false,
          get() {
            internal.load(group);
            const loaded = Object.getOwnPropertyDescriptor(globalThis, name);
            return loaded && "value" in loaded ? loaded.value : undefined;
          },
          set(value) {
            internal.define(name, value);
          },
        });
      }
    },
    load(group) {
      if (groups.get(group) === false) {
        groups.set(group, true);
        internal.natives.loadPrelude(group, internal);
      }
      return internal;
    },
    loaded: (group) => groups.get(group) === true,
  };
  const groups = new Map();
  globalThis.__bgwasm_internal = internal;
})();
