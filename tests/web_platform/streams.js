// WHATWG Streams: readable, writable and transform streams, strategies, pipes
// and the text streams.
async function readAll(stream) {
  const reader = stream.getReader();
  const chunks = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return chunks;
    chunks.push(value);
  }
}

function bytesOf(text) {
  return new TextEncoder().encode(text);
}

test("a started stream reads its enqueued chunks, then done", async () => {
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue("a");
      controller.enqueue("b");
      controller.close();
    },
  });
  assertEquals(stream.locked, false);
  const reader = stream.getReader();
  assertEquals(stream.locked, true);
  assertEquals(await reader.read(), { value: "a", done: false });
  assertEquals(await reader.read(), { value: "b", done: false });
  assertEquals(await reader.read(), { value: undefined, done: true });
  await reader.closed;
});

test("a pull source with backpressure is read to the end, one pull at a time", async () => {
  let pulls = 0, inPull = false, overlapped = false, desired = [];
  const stream = new ReadableStream(
    {
      async pull(controller) {
        if (inPull) overlapped = true;
        inPull = true;
        pulls++;
        desired.push(controller.desiredSize);
        await delay(1);
        if (pulls > 5) controller.close();
        else controller.enqueue(new Uint8Array([pulls]));
        inPull = false;
      },
    },
    { highWaterMark: 0 },
  );
  await delay(5);
  assertEquals(pulls, 0, "highWaterMark 0 waits for a read");
  const chunks = await readAll(stream);
  assertEquals(chunks.map((c) => c[0]), [1, 2, 3, 4, 5]);
  assertEquals(overlapped, false, "pull is not called again before its promise settles");
  assertEquals(pulls, 6);
  assertEquals(desired.every((d) => d === 0), true, `desiredSize during pulls: ${desired}`);
});

test("highWaterMark 1 pulls one chunk ahead and no more", async () => {
  let pulls = 0;
  const stream = new ReadableStream({
    pull(controller) {
      pulls++;
      controller.enqueue(pulls);
    },
  });
  await delay(5);
  assertEquals(pulls, 1);
  const reader = stream.getReader();
  assertEquals((await reader.read()).value, 1);
  await delay(5);
  assertEquals(pulls, 2);
  await reader.cancel();
});

test("strategies: CountQueuingStrategy and ByteLengthQueuingStrategy size chunks", async () => {
  const count = new CountQueuingStrategy({ highWaterMark: 3 });
  assertEquals([count.highWaterMark, count.size("anything")], [3, 1]);
  const bytes = new ByteLengthQueuingStrategy({ highWaterMark: 10 });
  assertEquals(bytes.size(new Uint8Array(4)), 4);
  let controller;
  new ReadableStream({ start: (c) => (controller = c) }, bytes);
  assertEquals(controller.desiredSize, 10);
  controller.enqueue(new Uint8Array(4));
  assertEquals(controller.desiredSize, 6);
  assertThrows(() => new CountQueuingStrategy(), TypeError, "1 argument required");
  assertThrows(() => new ByteLengthQueuingStrategy({}), TypeError, "highWaterMark");
  assertThrows(() => new ReadableStream({}, { highWaterMark: -1 }), RangeError, "highWaterMark");
  assertThrows(() => new ReadableStream({}, { size: 5 }), TypeError, "size");
});

test("cancel calls the source's cancel with the reason and closes the stream", async () => {
  let reason;
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(1);
    },
    cancel(r) {
      reason = r;
    },
  });
  await stream.cancel("stop");
  assertEquals(reason, "stop");
  assertEquals(await stream.getReader().read(), { value: undefined, done: true });
});

test("an errored stream rejects reads and closed", async () => {
  const error = new Error("source failed");
  const stream = new ReadableStream({
    start(controller) {
      controller.error(error);
    },
  });
  const reader = stream.getReader();
  const thrown = await assertRejects(reader.read(), Error, "source failed");
  assert(thrown === error);
  await assertRejects(reader.closed, Error, "source failed");
  const pullFails = new ReadableStream({ pull() { throw new TypeError("pull broke"); } });
  await assertRejects(pullFails.getReader().read(), TypeError, "pull broke");
});

