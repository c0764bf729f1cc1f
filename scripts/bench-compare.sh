#!/usr/bin/env bash
# `make bench-compare`: bgwasm against its anchors, in one run, as one table.
#
# - CPU-bound JS (benches/js/*.js): warm runs in the sandbox, limits on
#   (benches/sandbox.rs), against the same QuickJS (rquickjs 0.12.2, as javy
#   8.1 pins it) built for the host (benches/native-quickjs/); Deno's V8 for
#   reference.
# - A space's lifecycle: a fresh sandbox plus its first trivial run, a warm
#   run and memory per live idle sandbox (benches/sandbox.rs), against Deno 2
#   with one Worker per space (benches/deno/workers.js).
# - The daemon (benches/daemon.rs): sustained runs/s, pieces on time,
#   lateness, CPU per run, runs per commit and peak RSS, for each shape of
#   BGWASM_COMPARE_DAEMON: SPACESxPIECES@INTERVAL, optionally /WINDOW (how
#   long to observe; default 2.25 intervals) and +hogN (space 0's piece is a
#   loop of N iterations; lateness is then the other spaces'). The default,
#   "1000x10@20s 1000x10@1s/6s 1000x10@500ms/6s 1000x1@1s/10s+hog20000000",
#   is issue 10's 10,000 pieces in 1,000 spaces below capacity (500 runs/s
#   of demand), at 10,000 and at 20,000 runs/s of demand, and one CPU-bound
#   space among 1,000 trivial ones. The seeded databases are kept in
#   BGWASM_COMPARE_SEEDED (default: the run's temporary directory), so the
#   shapes of one size seed once. BGWASM_COMPARE_DAEMON= skips it.
#
#   scripts/bench-compare.sh          (about 6 minutes, plus the builds)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
daemon_shapes=${BGWASM_COMPARE_DAEMON-"1000x10@20s 1000x10@1s/6s 1000x10@500ms/6s 1000x1@1s/10s+hog20000000"}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "building the native QuickJS anchor, the benchmarks and Deno ..." >&2
cargo build --release --locked --quiet --manifest-path benches/native-quickjs/Cargo.toml \
  --target-dir "$root/target/native-quickjs"
