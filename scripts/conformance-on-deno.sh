#!/usr/bin/env bash
# Runs the web platform conformance files (tests/web_platform/*.js, which the
# sandbox passes in `make test`) on Deno 2 too, so that what they expect is
# what Deno does. Deno comes from npm (`npm i deno`) into target/deno, once.
# Where bgwasm follows the standard or browsers and Deno does not, the test
# says so (`{ deno: "why" }`) and its failure here is a known difference.
#
#   scripts/conformance-on-deno.sh            every file
#   scripts/conformance-on-deno.sh fetch.js   one file
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
deno=$("$root/scripts/deno.sh")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  for f in "$root"/tests/web_platform/*.js; do
    [ "$(basename "$f")" = harness.js ] || files+=("$(basename "$f")")
  done
fi
for name in "${files[@]}"; do
  cat "$root/tests/web_platform/harness.js" "$root/tests/web_platform/$name" > "$work/${name%.js}.mjs"
done

cat > "$work/run.mjs" <<'JS'
// A loopback echo server, as the Rust runner's: the body back, and its
// content type in x-echo-content-type.
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) =>
  new Response(await request.arrayBuffer(), {
    headers: { "x-echo-content-type": request.headers.get("content-type") ?? "" },
  }));
const event = { echo: `http://127.0.0.1:${server.addr.port}/echo` };
globalThis.__onDeno = true;
let passed = 0, failed = 0, differs = 0;
for (const file of Deno.args) {
  const piece = await import(new URL(file, import.meta.url).href);
  const result = await piece.bgUpdater(event, {});
  passed += result.passed.length;
  failed += result.failed.length;
  differs += result.differs.length;
  console.log(`${file}: ${result.passed.length} passed, ${result.failed.length} failed, ${result.differs.length} known differences`);
  for (const { name, message } of result.failed) console.log(`  FAILED ${name}\n    ${message.split("\n")[0]}`);
  for (const { name, why } of result.differs) console.log(`  differs: ${name}\n    ${why}`);
}
await server.shutdown();
console.log(`known differences from Deno, where bgwasm follows the standard or browsers: ${differs}`);
console.log(`deno: ${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 ? 0 : 1);
JS
cd "$work"
"$deno" --version | head -1
timeout 300 "$deno" run --quiet --allow-net=127.0.0.1 --allow-read="$work" run.mjs $(for name in "${files[@]}"; do echo "./${name%.js}.mjs"; done)
