// The Deno anchor of `make bench-compare`: the reference service's
// architecture, one Worker per space. Measures, for a trivial handler,
// a Worker's spawn plus its first run, a warm run (a message round trip to
// a live Worker) and resident memory per live idle Worker; then the
// CPU-bound scripts of benches/js/, for reference (V8 with its JIT).
//
//   deno run --allow-read --allow-env workers.js [LIVE] benches/js/*.js
//
// Prints `NAME<TAB>VALUE` lines (µs, KiB or ms), which
// scripts/bench-compare.sh reads.

const args = [...Deno.args];
const live = /^\d+$/.test(args[0] ?? "") ? Number(args.shift()) : 200;
const scripts = args;

// A space: its piece, and the loop that runs it when asked.
const source = `
function bgUpdater() { return 1; }
self.onmessage = () => self.postMessage(bgUpdater());
`;
const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));

function spawn() {
  return new Worker(url, { type: "module" });
}

function run(worker) {
  return new Promise((resolve, reject) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) => reject(event.message);
    worker.postMessage(null);
  });
}

function mean(samples) {
  return samples.reduce((a, b) => a + b, 0) / samples.length;
}

// Warm up the code paths once.
for (let i = 0; i < 5; i++) {
  const worker = spawn();
  await run(worker);
  worker.terminate();
}

const firstRuns = [];
for (let i = 0; i < 100; i++) {
  const started = performance.now();
  const worker = spawn();
  if ((await run(worker)) !== 1) throw new Error("the handler returned something else");
  firstRuns.push((performance.now() - started) * 1000);
  worker.terminate();
}
console.log(`spawn + first run (µs)\t${mean(firstRuns).toFixed(1)}`);

const warm = spawn();
await run(warm);
const warmRuns = [];
for (let i = 0; i < 5000; i++) {
  const started = performance.now();
  await run(warm);
  warmRuns.push((performance.now() - started) * 1000);
}
warm.terminate();
console.log(`warm run (µs)\t${mean(warmRuns).toFixed(1)}`);

await new Promise((resolve) => setTimeout(resolve, 200));
const before = Deno.memoryUsage().rss;
const workers = [];
for (let i = 0; i < live; i++) {
  const worker = spawn();
  await run(worker);
  workers.push(worker);
}
await new Promise((resolve) => setTimeout(resolve, 500));
const after = Deno.memoryUsage().rss;
console.log(`memory per live idle space (KiB)\t${((after - before) / live / 1024).toFixed(1)}`);
for (const worker of workers) worker.terminate();

for (const path of scripts) {
  const name = path.split("/").pop().replace(/\.js$/, "");
  const bench = (0, eval)(`${await Deno.readTextFile(path)}\n;bench`);
  bench();
  const samples = [];
  for (let i = 0; i < 7; i++) {
    const started = performance.now();
    bench();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  console.log(`js ${name} (ms)\t${samples[3].toFixed(3)}`);
}