native="$root/target/native-quickjs/release/native-quickjs"
bench_binary() {
  if ! cargo bench --locked --bench "$1" --no-run > "$out/build-$1" 2>&1; then
    cat "$out/build-$1" >&2
    echo "building the $1 benchmark failed (above)" >&2
    exit 1
  fi
  grep -oE "\\(target/release/deps/$1-[0-9a-f]+\\)" "$out/build-$1" | tr -d '()' | tail -1
}
sandbox_bin=$(bench_binary sandbox)
daemon_bin=$(bench_binary daemon)
deno=$("$root/scripts/deno.sh")
scripts=(benches/js/*.js)

echo "native QuickJS ..." >&2
"$native" --rounds 7 "${scripts[@]}" > "$out/native"
echo "bgwasm sandbox ..." >&2
"$sandbox_bin" > "$out/sandbox"
echo "Deno, one Worker per space ..." >&2
"$deno" run --quiet --allow-read="$root" "benches/deno/workers.js" 200 "${scripts[@]}" > "$out/deno"
seeded=${BGWASM_COMPARE_SEEDED:-$out/seeded}
for shape in $daemon_shapes; do
  [[ $shape =~ ^([0-9]+)x([0-9]+)@([0-9]+m?s)(/([0-9]+m?s))?(\+hog([0-9]+))?$ ]] || {
    echo "BGWASM_COMPARE_DAEMON: '$shape' is not SPACESxPIECES@INTERVAL[/WINDOW][+hogN]," \
      "like 100x10@4s, 1000x10@500ms/6s or 1000x1@1s/10s+hog20000000" >&2
    exit 2
  }
  echo "daemon, ${BASH_REMATCH[1]} spaces x ${BASH_REMATCH[2]} pieces at ${BASH_REMATCH[3]}${BASH_REMATCH[6]:+, one CPU-bound piece} ..." >&2
  settings=(BGWASM_BENCH_SPACES="${BASH_REMATCH[1]}" BGWASM_BENCH_PIECES="${BASH_REMATCH[2]}"
    BGWASM_BENCH_INTERVAL="${BASH_REMATCH[3]}" BGWASM_BENCH_HOG="${BASH_REMATCH[7]:-0}"
    BGWASM_BENCH_SEEDED="$seeded")
  [ -n "${BASH_REMATCH[5]}" ] && settings+=(BGWASM_BENCH_WINDOW="${BASH_REMATCH[5]}")
  env "${settings[@]}" "$daemon_bin" > "$out/daemon-${shape//\//-}"
done

# The first number after a sandbox figure's name (its mean), or after "p50".
sandbox_mean() { grep -m1 -F "$1" "$out/sandbox" | sed -E 's/^.{44} +(mean +)?([0-9.]+).*$/\2/'; }
sandbox_p50() { grep -m1 -F "$1" "$out/sandbox" | sed -E 's/.*p50 +([0-9.]+).*/\1/'; }
field() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
row() { printf '| %-40s | %12s | %12s | %7s |\n' "$@"; }

echo
row "CPU-bound JS, median ms" "bgwasm" "native QJS" "ratio"
row "---" "---:" "---:" "---:"
product=1; count=0
for script in "${scripts[@]}"; do
  name=$(basename "$script" .js)
  sandbox_us=$(sandbox_p50 "js $name ")
  sandbox_ms=$(awk -v u="$sandbox_us" 'BEGIN { printf "%.1f", u / 1000 }')
  native_ms=$(awk -F'\t' -v n="$name" '$1 == n { printf "%.1f", $2 }' "$out/native")
  native_sum=$(awk -F'\t' -v n="$name" '$1 == n { print $3 }' "$out/native")
  sandbox_sum=$(grep -m1 -F "js $name " "$out/sandbox" | sed -E 's/.*value ([^,]+),.*/\1/')
  [ "$native_sum" = "$sandbox_sum" ] || echo "warning: $name returned $sandbox_sum in the sandbox, $native_sum natively" >&2
  r=$(ratio "$sandbox_ms" "$native_ms")
  product=$(awk -v p="$product" -v r="$r" 'BEGIN { print p * r }'); count=$((count + 1))
  row "$name (Deno/V8: $(field "js $name (ms)" "$out/deno") ms)" "$sandbox_ms" "$native_ms" "$r"
done
row "geometric mean" "" "" "$(awk -v p="$product" -v n="$count" 'BEGIN { printf "%.2f", p ^ (1 / n) }')"

echo
row "a space, trivial handler" "bgwasm" "Deno Worker" "ratio"
row "---" "---:" "---:" "---:"
a=$(sandbox_mean "fresh instance + first trivial run"); b=$(field "spawn + first run (µs)" "$out/deno")
row "fresh sandbox + first run (µs)" "$a" "$b" "$(ratio "$a" "$b")"
a=$(sandbox_mean "warm trivial run"); b=$(field "warm run (µs)" "$out/deno")
row "warm run (µs)" "$a" "$b" "$(ratio "$a" "$b")"
b=$(field "memory per live idle space (KiB)" "$out/deno")
a=$(sandbox_mean "memory per live instance  ")
row "memory per idle space, RSS (KiB)" "$a" "$b" "$(ratio "$a" "$b")"
a=$(sandbox_mean "memory per live instance, PSS")
row "memory per idle space, PSS (KiB)" "$a" "$b" "$(ratio "$a" "$b")"
a=$(sandbox_mean "memory per live instance, private + tables")
row "memory per idle space, private + page tables (KiB)" "$a" "$b" "$(ratio "$a" "$b")"

if [ -n "$daemon_shapes" ]; then
  echo
  drow() { printf '| %-28s | %8s | %13s | %20s | %11s | %11s | %8s |\n' "$@"; }
  drow "daemon (SQLite store)" "runs/s" "on time" "lateness p50/p99/max" "CPU per run" "runs/commit" "peak RSS"
  drow "---" "---:" "---:" "---:" "---:" "---:" "---:"
  for shape in $daemon_shapes; do
    f="$out/daemon-${shape//\//-}"
    runs=$(grep -m1 '^runs sustained' "$f" | grep -oE '[0-9]+ runs/s' | cut -d' ' -f1)
    on_time=$(grep -m1 '^pieces that ran once in every interval' "$f" | grep -oE '[0-9]+/[0-9]+$')
    late=$(grep -m1 '^lateness' "$f" | sed -E 's/.*p50 ([0-9]+) ms, p99 ([0-9]+) ms, max ([0-9]+) ms.*/\1 \/ \2 \/ \3 ms/')
    cpu=$(grep -m1 '^CPU time' "$f" | grep -oE '[0-9]+ µs per run' | cut -d' ' -f1)
    per_commit=$(grep -m1 '^run commits' "$f" | grep -oE '[0-9.]+ runs per commit' | cut -d' ' -f1)
    rss=$(grep -m1 '^peak RSS' "$f" | grep -oE '[0-9]+ MiB')
    drow "$shape" "$runs" "$on_time" "$late" "${cpu:+$cpu µs}" "$per_commit" "$rss"
  done
fi
