// Blob, File and FormData, and the multipart/form-data body fetch sends.
// `event.echo` is the URL of a loopback server that answers with the request
// body, and its content type in `x-echo-content-type`.
test("a Blob joins strings, buffers, views and Blobs", async () => {
  const blob = new Blob(["h\u00e9", new Uint8Array([33]).buffer, new Uint16Array([0x4241]), new Blob(["!"])]);
  assertEquals(blob.size, 7);
  assertEquals(blob.type, "");
  assertEquals(await blob.text(), "h\u00e9!AB!");
  assertEquals(Array.from(await blob.bytes()), [104, 195, 169, 33, 65, 66, 33]);
  const buffer = await blob.arrayBuffer();
  assert(buffer instanceof ArrayBuffer);
  assertEquals(buffer.byteLength, 7);
  assertEquals(Object.prototype.toString.call(blob), "[object Blob]");
});

test("a Blob copies its parts: changing them later changes nothing", async () => {
  const bytes = new Uint8Array([1, 2]);
  const blob = new Blob([bytes]);
  bytes[0] = 9;
  assertEquals(Array.from(await blob.bytes()), [1, 2]);
  const out = await blob.bytes();
  out[1] = 7;
  assertEquals(Array.from(await blob.bytes()), [1, 2]);
});

test("the type is lowercased, and dropped when not printable ASCII", () => {
  assertEquals(new Blob([], { type: "Text/HTML" }).type, "text/html");
  assertEquals(new Blob([], { type: "text/\u00e9" }).type, "");
});

test("endings: native turns CRLF and CR into LF", async () => {
  assertEquals(await new Blob(["a\r\nb\rc\n"], { endings: "native" }).text(), "a\nb\nc\n");
  assertEquals(await new Blob(["a\r\n"]).text(), "a\r\n");
  assertThrows(() => new Blob([], { endings: "dos" }), TypeError, "endings");
  assertThrows(() => new Blob("not a list"), TypeError, "parts");
});

test("slice takes byte ranges, negative from the end, with a new type", async () => {
  const blob = new Blob(["0123456789"], { type: "text/plain" });
  assertEquals(await blob.slice(2, 5).text(), "234");
  assertEquals(await blob.slice(-3).text(), "789");
  assertEquals(await blob.slice(5, 2).text(), "");
  assertEquals(await blob.slice(-100, 100).text(), "0123456789");
  assertEquals(blob.slice(1).type, "");
  assertEquals(blob.slice(0, 1, "Application/X").type, "application/x");
  assertEquals(await blob.slice(2, 8).slice(1, 3).text(), "34");
});

test("text() decodes UTF-8, dropping a byte order mark and replacing bad bytes", async () => {
  assertEquals(await new Blob([new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xff])]).text(), "a\ufffd");
  assertEquals(await new Blob([new Uint8Array([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x61])]).text(), "\ufeffa", "only one mark is dropped");
});

test("stream() reads the bytes in chunks", async () => {
  const data = new Uint8Array(150000).map((_, i) => i % 251);
  const reader = new Blob([data]).stream().getReader();
  const received = [];
  let chunks = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    assert(value instanceof Uint8Array);
    chunks++;
    for (const byte of value) received.push(byte);
  }
  assert(chunks > 1, "more than one chunk");
  assertEquals(received.length, 150000);
  assert(received.every((v, i) => v === i % 251), "the bytes are the Blob's");
}, { deno: "Deno hands a Blob’s whole content as one chunk" });

test("File has a name and lastModified, and is a Blob", async () => {
  const file = new File(["x"], "notes.txt", { type: "text/plain", lastModified: 1234 });
  assert(file instanceof Blob);
  assertEquals([file.name, file.lastModified, file.type, file.size], ["notes.txt", 1234, "text/plain", 1]);
  const now = new File([], "now");
  assert(Math.abs(now.lastModified - Date.now()) < 5000, "lastModified defaults to now");
  assertEquals(Object.prototype.toString.call(file), "[object File]");
  assertThrows(() => new File(["x"]), TypeError, "2 arguments required");
});

