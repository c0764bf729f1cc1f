// structuredClone: the HTML structured clone algorithm.
test("primitives clone to themselves", () => {
  for (const value of [1, -0, NaN, "text", true, null, undefined, 10n]) {
    assert(Object.is(structuredClone(value), value), String(value));
  }
});

test("plain objects and arrays are deep copies", () => {
  const source = { a: 1, nested: { list: [1, "two", { three: 3 }] }, empty: [] };
  const copy = structuredClone(source);
  assertEquals(copy, source);
  assert(copy !== source && copy.nested !== source.nested && copy.nested.list[2] !== source.nested.list[2]);
  const sparse = [1, , 3];
  const sparseCopy = structuredClone(sparse);
  assertEquals(sparseCopy.length, 3);
  assertEquals(1 in sparseCopy, false);
});

test("a cyclic graph keeps its cycles and shared references", () => {
  const node = { name: "root" };
  node.self = node;
  const shared = { n: 1 };
  node.children = [shared, shared];
  const copy = structuredClone(node);
  assert(copy !== node);
  assert(copy.self === copy, "the cycle points at the copy");
  assert(copy.children[0] === copy.children[1], "shared references stay shared");
  assert(copy.children[0] !== shared);
  const list = [];
  list.push(list);
  const listCopy = structuredClone(list);
  assert(listCopy[0] === listCopy);
});

test("wrappers, Date and RegExp", () => {
  const date = new Date(1700000000000);
  const copy = structuredClone({ date, re: /a+b/gi, n: new Number(3), s: new String("s"), b: new Boolean(false), big: Object(5n) });
  assert(copy.date instanceof Date && copy.date !== date);
  assertEquals(copy.date.getTime(), 1700000000000);
  assert(copy.re instanceof RegExp);
  assertEquals([copy.re.source, copy.re.flags, copy.re.lastIndex], ["a+b", "gi", 0]);
  assertEquals(typeof copy.n, "object");
  assertEquals([copy.n.valueOf(), copy.s.valueOf(), copy.b.valueOf(), copy.big.valueOf()], [3, "s", false, 5n]);
});

test("Map and Set, with object keys", () => {
  const key = { k: 1 };
  const map = new Map([[key, "v"], ["x", key]]);
  const copy = structuredClone({ map, set: new Set([1, key]) });
  assert(copy.map instanceof Map && copy.set instanceof Set);
  const [clonedKey] = copy.map.keys();
  assertEquals(clonedKey, { k: 1 });
  assert(clonedKey !== key);
  assert(copy.map.get("x") === clonedKey, "the key and the value are the same clone");
  assert([...copy.set][1] === clonedKey);
});

test("ArrayBuffer, typed arrays and DataView share one cloned buffer", () => {
  const buffer = new ArrayBuffer(8);
  const bytes = new Uint8Array(buffer);
  bytes.set([1, 2, 3, 4, 5, 6, 7, 8]);
  const words = new Uint16Array(buffer, 2, 2);
  const view = new DataView(buffer, 4);
  const copy = structuredClone({ buffer, bytes, words, view, f: new Float64Array([1.5]) });
  assert(copy.buffer !== buffer);
  assert(copy.bytes.buffer === copy.buffer && copy.words.buffer === copy.buffer && copy.view.buffer === copy.buffer);
  assert(copy.words instanceof Uint16Array && copy.view instanceof DataView);
  assertEquals([copy.words.byteOffset, copy.words.length, copy.view.byteOffset, copy.view.byteLength], [2, 2, 4, 4]);
  copy.bytes[0] = 99;
  assertEquals(bytes[0], 1, "the original is untouched");
  assertEquals(copy.f[0], 1.5);
});

test("errors keep their type, message and stack", () => {
  const error = new RangeError("out of range", { cause: { code: 1 } });
  const copy = structuredClone(error);
  assert(copy instanceof RangeError && copy !== error);
  assertEquals([copy.name, copy.message], ["RangeError", "out of range"]);
  assertEquals(copy.cause, { code: 1 });
  assertEquals(typeof copy.stack, "string");
  class MyError extends Error {}
  const custom = structuredClone(new MyError("mine"));
  assertEquals(Object.getPrototypeOf(custom), Error.prototype, "unknown error types become Error");
  const dom = structuredClone(new DOMException("gone", "NotFoundError"));
  assert(dom instanceof DOMException);
  assertEquals([dom.name, dom.message, dom.code], ["NotFoundError", "gone", 8]);
});

test("functions, symbols and other uncloneables throw DataCloneError", () => {
  const error = assertThrows(() => structuredClone(() => {}), DOMException, "could not be cloned");
  assertEquals(error.name, "DataCloneError");
  assertEquals(error.code, 25);
  assertThrows(() => structuredClone({ nested: [function named() {}] }), "DataCloneError", "named");
  assertThrows(() => structuredClone(Symbol("s")), "DataCloneError");
  assertThrows(() => structuredClone(new WeakMap()), "DataCloneError");
  assertThrows(() => structuredClone(Promise.resolve()), "DataCloneError");
  assertThrows(() => structuredClone(new AbortController()), "DataCloneError");
  assertThrows(() => structuredClone(new EventTarget()), "DataCloneError");
  assertThrows(() => structuredClone(), TypeError, "1 argument required");
}, { deno: "Deno clones an AbortController or EventTarget as a plain object; browsers throw DataCloneError" });

test("only own enumerable string keys are copied; prototypes are not", () => {
  class Point {
    constructor() {
      this.x = 1;
    }
    get sum() {
      return this.x;
    }
  }
  const source = new Point();
  Object.defineProperty(source, "hidden", { value: 1, enumerable: false });
  source[Symbol("s")] = 1;
  const copy = structuredClone(source);
  assertEquals(Object.getPrototypeOf(copy), Object.prototype);
  assertEquals(Object.getOwnPropertyNames(copy), ["x"]);
  const getter = structuredClone({ get value() { return 5; } });
  assertEquals(Object.getOwnPropertyDescriptor(getter, "value").value, 5, "getters are read");
});

test("transfer moves an ArrayBuffer and detaches the original", () => {
  const buffer = new Uint8Array([1, 2, 3]).buffer;
  const view = new Uint8Array(buffer);
  const copy = structuredClone({ view }, { transfer: [buffer] });
  assertEquals(Array.from(copy.view), [1, 2, 3]);
  assertEquals(buffer.byteLength, 0, "the original is detached");
  assertThrows(() => structuredClone(1, { transfer: [buffer, buffer] }), "DataCloneError");
  assertThrows(() => structuredClone(1, { transfer: [{}] }), "DataCloneError", "transferable");
  assertThrows(() => structuredClone(1, { transfer: 5 }), TypeError, "transfer");
});

test("a failed clone does not detach transferred buffers", () => {
  const buffer = new ArrayBuffer(4);
  assertThrows(() => structuredClone({ buffer, f() {} }, { transfer: [buffer] }), "DataCloneError");
  assertEquals(buffer.byteLength, 4);
}, { deno: "Deno detaches the buffers to transfer even when the clone then fails" });

test("a large graph clones", () => {
  const rows = [];
  for (let i = 0; i < 20000; i++) rows.push({ i, tags: ["a", "b"], when: new Date(i) });
  const copy = structuredClone(rows);
  assertEquals(copy.length, 20000);
  assertEquals(copy[19999].when.getTime(), 19999);
});

export async function bgUpdater(event) {
  return await runTests(event);
}
