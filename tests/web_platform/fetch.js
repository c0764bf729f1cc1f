// Headers, Request and Response as the Fetch standard defines them (no
// network: fetch itself is tested against a loopback server in
// tests/run_lifetime.rs).

test("Headers are case-insensitive, combined, sorted, and keep set-cookie apart", () => {
  const headers = new Headers([["X-B", "2"], ["x-a", "1"], ["X-A", "3"], ["Set-Cookie", "a=1"], ["set-cookie", "b=2"]]);
  assertEquals(headers.get("x-a"), "1, 3");
  assertEquals(headers.get("X-MISSING"), null);
  assertEquals([...headers], [["set-cookie", "a=1"], ["set-cookie", "b=2"], ["x-a", "1, 3"], ["x-b", "2"]]);
  assertEquals(headers.getSetCookie(), ["a=1", "b=2"]);
  headers.set("x-a", "  9  ");
  assertEquals(headers.get("x-a"), "9");
  headers.delete("X-B");
  assertEquals(headers.has("x-b"), false);
});

test("Headers refuse invalid names and values with a TypeError", () => {
  assertThrows(() => new Headers({ "bad name": "x" }), TypeError, "bad name");
  assertThrows(() => new Headers().append("x", "a\nb"), TypeError);
  assertThrows(() => new Headers([["only-one"]]), TypeError);
});

test("Request normalises the method and refuses what the standard refuses", () => {
  assertEquals(new Request("https://example.com/", { method: "post", body: "x" }).method, "POST");
  assertEquals(new Request("https://example.com/", { method: "patch", body: "x" }).method, "patch");
  assertThrows(() => new Request("https://example.com/", { method: "CONNECT" }), TypeError);
  assertThrows(() => new Request("https://example.com/", { method: "GET", body: "x" }), TypeError);
  assertThrows(() => new Request("/relative"), TypeError);
  assertThrows(() => new Request("https://example.com/", { method: "bad method" }), TypeError);
});

test("Request bodies set a content-type and read once", async () => {
  const request = new Request("https://example.com/a?b=1", { method: "POST", body: "hello" });
  assertEquals(request.url, "https://example.com/a?b=1");
  assertEquals(request.headers.get("content-type"), "text/plain;charset=UTF-8");
  assertEquals(request.bodyUsed, false);
  const copy = request.clone();
  assertEquals(await request.text(), "hello");
  assertEquals(request.bodyUsed, true);
  await assertRejects(() => request.text(), TypeError);
  assertEquals(await copy.text(), "hello");
  const form = new Request("https://example.com/", { method: "POST", body: new URLSearchParams({ a: "1 2" }) });
  assertEquals(form.headers.get("content-type"), "application/x-www-form-urlencoded;charset=UTF-8");
  assertEquals(await form.text(), "a=1+2");
});

test("a Request made from a Request takes over its body", async () => {
  const first = new Request("https://example.com/", { method: "PUT", body: "moved", headers: { "x-a": "1" } });
  const second = new Request(first, { headers: { "x-b": "2" } });
  assertEquals(second.method, "PUT");
  assertEquals(second.headers.get("x-b"), "2");
  assertEquals(second.headers.get("x-a"), null);
  assertEquals(await second.text(), "moved");
  assertEquals(first.bodyUsed, true);
});

test("Response checks its status and null-body statuses", () => {
  assertThrows(() => new Response("x", { status: 600 }), RangeError);
  assertThrows(() => new Response("x", { status: 199 }), RangeError);
  assertThrows(() => new Response("x", { status: 204 }), TypeError);
  const empty = new Response(null, { status: 204, statusText: "No Content" });
  assertEquals([empty.status, empty.ok, empty.statusText, empty.body], [204, true, "No Content", null]);
  assertEquals(new Response().status, 200);
  assertEquals(new Response("x", { status: 404 }).ok, false);
});

test("Response.json, Response.redirect and Response.error", async () => {
  const json = Response.json({ a: [1, 2] }, { status: 201 });
  assertEquals(json.status, 201);
  assertEquals(json.headers.get("content-type"), "application/json");
  assertEquals(await json.json(), { a: [1, 2] });
  const redirect = Response.redirect("https://example.com/next", 307);
  assertEquals([redirect.status, redirect.headers.get("location")], [307, "https://example.com/next"]);
  assertThrows(() => Response.redirect("https://example.com/", 200), RangeError);
  const error = Response.error();
  assertEquals([error.type, error.status], ["error", 0]);
});

test("bodies of every kind read back as bytes, text and JSON", async () => {
  assertEquals(Array.from(await new Response("héllo").bytes()), [104, 195, 169, 108, 108, 111]);
  assertEquals((await new Response(new Uint8Array([1, 2, 3]).buffer).arrayBuffer()).byteLength, 3);
  assertEquals(await new Response(new Uint16Array([0x6968])).text(), "hi");
  assertEquals(await new Response('{"x":1}').json(), { x: 1 });
  await assertRejects(() => new Response("not json").json(), SyntaxError);
  assertEquals(await new Response().text(), "");
});

test("a response body is a ReadableStream of Uint8Array chunks", async () => {
  const response = new Response("streamed");
  const reader = response.body.getReader();
  const { value, done } = await reader.read();
  assert(value instanceof Uint8Array, "chunks are Uint8Arrays");
  assertEquals([new TextDecoder().decode(value), done], ["streamed", false]);
  assertEquals((await reader.read()).done, true);
  assertEquals(response.bodyUsed, true);
  await assertRejects(() => response.text(), TypeError);
});

test("a ReadableStream is a body too", async () => {
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("a"));
      controller.enqueue(new TextEncoder().encode("b"));
      controller.close();
    },
  });
  assertEquals(await new Response(stream).text(), "ab");
});

test("clone() tees a body so both copies read it whole", async () => {
  const original = new Response("twice");
  const copy = original.clone();
  assertEquals([await original.text(), await copy.text()], ["twice", "twice"]);
  assertThrows(() => original.clone(), TypeError);
});

test("Blob and FormData bodies carry their content-type", async () => {
  const blob = new Response(new Blob(["x"], { type: "text/x-test" }));
  assertEquals(blob.headers.get("content-type"), "text/x-test");
  const form = new FormData();
  form.append("field", "value");
  const response = new Response(form);
  const type = response.headers.get("content-type");
  assert(/^multipart\/form-data; boundary=/.test(type), type);
  const back = await response.formData();
  assertEquals(back.get("field"), "value");
  assertEquals((await new Response("a=1&b=%C3%A9", { headers: { "content-type": "application/x-www-form-urlencoded" } }).formData()).get("b"), "é");
});

export async function bgUpdater() {
  return await runTests();
}