test("FormData append, get, getAll, has, set, delete and iteration keep order", () => {
  const form = new FormData();
  form.append("a", "1");
  form.append("b", "2");
  form.append("a", "3");
  assertEquals(form.get("a"), "1");
  assertEquals(form.getAll("a"), ["1", "3"]);
  assertEquals([form.has("b"), form.has("c"), form.get("c")], [true, false, null]);
  form.set("a", "4");
  assertEquals([...form], [["a", "4"], ["b", "2"]]);
  form.set("c", 5);
  assertEquals([...form.keys()], ["a", "b", "c"]);
  assertEquals([...form.values()], ["4", "2", "5"]);
  form.delete("b");
  const seen = [];
  form.forEach((value, name, self) => seen.push([name, value, self === form]));
  assertEquals(seen, [["a", "4", true], ["c", "5", true]]);
  assertThrows(() => form.append("x"), TypeError, "2 arguments required");
  assertThrows(() => form.append("x", "y", "name.txt"), TypeError, "Blob");
}, { deno: "Deno accepts a file name with a string value; the standard’s overloads take it with a Blob only" });

test("FormData turns Blobs into Files named blob or the filename given", async () => {
  const form = new FormData();
  form.append("plain", new Blob(["data"], { type: "text/plain" }));
  form.append("named", new Blob(["data"]), "data.bin");
  const original = new File(["f"], "orig.txt");
  form.append("file", original);
  form.append("renamed", original, "new.txt");
  const plain = form.get("plain");
  assert(plain instanceof File);
  assertEquals([plain.name, plain.type, await plain.text()], ["blob", "text/plain", "data"]);
  assertEquals(form.get("named").name, "data.bin");
  assert(form.get("file") === original, "a File is kept as it is");
  assertEquals(form.get("renamed").name, "new.txt");
});

test("structuredClone copies Blob and File with their bytes and metadata", async () => {
  const file = new File(["hello"], "a.txt", { type: "text/plain", lastModified: 5 });
  const copy = structuredClone({ file, blob: new Blob(["b"]) });
  assert(copy.file instanceof File && copy.file !== file);
  assertEquals([copy.file.name, copy.file.type, copy.file.lastModified, await copy.file.text()], ["a.txt", "text/plain", 5, "hello"]);
  assertEquals(await copy.blob.text(), "b");
});

test("a FormData body is the browsers' exact multipart/form-data", async (event) => {
  const form = new FormData();
  form.append("title", "line1\nline2\rline3");
  form.append('we"ird\nname', "v");
  form.append("upload", new File(["file body\r\n"], 'a"b.txt', { type: "text/plain" }));
  form.append("raw", new Blob([new Uint8Array([0, 255])]));
  const response = await fetch(event.echo, { method: "POST", body: form });
  const contentType = response.headers.get("x-echo-content-type");
  const match = /^multipart\/form-data; boundary=(.+)$/.exec(contentType);
  assert(match, `content type ${contentType}`);
  const b = match[1];
  const expected =
    `--${b}\r\nContent-Disposition: form-data; name="title"\r\n\r\nline1\r\nline2\r\nline3\r\n` +
    `--${b}\r\nContent-Disposition: form-data; name="we%22ird%0D%0Aname"\r\n\r\nv\r\n` +
    `--${b}\r\nContent-Disposition: form-data; name="upload"; filename="a%22b.txt"\r\nContent-Type: text/plain\r\n\r\nfile body\r\n\r\n` +
    `--${b}\r\nContent-Disposition: form-data; name="raw"; filename="blob"\r\nContent-Type: application/octet-stream\r\n\r\n\u0000\u00ff\r\n` +
    `--${b}--\r\n`;
  const bytes = await response.bytes();
  assertEquals(String.fromCharCode(...bytes), expected);
}, { deno: "Deno ends the body without the final CRLF that browsers send" });

test("a Blob body is sent as its bytes with its type", async (event) => {
  const response = await fetch(event.echo, { method: "POST", body: new Blob(["blob body"], { type: "text/x-test" }) });
  assertEquals(await response.text(), "blob body");
  assertEquals(response.headers.get("x-echo-content-type"), "text/x-test");
});

export async function bgUpdater(event) {
  return await runTests(event);
}