test("locking: one reader at a time; releaseLock rejects pending reads", async () => {
  const stream = new ReadableStream();
  const reader = stream.getReader();
  assertThrows(() => stream.getReader(), TypeError, "locked");
  await assertRejects(stream.cancel(), TypeError, "locked");
  const pending = reader.read();
  reader.releaseLock();
  await assertRejects(pending, TypeError, "released");
  await assertRejects(reader.closed, TypeError);
  assertEquals(stream.locked, false);
  assertThrows(() => stream.getReader({ mode: "byob" }), TypeError, "BYOB");
  assertThrows(() => new ReadableStream(null), TypeError, "underlying source");
  assertThrows(() => new ReadableStream({ pull: 1 }), TypeError, "pull");
});

test("controller errors: enqueue after close throws a TypeError", async () => {
  let controller;
  const stream = new ReadableStream({ start: (c) => (controller = c) });
  controller.close();
  assertThrows(() => controller.enqueue(1), TypeError, "clos");
  assertThrows(() => controller.close(), TypeError, "clos");
  assertEquals(await stream.getReader().read(), { value: undefined, done: true });
});

test("for await reads every chunk; breaking out cancels the stream", async () => {
  const seen = [];
  for await (const chunk of ReadableStream.from([1, 2, 3])) seen.push(chunk);
  assertEquals(seen, [1, 2, 3]);
  let cancelled = false;
  const endless = new ReadableStream({
    pull(c) {
      c.enqueue("x");
    },
    cancel() {
      cancelled = true;
    },
  });
  for await (const chunk of endless) {
    assertEquals(chunk, "x");
    break;
  }
  assertEquals(cancelled, true);
  assertEquals(endless.locked, false);
});

test("values({ preventCancel: true }) leaves the stream open after a break", async () => {
  const stream = ReadableStream.from(["a", "b", "c"]);
  for await (const chunk of stream.values({ preventCancel: true })) {
    assertEquals(chunk, "a");
    break;
  }
  assertEquals(stream.locked, false);
  assertEquals((await stream.getReader().read()).value, "b");
});

test("ReadableStream.from takes async iterables and generators", async () => {
  async function* generate() {
    yield "x";
    await delay(1);
    yield "y";
  }
  assertEquals(await readAll(ReadableStream.from(generate())), ["x", "y"]);
  assertEquals(await readAll(ReadableStream.from(new Set([1, 2]))), [1, 2]);
  assertThrows(() => ReadableStream.from(5), TypeError, "iterable");
});

test("tee gives both branches every chunk", async () => {
  const [left, right] = ReadableStream.from([1, 2, 3]).tee();
  const [a, b] = await Promise.all([readAll(left), readAll(right)]);
  assertEquals(a, [1, 2, 3]);
  assertEquals(b, [1, 2, 3]);
});

test("tee: cancelling both branches cancels the source with both reasons", async () => {
  let reason;
  const source = new ReadableStream({ cancel: (r) => (reason = r) });
  const [left, right] = source.tee();
  const cancelled = left.cancel("l");
  await right.cancel("r");
  await cancelled;
  assertEquals(reason, ["l", "r"]);
});

test("a WritableStream writes chunks in order and closes", async () => {
  const written = [];
  let closed = false;
  const stream = new WritableStream({
    async write(chunk) {
      await delay(1);
      written.push(chunk);
    },
    close() {
      closed = true;
    },
  });
  const writer = stream.getWriter();
  assertEquals(writer.desiredSize, 1);
  await writer.ready;
  writer.write("a");
  writer.write("b");
  await writer.close();
  await writer.closed;
  assertEquals(written, ["a", "b"]);
  assertEquals(closed, true);
  await assertRejects(writer.write("c"), TypeError, "clos");
});

