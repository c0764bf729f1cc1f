// A tiny test library, prepended to each conformance file of this folder; the
// file and this run together as one piece inside the sandbox. Each file ends
// with `export async function bgUpdater(event) { return await runTests(event); }`
// and each test gets the event: `{ echo }`, the URL of a loopback server that
// answers with the request's body (and its content type as x-echo-content-type).
//
// The same files run on Deno (scripts/conformance-on-deno.sh), which sets
// `globalThis.__onDeno`. There the messages of errors are not checked (they
// are bgwasm's own words; their types and names are), and a test that says
// `{ deno: "why" }` is where bgwasm follows the standard or browsers and Deno
// does not: its failure there is reported as a known difference.
const __tests = [];
const __TEST_TIMEOUT_MS = 10000;
const __onDeno = globalThis.__onDeno === true;

function test(name, fn, options = {}) {
  __tests.push({ name, fn, deno: options.deno });
}

class AssertionError extends Error {
  get name() {
    return "AssertionError";
  }
}

function __show(value) {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return `[function ${value.name}]`;
  if (typeof value === "symbol" || value === undefined) return String(value);
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    const tag = Object.prototype.toString.call(value).slice(8, -1);
    if (ArrayBuffer.isView(value)) return `${tag}[${Array.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)).join(",")}]`;
    if (value instanceof Map || value instanceof Set) return `${tag}(${JSON.stringify([...value])})`;
    const json = JSON.stringify(value);
    return tag === "Object" || tag === "Array" ? json : `${tag} ${json}`;
  } catch {
    return String(value);
  }
}

function assert(condition, message = undefined) {
  if (!condition) throw new AssertionError(message || "assertion failed");
}

function __equal(a, b, seen) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const key = seen.get(a);
  if (key === b) return true;
  seen.set(a, b);
  if (a instanceof Date) return Object.is(a.getTime(), b.getTime());
  if (a instanceof RegExp) return a.source === b.source && a.flags === b.flags;
  if (a instanceof ArrayBuffer) return __equal(new Uint8Array(a), new Uint8Array(b), seen);
  if (ArrayBuffer.isView(a)) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (a instanceof Map) {
    if (a.size !== b.size) return false;
    const ea = [...a], eb = [...b];
    return ea.every(([k, v], i) => __equal(k, eb[i][0], seen) && __equal(v, eb[i][1], seen));
  }
  if (a instanceof Set) return a.size === b.size && __equal([...a], [...b], seen);
  if (a instanceof Error && (a.name !== b.name || a.message !== b.message)) return false;
  if (Array.isArray(a) && a.length !== b.length) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && __equal(a[k], b[k], seen));
}

function assertEquals(actual, expected, message = undefined) {
  if (!__equal(actual, expected, new Map())) {
    throw new AssertionError(`${message ? message + ": " : ""}expected ${__show(expected)}, got ${__show(actual)}`);
  }
}

function __checkError(error, expected, messagePart, what) {
  if (typeof expected === "function" && !(error instanceof expected)) {
    throw new AssertionError(`${what}: expected a ${expected.name}, got ${__show(error)}`);
  }
  if (typeof expected === "string" && !(error !== null && typeof error === "object" && error.name === expected)) {
    throw new AssertionError(`${what}: expected an error named ${expected}, got ${__show(error)}`);
  }
  if (messagePart !== undefined && !__onDeno && !String(error && error.message).includes(messagePart)) {
    throw new AssertionError(`${what}: expected the message to contain ${JSON.stringify(messagePart)}, got ${__show(error)}`);
  }
  return error;
}

// `expected` is an error class or an error name; returns the error.
function assertThrows(fn, expected = undefined, messagePart = undefined) {
  try {
    fn();
  } catch (error) {
    return __checkError(error, expected, messagePart, "assertThrows");
  }
  throw new AssertionError(`assertThrows: expected ${expected && (expected.name || expected)} to be thrown, but nothing was`);
}

async function assertRejects(fnOrPromise, expected = undefined, messagePart = undefined) {
  try {
    await (typeof fnOrPromise === "function" ? fnOrPromise() : fnOrPromise);
  } catch (error) {
    return __checkError(error, expected, messagePart, "assertRejects");
  }
  throw new AssertionError(`assertRejects: expected ${expected && (expected.name || expected)} to be rejected with, but it resolved`);
}

// Resolves after `ms` milliseconds (a real timer of the sandbox).
function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Runs every test with the piece's event (what the Rust runner passes in).
async function runTests(event = undefined) {
  const passed = [], failed = [], differs = [];
  for (const { name, fn, deno } of __tests) {
    let timer;
    try {
      await Promise.race([
        (async () => fn(event))(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new AssertionError(`did not finish within ${__TEST_TIMEOUT_MS} ms`)), __TEST_TIMEOUT_MS);
        }),
      ]);
      passed.push(name);
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}${error.stack ? "\n" + error.stack : ""}` : __show(error);
      if (__onDeno && deno !== undefined) differs.push({ name, message, why: deno });
      else failed.push({ name, message });
    } finally {
      clearTimeout(timer);
    }
  }
  return { passed, failed, differs };
}
