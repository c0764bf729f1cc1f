#!/usr/bin/env bash
# Runs the sandbox benchmark (benches/sandbox.rs) of this tree and of an
# older revision side by side, interleaved in one session so the machine's
# noise hits both alike, and prints each figure for both with their ratio,
# plus the guest's size.
#
#   scripts/bench-against.sh REV [ROUNDS]     e.g. scripts/bench-against.sh 270fc67
#
# REV is checked out in a worktree under .bench-base/ (ignored by git); its
# build starts from a copy of this tree's target/, so only bgwasm itself
# builds again. Each figure is the median over ROUNDS (default 3) runs.
set -euo pipefail
rev=${1:?usage: scripts/bench-against.sh REV [ROUNDS]}
rounds=${2:-3}
root=$(git rev-parse --show-toplevel)
cd "$root"
short=$(git rev-parse --short "$rev")
base="$root/.bench-base/$short"

if [ ! -d "$base" ]; then
  mkdir -p "$root/.bench-base"
  git worktree add --detach "$base" "$rev" >/dev/null
fi
if [ ! -d "$base/target" ] && [ -d "$root/target/release" ]; then
  mkdir -p "$base/target"
  cp -a "$root/target/release" "$root/target/guest" "$base/target/" 2>/dev/null || true
fi

bench_binary() {
  (cd "$1" && cargo bench --locked --bench sandbox --no-run 2>&1) |
    grep -oE '\(target/release/deps/sandbox-[0-9a-f]+\)' | tr -d '()' | tail -1
}
echo "building the benchmark of $short and of this tree ..." >&2
base_bin="$base/$(bench_binary "$base")"
head_bin="$root/$(bench_binary "$root")"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq "$rounds"); do
  echo "round $round of $rounds ..." >&2
  (cd "$base" && "$base_bin" > "$out/base.$round")
  (cd "$root" && "$head_bin" > "$out/head.$round")
done

# Each figure line is "NAME  mean X µs ..." or "NAME  X KiB per instance" or
# "NAME  X MiB guest memory peak"; the first number after the name is kept.
figures() {
  for f in "$out"/"$1".*; do
    sed -E 's/^(.{44}) +(mean +)?([0-9.]+) .*$/\1\t\3/' "$f" | grep -P '\t[0-9.]+$'
  done | awk -F'\t' '{ v[$1] = v[$1] " " $2 } END { for (k in v) print k "\t" v[k] }' |
    while IFS=$'\t' read -r name values; do
      median=$(tr ' ' '\n' <<<"$values" | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
      printf '%s\t%s\n' "$(sed 's/ *$//' <<<"$name")" "$median"
    done | sort
}
figures base > "$out/base"
figures head > "$out/head"

printf '\n%-44s %12s %12s %8s\n' "figure (median of $rounds)" "$short" "this tree" "ratio"
join -t $'\t' -a 2 -e '-' -o 0,1.2,2.2 "$out/base" "$out/head" |
  while IFS=$'\t' read -r name before after; do
    ratio=$(awk -v a="$after" -v b="$before" 'BEGIN { if (b == "-" || b == 0) print "-"; else printf "%.2f", a / b }')
    printf '%-44s %12s %12s %8s\n' "$name" "$before" "$after" "$ratio"
  done
size() { stat -c %s "$1/target/guest/wasm32-wasip2/release/bgwasm_guest.wasm"; }
before=$(size "$base"); after=$(size "$root")
printf '%-44s %12s %12s %8s\n' "guest component (bytes)" "$before" "$after" "+$(((after - before) / 1024)) KiB"
