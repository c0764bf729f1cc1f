// DOMException, Event, EventTarget and CustomEvent (DOM standard, WebIDL).
test("DOMException has a name, a message and the legacy code", () => {
  const error = new DOMException("went wrong", "NotFoundError");
  assertEquals(error.name, "NotFoundError");
  assertEquals(error.message, "went wrong");
  assertEquals(error.code, 8);
  assertEquals(new DOMException("x", "DataCloneError").code, 25);
  assertEquals(new DOMException("x", "AbortError").code, 20);
  assertEquals(new DOMException("x", "NoSuchName").code, 0);
  assertEquals(String(error), "NotFoundError: went wrong");
  assertEquals(Object.prototype.toString.call(error), "[object DOMException]");
});

test("DOMException defaults and the options form", () => {
  const plain = new DOMException();
  assertEquals([plain.name, plain.message, plain.code], ["Error", "", 0]);
  const withCause = new DOMException("m", { name: "TimeoutError", cause: 42 });
  assertEquals([withCause.name, withCause.code, withCause.cause], ["TimeoutError", 23, 42]);
});

test("DOMException is an Error with a stack and the constants", () => {
  const error = new DOMException("m", "SyntaxError");
  assert(error instanceof Error, "instanceof Error");
  assert(error instanceof DOMException, "instanceof DOMException");
  assertEquals(typeof error.stack, "string");
  assertEquals(DOMException.INDEX_SIZE_ERR, 1);
  assertEquals(DOMException.DATA_CLONE_ERR, 25);
  assertEquals(error.ABORT_ERR, 20);
  assertEquals(Object.keys(error), []);
  assertThrows(() => Object.getOwnPropertyDescriptor(DOMException.prototype, "name").get.call({}), TypeError);
});

test("Event has its type and init flags", () => {
  const event = new Event("ping", { cancelable: true, bubbles: true });
  assertEquals([event.type, event.bubbles, event.cancelable, event.composed], ["ping", true, true, false]);
  assertEquals([event.defaultPrevented, event.eventPhase, event.target, event.isTrusted], [false, Event.NONE, null, false]);
  assertEquals(typeof event.timeStamp, "number");
  event.preventDefault();
  assertEquals(event.defaultPrevented, true);
  const plain = new Event("x");
  plain.preventDefault();
  assertEquals(plain.defaultPrevented, false, "not cancelable");
  assertThrows(() => new Event(), TypeError, "1 argument required");
});

test("EventTarget dispatches to listeners in order with target and currentTarget", () => {
  const target = new EventTarget();
  const seen = [];
  target.addEventListener("go", (event) => seen.push(["a", event.target === target, event.currentTarget === target, event.eventPhase]));
  target.addEventListener("go", function (event) {
    seen.push(["b", this === target, event.type]);
  });
  target.addEventListener("other", () => seen.push("wrong"));
  const event = new Event("go");
  assertEquals(target.dispatchEvent(event), true);
  assertEquals(seen, [["a", true, true, Event.AT_TARGET], ["b", true, "go"]]);
  assertEquals(event.currentTarget, null);
  assertEquals(event.eventPhase, Event.NONE);
  assertEquals(event.target, target);
});

test("the same listener is added once, and removeEventListener removes it", () => {
  const target = new EventTarget();
  let count = 0;
  const listener = () => count++;
  target.addEventListener("x", listener);
  target.addEventListener("x", listener);
  target.addEventListener("x", listener, { capture: true });
  target.dispatchEvent(new Event("x"));
  assertEquals(count, 2);
  target.removeEventListener("x", listener);
  target.dispatchEvent(new Event("x"));
  assertEquals(count, 3);
  target.removeEventListener("x", listener, true);
  target.dispatchEvent(new Event("x"));
  assertEquals(count, 3);
});

test("once listeners run once; a signal removes its listener", () => {
  const target = new EventTarget();
  const controller = new AbortController();
  let once = 0, signalled = 0;
  target.addEventListener("x", () => once++, { once: true });
  target.addEventListener("x", () => signalled++, { signal: controller.signal });
  target.dispatchEvent(new Event("x"));
  target.dispatchEvent(new Event("x"));
  controller.abort();
  target.dispatchEvent(new Event("x"));
  assertEquals([once, signalled], [1, 2]);
  target.addEventListener("x", () => signalled++, { signal: controller.signal });
  target.dispatchEvent(new Event("x"));
  assertEquals(signalled, 2, "an aborted signal adds nothing");
  assertThrows(() => target.addEventListener("x", () => {}, { signal: {} }), TypeError, "AbortSignal");
});

test("handleEvent objects are called with the object as this", () => {
  const target = new EventTarget();
  const handler = {
    calls: [],
    handleEvent(event) {
      this.calls.push(event.type);
    },
  };
  target.addEventListener("y", handler);
  target.dispatchEvent(new Event("y"));
  assertEquals(handler.calls, ["y"]);
});

test("preventDefault makes dispatchEvent return false, except in passive listeners", () => {
  const target = new EventTarget();
  target.addEventListener("c", (event) => event.preventDefault());
  assertEquals(target.dispatchEvent(new Event("c", { cancelable: true })), false);
  const passive = new EventTarget();
  passive.addEventListener("c", (event) => event.preventDefault(), { passive: true });
  assertEquals(passive.dispatchEvent(new Event("c", { cancelable: true })), true);
});

test("stopImmediatePropagation stops the remaining listeners", () => {
  const target = new EventTarget();
  const seen = [];
  target.addEventListener("s", (event) => (seen.push(1), event.stopImmediatePropagation()));
  target.addEventListener("s", () => seen.push(2));
  target.dispatchEvent(new Event("s"));
  assertEquals(seen, [1]);
});

test("listeners added during a dispatch wait for the next one; removed ones do not run", () => {
  const target = new EventTarget();
  const seen = [];
  const second = () => seen.push("second");
  target.addEventListener("d", () => {
    seen.push("first");
    target.addEventListener("d", () => seen.push("late"));
    target.removeEventListener("d", second);
  });
  target.addEventListener("d", second);
  target.dispatchEvent(new Event("d"));
  assertEquals(seen, ["first"]);
});

test("dispatching an event twice at once is an InvalidStateError; bad arguments are TypeErrors", () => {
  const target = new EventTarget();
  const event = new Event("r");
  let inner;
  target.addEventListener("r", () => {
    try {
      target.dispatchEvent(event);
    } catch (error) {
      inner = error;
    }
  });
  target.dispatchEvent(event);
  assertEquals(inner && inner.name, "InvalidStateError");
  assertThrows(() => target.dispatchEvent({ type: "r" }), TypeError, "Event");
  assertThrows(() => target.addEventListener("r"), TypeError, "2 arguments required");
  assertThrows(() => target.addEventListener("r", 5), TypeError, "listener");
}, { deno: "Deno accepts a listener that is neither a function nor an object; the standard says TypeError" });

test("CustomEvent carries its detail; subclasses of EventTarget work", () => {
  class Emitter extends EventTarget {}
  const emitter = new Emitter();
  let detail;
  emitter.addEventListener("data", (event) => (detail = event.detail));
  emitter.dispatchEvent(new CustomEvent("data", { detail: { n: 1 } }));
  assertEquals(detail, { n: 1 });
  assertEquals(new CustomEvent("x").detail, null);
  assert(new CustomEvent("x") instanceof Event);
}, { deno: "Deno’s default detail is undefined; the standard’s is null" });

export async function bgUpdater(event) {
  return await runTests(event);
}
