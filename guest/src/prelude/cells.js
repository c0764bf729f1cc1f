// cells: the space's JSON documents, read and written through the host.
(function () {
  "use strict";
  const internal = globalThis.__bgwasm_internal;
  const natives = internal.natives;
  const define = internal.define;

  const cells = Object.freeze({
    get(key) {
      const text = natives.cellGet(String(key));
      return text === undefined ? undefined : JSON.parse(text);
    },
    set(key, value) {
      const text = JSON.stringify(value);
      if (text === undefined) {
        throw new TypeError(`cells.set(${JSON.stringify(String(key))}): the value is not JSON-serialisable`);
      }
      natives.cellSet(String(key), text);
    },
    delete(key) {
      natives.cellDelete(String(key));
    },
    keys() {
      return natives.cellKeys();
    },
  });

  define("cells", cells);
  internal.cells = cells;
})();
