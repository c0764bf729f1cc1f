// AbortController and AbortSignal (DOM standard).
test("abort() aborts the signal with an AbortError, once", () => {
  const controller = new AbortController();
  const signal = controller.signal;
  assertEquals([signal.aborted, signal.reason], [false, undefined]);
  let events = 0, handler = 0;
  signal.addEventListener("abort", (event) => {
    events++;
    assertEquals(event.type, "abort");
    assertEquals(event.isTrusted, true);
    assert(signal.aborted, "aborted before the event");
  });
  signal.onabort = () => handler++;
  controller.abort();
  controller.abort("again");
  assertEquals([events, handler], [1, 1]);
  assert(signal.reason instanceof DOMException);
  assertEquals(signal.reason.name, "AbortError");
  assertEquals(signal.reason.code, 20);
  assertThrows(() => signal.throwIfAborted(), "AbortError");
});

test("abort(reason) keeps the reason as it is", () => {
  const controller = new AbortController();
  const reason = { why: "done" };
  controller.abort(reason);
  assertEquals(controller.signal.reason === reason, true);
  try {
    controller.signal.throwIfAborted();
    throw new Error("did not throw");
  } catch (error) {
    assert(error === reason, "throwIfAborted throws the reason");
  }
});

test("onabort is null until set and can be replaced", () => {
  const controller = new AbortController();
  assertEquals(controller.signal.onabort, null);
  const calls = [];
  controller.signal.onabort = () => calls.push("first");
  controller.signal.onabort = () => calls.push("second");
  controller.abort();
  assertEquals(calls, ["second"]);
});

test("AbortSignal.abort() is already aborted", () => {
  const signal = AbortSignal.abort();
  assertEquals(signal.aborted, true);
  assertEquals(signal.reason.name, "AbortError");
  assertEquals(AbortSignal.abort(7).reason, 7);
  assertThrows(() => signal.throwIfAborted(), "AbortError");
});

test("AbortSignal cannot be constructed, and is an EventTarget", () => {
  assertThrows(() => new AbortSignal(), TypeError, "Illegal constructor");
  assert(new AbortController().signal instanceof EventTarget);
});

test("AbortSignal.timeout aborts with a TimeoutError", async () => {
  const signal = AbortSignal.timeout(10);
  assertEquals(signal.aborted, false);
  await new Promise((resolve) => signal.addEventListener("abort", resolve));
  assertEquals(signal.reason.name, "TimeoutError");
  assertEquals(signal.reason.code, 23);
  assertThrows(() => AbortSignal.timeout(-1), TypeError, "milliseconds");
  assertThrows(() => AbortSignal.timeout(NaN), TypeError, "milliseconds");
});

test("AbortSignal.any follows the first of its signals to abort", () => {
  const a = new AbortController(), b = new AbortController();
  const any = AbortSignal.any([a.signal, b.signal]);
  const order = [];
  b.signal.addEventListener("abort", () => order.push(["b", any.aborted]));
  any.addEventListener("abort", () => order.push(["any", any.reason]));
  assertEquals(any.aborted, false);
  b.abort("because");
  a.abort("later");
  assertEquals(any.reason, "because");
  assertEquals(order, [["b", true], ["any", "because"]]);
});

test("AbortSignal.any of an aborted signal is aborted at once; of none, never", () => {
  const any = AbortSignal.any([new AbortController().signal, AbortSignal.abort("early")]);
  assertEquals([any.aborted, any.reason], [true, "early"]);
  assertEquals(AbortSignal.any([]).aborted, false);
  const nested = new AbortController();
  const outer = AbortSignal.any([AbortSignal.any([nested.signal])]);
  nested.abort("deep");
  assertEquals(outer.reason, "deep");
  assertThrows(() => AbortSignal.any([{}]), TypeError, "AbortSignal");
  assertThrows(() => AbortSignal.any(5), TypeError, "iterable");
});

export async function bgUpdater(event) {
  return await runTests(event);
}
