#!/usr/bin/env bash
# Installs playwright-core (pinned) from npm into target/playwright, once, for
# the dashboard's headless Chromium test (tests/dashboard.rs). It drives
# Debian's /usr/bin/chromium, so no browser is downloaded.
set -euo pipefail
version=1.65.1
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/target/playwright"
installed="$dir/node_modules/playwright-core/package.json"
if [ -f "$installed" ] && grep -q "\"version\": \"$version\"" "$installed"; then
  exit 0
fi
command -v npm >/dev/null || { echo "install-playwright: npm is missing; install Node.js (Debian: apt-get install nodejs npm)" >&2; exit 1; }
mkdir -p "$dir"
# Its own package.json, so npm installs here and nowhere above.
[ -f "$dir/package.json" ] || echo '{ "private": true }' > "$dir/package.json"
echo "installing playwright-core@$version into target/playwright"
(cd "$dir" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error "playwright-core@$version" >/dev/null)