test("writer.ready and desiredSize follow the sink's backpressure", async () => {
  let release;
  const stream = new WritableStream(
    {
      write() {
        return new Promise((resolve) => (release = resolve));
      },
    },
    new CountQueuingStrategy({ highWaterMark: 2 }),
  );
  const writer = stream.getWriter();
  await delay(1);
  writer.write(1);
  writer.write(2);
  assertEquals(writer.desiredSize, 0);
  let ready = false;
  writer.ready.then(() => (ready = true));
  await delay(5);
  assertEquals(ready, false, "ready waits while the queue is full");
  release();
  await delay(5);
  assertEquals(ready, true);
  assertEquals(writer.desiredSize, 1);
});

test("abort rejects pending writes and calls the sink's abort with the reason", async () => {
  let reason;
  const stream = new WritableStream({
    write: () => delay(5),
    abort: (r) => (reason = r),
  });
  const writer = stream.getWriter();
  await delay(1);
  const first = writer.write(1);
  const second = writer.write(2);
  await writer.abort("enough");
  assertEquals(reason, "enough");
  await first;
  assertEquals(await second.then(() => "resolved", (r) => r), "enough");
  assertEquals(await writer.closed.then(() => "resolved", (r) => r), "enough");
});

test("a sink whose write throws errors the stream", async () => {
  const stream = new WritableStream({
    write() {
      throw new RangeError("sink broke");
    },
  });
  const writer = stream.getWriter();
  await assertRejects(writer.write("x"), RangeError, "sink broke");
  await assertRejects(writer.closed, RangeError, "sink broke");
  assertEquals(writer.desiredSize, null);
  assertThrows(() => new WritableStream({ type: "bytes" }), RangeError, "type");
});

test("the controller's signal aborts when the stream is aborted", async () => {
  let signal;
  const stream = new WritableStream({ start: (c) => (signal = c.signal) });
  assertEquals(signal.aborted, false);
  await stream.abort("why");
  assertEquals([signal.aborted, signal.reason], [true, "why"]);
});

test("pipeThrough a TransformStream transforms every chunk and flushes", async () => {
  const upper = new TransformStream({
    transform(chunk, controller) {
      controller.enqueue(String(chunk).toUpperCase());
    },
    flush(controller) {
      controller.enqueue("!");
    },
  });
  const out = await readAll(ReadableStream.from(["a", "b"]).pipeThrough(upper));
  assertEquals(out, ["A", "B", "!"]);
});

test("an identity TransformStream passes chunks through, with backpressure", async () => {
  const { readable, writable } = new TransformStream();
  const writer = writable.getWriter();
  const writes = [writer.write(1), writer.write(2), writer.close()];
  assertEquals(await readAll(readable), [1, 2]);
  await Promise.all(writes);
});

test("a transform that throws errors both sides", async () => {
  const broken = new TransformStream({
    transform() {
      throw new SyntaxError("bad chunk");
    },
  });
  const writer = broken.writable.getWriter();
  const reading = broken.readable.getReader().read();
  await assertRejects(writer.write("x"), SyntaxError, "bad chunk");
  await assertRejects(reading, SyntaxError, "bad chunk");
});

test("terminate closes the readable side and errors the writable side", async () => {
  const stream = new TransformStream({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      controller.terminate();
    },
  });
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  writer.write("last");
  assertEquals(await reader.read(), { value: "last", done: false });
  assertEquals((await reader.read()).done, true);
  await assertRejects(writer.closed, TypeError, "terminated");
});

test("pipeTo writes everything and closes the destination", async () => {
  const written = [];
  let closed = false;
  await ReadableStream.from([1, 2, 3]).pipeTo(new WritableStream({ write: (c) => written.push(c), close: () => (closed = true) }));
  assertEquals(written, [1, 2, 3]);
  assertEquals(closed, true);
});

test("pipeTo with preventClose leaves the destination open", async () => {
  const dest = new WritableStream();
  await ReadableStream.from([1]).pipeTo(dest, { preventClose: true });
  const writer = dest.getWriter();
  await writer.write(2);
  await writer.close();
});

