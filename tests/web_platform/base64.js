// atob and btoa: the HTML standard's forgiving-base64 and its errors.
test("btoa encodes Latin1 text with padding", () => {
  assertEquals(btoa(""), "");
  assertEquals(btoa("f"), "Zg==");
  assertEquals(btoa("fo"), "Zm8=");
  assertEquals(btoa("foo"), "Zm9v");
  assertEquals(btoa("foobar"), "Zm9vYmFy");
  assertEquals(btoa("\u00ff\u00fe\u0000"), "//4A");
});

test("btoa converts its argument to a string", () => {
  assertEquals(btoa(12), "MTI=");
  assertEquals(btoa(null), "bnVsbA==");
  assertEquals(btoa(undefined), "dW5kZWZpbmVk");
});

test("btoa rejects characters outside Latin1 with InvalidCharacterError", () => {
  const error = assertThrows(() => btoa("h\u0100"), DOMException, "Latin1");
  assertEquals(error.name, "InvalidCharacterError");
  assertEquals(error.code, 5);
  assertThrows(() => btoa("\u{1F600}"), "InvalidCharacterError");
});

test("atob decodes, with or without padding", () => {
  assertEquals(atob("Zm9vYmFy"), "foobar");
  assertEquals(atob("Zg=="), "f");
  assertEquals(atob("Zg"), "f");
  assertEquals(atob("Zm8"), "fo");
  assertEquals(atob("//4A"), "\u00ff\u00fe\u0000");
  assertEquals(atob(""), "");
});

test("atob skips ASCII whitespace anywhere", () => {
  assertEquals(atob(" Zm9v\nYmFy\t"), "foobar");
  assertEquals(atob("Z g = =\f\r"), "f");
});

test("atob of bad input throws InvalidCharacterError", () => {
  for (const bad of ["Z", "Zm9vY", "Zg=", "Z===", "Zm9v!", "Zm=9", "é", "Zg==Zg==", "\u00a0Zg=="]) {
    const error = assertThrows(() => atob(bad), DOMException, "base64");
    assertEquals(error.name, "InvalidCharacterError", `atob(${JSON.stringify(bad)})`);
  }
});

test("atob ignores the unused low bits of the last character", () => {
  assertEquals(atob("Zh"), "f");
  assertEquals(atob("Zm9"), "fo");
});

test("atob and btoa round-trip every byte", () => {
  let all = "";
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  assertEquals(atob(btoa(all)), all);
  const big = all.repeat(400);
  assertEquals(atob(btoa(big)), big);
});

test("atob and btoa need an argument", () => {
  assertThrows(() => atob(), TypeError, "1 argument required");
  assertThrows(() => btoa(), TypeError, "1 argument required");
});

export async function bgUpdater(event) {
  return await runTests(event);
}
