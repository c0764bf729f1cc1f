#!/usr/bin/env bash
# Prints the path of Deno 2, installing it first when missing: from npm
# (`npm i deno`, scripts ignored) into target/deno, its own package folder,
# once. Used by conformance-on-deno.sh and bench-compare.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/target/deno"
deno="$dir/node_modules/.bin/deno"
if [ ! -x "$deno" ]; then
  mkdir -p "$dir"
  # Its own package.json, so npm installs here and nowhere above.
  [ -f "$dir/package.json" ] || echo '{ "private": true }' > "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error deno@2 >/dev/null)
fi
echo "$deno"