test("pipeTo propagates a source error to the destination", async () => {
  let aborted;
  const source = new ReadableStream({ pull: () => Promise.reject(new Error("source down")) });
  await assertRejects(source.pipeTo(new WritableStream({ abort: (r) => (aborted = r) })), Error, "source down");
  assertEquals(aborted && aborted.message, "source down");
});

test("pipeTo propagates a destination error back to the source", async () => {
  let cancelled;
  const source = new ReadableStream({ pull: (c) => c.enqueue(1), cancel: (r) => (cancelled = r) });
  const dest = new WritableStream({ write: () => Promise.reject(new TypeError("dest down")) });
  await assertRejects(source.pipeTo(dest), TypeError, "dest down");
  assertEquals(cancelled && cancelled.message, "dest down");
});

test("pipeTo stops when its signal aborts", async () => {
  const controller = new AbortController();
  let cancelled, aborted;
  const source = new ReadableStream({ pull: (c) => delay(2).then(() => c.enqueue("tick")), cancel: (r) => (cancelled = r) });
  const written = [];
  const piping = source.pipeTo(new WritableStream({ write: (c) => written.push(c), abort: (r) => (aborted = r) }), { signal: controller.signal });
  await delay(20);
  controller.abort();
  const error = await assertRejects(piping, "AbortError");
  assert(cancelled === error && aborted === error, "both ends get the abort reason");
  assert(written.length > 0, "some chunks went through first");
  assertEquals(source.locked, false);
  await assertRejects(ReadableStream.from([]).pipeTo({}), TypeError, "WritableStream");
});

test("TextEncoderStream encodes, keeping surrogate pairs split across chunks", async () => {
  const encoder = new TextEncoderStream();
  assertEquals(encoder.encoding, "utf-8");
  const out = ReadableStream.from(["h\u00e9", "\ud83d", "\ude00"]).pipeThrough(encoder);
  const chunks = await readAll(out);
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) (all.set(c, offset), (offset += c.length));
  assertEquals(Array.from(all), [0x68, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80]);
});

test("TextDecoderStream decodes multi-byte characters split across chunks", async () => {
  const bytes = bytesOf("\ufeffh\u00e9\u20ac\u{1F600}!");
  const chunks = [];
  for (let i = 0; i < bytes.length; i++) chunks.push(bytes.subarray(i, i + 1));
  const text = (await readAll(ReadableStream.from(chunks).pipeThrough(new TextDecoderStream()))).join("");
  assertEquals(text, "h\u00e9\u20ac\u{1F600}!");
  const boms = [new Uint8Array([0xef, 0xbb, 0xbf, 0x61]), new Uint8Array([0xef, 0xbb, 0xbf, 0x62])];
  const midStream = (await readAll(ReadableStream.from(boms).pipeThrough(new TextDecoderStream()))).join("");
  assertEquals(midStream, "a\ufeffb", "only the leading byte order mark is dropped");
  const kept = (await readAll(ReadableStream.from(boms.slice(0, 1)).pipeThrough(new TextDecoderStream("utf-8", { ignoreBOM: true })))).join("");
  assertEquals(kept, "\ufeffa", "ignoreBOM keeps it");
  const truncated = (await readAll(ReadableStream.from([new Uint8Array([0x61, 0xe2, 0x82])]).pipeThrough(new TextDecoderStream()))).join("");
  assertEquals(truncated, "a\ufffd");
  const decoder = new TextDecoderStream();
  assertEquals([decoder.encoding, decoder.fatal, decoder.ignoreBOM], ["utf-8", false, false]);
  const reading = decoder.readable.getReader().read();
  await assertRejects(decoder.writable.getWriter().write("not bytes"), TypeError, "ArrayBuffer");
  await assertRejects(reading, TypeError, "ArrayBuffer");
});

export async function bgUpdater(event) {
  return await runTests(event);
}
