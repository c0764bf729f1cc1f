// navigator, performance and reportError's argument check (reportError's
// effect, failing the run, is tested in tests/web_platform.rs).
test("navigator describes the sandbox", () => {
  assertEquals(navigator.userAgent, "bgwasm/0.1");
  assertEquals(navigator.hardwareConcurrency, 1);
  assertEquals(navigator.language, "en-US");
  assertEquals(navigator.languages, ["en-US"]);
  assertThrows(() => new Navigator(), TypeError, "Illegal constructor");
}, { deno: "navigator.userAgent names the runtime: bgwasm, not Deno" });

test("performance.now() counts milliseconds from the sandbox's start", async () => {
  const first = performance.now();
  assert(first >= 0 && first < 60000, `now() = ${first}`);
  await delay(30);
  const second = performance.now();
  assert(second - first >= 25, `30 ms later, now() went from ${first} to ${second}`);
  const wall = Date.now();
  assert(Math.abs(performance.timeOrigin + performance.now() - wall) < 1000, "timeOrigin + now() is about Date.now()");
  assert(Date.now() - performance.timeOrigin < 60000, "the origin is this sandbox's start");
});

test("performance.mark and measure record entries", async () => {
  performance.clearMarks();
  performance.clearMeasures();
  const start = performance.mark("start", { detail: { step: 1 } });
  assertEquals([start.name, start.entryType, start.duration, start.detail], ["start", "mark", 0, { step: 1 }]);
  await delay(20);
  performance.mark("end");
  const measure = performance.measure("work", "start", "end");
  assertEquals(measure.entryType, "measure");
  assert(measure.duration >= 15, `measured ${measure.duration}`);
  const byOptions = performance.measure("opts", { start: 10, duration: 5 });
  assertEquals([byOptions.startTime, byOptions.duration], [10, 5]);
  assertEquals(performance.getEntriesByType("mark").map((e) => e.name), ["start", "end"]);
  assertEquals(performance.getEntriesByName("work").length, 1);
  assertEquals(performance.getEntries().length, 4);
  assertThrows(() => performance.measure("bad", "no-such-mark"), "SyntaxError", "no-such-mark");
  performance.clearMarks("start");
  assertEquals(performance.getEntriesByType("mark").map((e) => e.name), ["end"]);
  assertEquals(JSON.parse(JSON.stringify(measure)).name, "work");
});

test("reportError needs an argument", () => {
  assertEquals(typeof reportError, "function");
  assertThrows(() => reportError(), TypeError, "1 argument required");
});

export async function bgUpdater(event) {
  return await runTests(event);
}
