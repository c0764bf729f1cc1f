// CompressionStream and DecompressionStream: gzip, deflate, deflate-raw.
const encode = (text) => new TextEncoder().encode(text);

async function through(bytes, transform) {
  const stream = new Blob([bytes]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

test("gzip, deflate and deflate-raw round-trip and have their headers", async () => {
  const text = "bgwasm ".repeat(1000);
  for (const format of ["gzip", "deflate", "deflate-raw"]) {
    const packed = await through(encode(text), new CompressionStream(format));
    assert(packed.length < 200, `${format} compresses repetitive text (${packed.length} bytes)`);
    const unpacked = await through(packed, new DecompressionStream(format));
    assertEquals(new TextDecoder().decode(unpacked), text, format);
    if (format === "gzip") assertEquals([packed[0], packed[1]], [0x1f, 0x8b]);
    if (format === "deflate") assertEquals(packed[0], 0x78);
  }
});

test("data compressed elsewhere decompresses", async () => {
  const gzip = new Uint8Array([31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 203, 72, 205, 201, 201, 87, 40, 79, 77, 2, 0, 156, 222, 65, 251, 9, 0, 0, 0]);
  const zlib = new Uint8Array([120, 156, 203, 72, 205, 201, 201, 87, 40, 79, 77, 2, 0, 17, 145, 3, 115]);
  const raw = new Uint8Array([203, 72, 205, 201, 201, 87, 40, 79, 77, 2, 0]);
  assertEquals(new TextDecoder().decode(await through(gzip, new DecompressionStream("gzip"))), "hello web");
  assertEquals(new TextDecoder().decode(await through(zlib, new DecompressionStream("deflate"))), "hello web");
  assertEquals(new TextDecoder().decode(await through(raw, new DecompressionStream("deflate-raw"))), "hello web");
});

test("chunks written one by one come out as one stream", async () => {
  const stream = new CompressionStream("gzip");
  const writer = stream.writable.getWriter();
  const collected = new Response(stream.readable).arrayBuffer();
  for (const part of ["a", "b", "c"]) await writer.write(encode(part.repeat(100)));
  await writer.close();
  const unpacked = await through(new Uint8Array(await collected), new DecompressionStream("gzip"));
  assertEquals(new TextDecoder().decode(unpacked), "a".repeat(100) + "b".repeat(100) + "c".repeat(100));
});

test("corrupt input errors the stream with a TypeError", async () => {
  await assertRejects(() => through(encode("this is not gzip at all"), new DecompressionStream("gzip")), TypeError);
});

test("an unknown format, or a chunk that is not bytes, is a TypeError", async () => {
  assertThrows(() => new CompressionStream("lzma"), TypeError);
  assertThrows(() => new DecompressionStream(), TypeError);
  const stream = new CompressionStream("gzip");
  const reading = new Response(stream.readable).arrayBuffer();
  await assertRejects(() => stream.writable.getWriter().write("a string"), TypeError);
  await assertRejects(() => reading, TypeError);
});

export async function bgUpdater() {
  return await runTests();
}
