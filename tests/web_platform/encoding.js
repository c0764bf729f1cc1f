// TextEncoder and TextDecoder: the WHATWG encodings feeds use, fatal,
// ignoreBOM, stream, encodeInto.
const bytes = (...b) => new Uint8Array(b);

test("TextDecoder decodes the legacy encodings feeds use", () => {
  const cases = [
    ["windows-1252", [0x80, 0x41], "€A"],
    ["iso-8859-2", [0xa1], "Ą"],
    ["iso-8859-15", [0xa4], "€"],
    ["windows-1251", [0xc0], "А"],
    ["koi8-r", [0xc1], "а"],
    ["koi8-u", [0xa4], "є"],
    ["gbk", [0xc4, 0xe3], "你"],
    ["gb18030", [0x81, 0x30, 0x81, 0x30], "\u0080"],
    ["big5", [0xa4, 0x40], "一"],
    ["shift_jis", [0x82, 0xa0], "あ"],
    ["euc-jp", [0xa4, 0xa2], "あ"],
    ["euc-kr", [0xb0, 0xa1], "가"],
    ["utf-16le", [0x61, 0x00, 0x3d, 0xd8, 0x00, 0xde], "a😀"],
    ["utf-16be", [0x00, 0x61], "a"],
  ];
  for (const [label, input, expected] of cases) {
    assertEquals(new TextDecoder(label).decode(new Uint8Array(input)), expected, label);
  }
});

test("labels are matched as the Encoding standard says", () => {
  assertEquals(new TextDecoder(" UTF8 ").encoding, "utf-8");
  assertEquals(new TextDecoder("latin1").encoding, "windows-1252");
  assertEquals(new TextDecoder("ascii").encoding, "windows-1252");
  assertEquals(new TextDecoder("Shift_JIS").encoding, "shift_jis");
  assertEquals(new TextDecoder("x-sjis").encoding, "shift_jis");
  assertEquals(new TextDecoder("csbig5").encoding, "big5");
  assertEquals(new TextDecoder().encoding, "utf-8");
});

test("an unknown label, or the replacement encoding, is a RangeError", () => {
  assertThrows(() => new TextDecoder("utf-9"), RangeError, "utf-9");
  assertThrows(() => new TextDecoder("iso-2022-kr"), RangeError);
  assertThrows(() => new TextDecoder(""), RangeError);
});

test("fatal throws a TypeError on malformed input; otherwise U+FFFD", () => {
  assertThrows(() => new TextDecoder("utf-8", { fatal: true }).decode(bytes(0xff, 0x61)), TypeError);
  assertThrows(() => new TextDecoder("shift_jis", { fatal: true }).decode(bytes(0x82)), TypeError);
  assertEquals(new TextDecoder().decode(bytes(0xff, 0x61)), "\ufffda");
  assertEquals(new TextDecoder("utf-8", { fatal: true }).fatal, true);
});

test("a BOM is removed unless ignoreBOM", () => {
  assertEquals(new TextDecoder().decode(bytes(0xef, 0xbb, 0xbf, 0x61)), "a");
  assertEquals(new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes(0xef, 0xbb, 0xbf, 0x61)), "\ufeffa");
  assertEquals(new TextDecoder("utf-16le").decode(bytes(0xff, 0xfe, 0x61, 0x00)), "a");
  // A BOM of another encoding is not sniffed by TextDecoder.
  assertEquals(new TextDecoder("windows-1252").decode(bytes(0xef, 0xbb, 0xbf)), "ï»¿");
});

test("stream: a character split across chunks comes out whole", () => {
  const decoder = new TextDecoder();
  assertEquals(decoder.decode(bytes(0x61, 0xe2, 0x82), { stream: true }), "a");
  assertEquals(decoder.decode(bytes(0xac), { stream: true }), "€");
  assertEquals(decoder.decode(), "");
  const sjis = new TextDecoder("shift_jis");
  assertEquals(sjis.decode(bytes(0x82), { stream: true }) + sjis.decode(bytes(0xa0)), "あ");
  // An unfinished sequence at the end of the stream becomes U+FFFD.
  const cut = new TextDecoder();
  assertEquals(cut.decode(bytes(0xe2, 0x82), { stream: true }) + cut.decode(), "\ufffd");
});

test("decode takes any BufferSource", () => {
  const buffer = new Uint8Array([0x68, 0x69, 0x21]).buffer;
  assertEquals(new TextDecoder().decode(buffer), "hi!");
  assertEquals(new TextDecoder().decode(new DataView(buffer, 1)), "i!");
  assertEquals(new TextDecoder().decode(new Uint8Array(buffer, 0, 2)), "hi");
  assertThrows(() => new TextDecoder().decode("text"), TypeError);
});

test("TextEncoder encodes UTF-8 and replaces lone surrogates", () => {
  assertEquals(Array.from(new TextEncoder().encode("a€😀")), [0x61, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]);
  assertEquals(Array.from(new TextEncoder().encode("\ud800")), [0xef, 0xbf, 0xbd]);
  assertEquals(new TextEncoder().encode().length, 0);
  assertEquals(new TextEncoder().encoding, "utf-8");
});

test("encodeInto writes what fits without splitting a character", () => {
  const target = new Uint8Array(4);
  assertEquals(new TextEncoder().encodeInto("a€b", target), { read: 2, written: 4 });
  assertEquals(Array.from(target), [0x61, 0xe2, 0x82, 0xac]);
  const small = new Uint8Array(3);
  assertEquals(new TextEncoder().encodeInto("a😀", small), { read: 1, written: 1 });
  assertEquals(new TextEncoder().encodeInto("😀", new Uint8Array(4)), { read: 2, written: 4 });
  assertThrows(() => new TextEncoder().encodeInto("a", [0]), TypeError);
});

export async function bgUpdater() {
  return await runTests();
}
