//! Sandbox benchmark: prints the figures the README quotes.
//!
//! `cargo bench --bench sandbox` (or `make bench`) measures, on the real
//! pre-initialised guest:
//! - the time to instantiate a space's sandbox;
//! - a fresh instance plus its first run of a trivial handler;
//! - a warm run of a trivial handler;
//! - resident memory per live, idle instance, with 200 of them live;
//! - the guest memory a 20 MB response body peaks at, streamed chunk by
//!   chunk (`getReader`), and read whole (`arrayBuffer`) for comparison;
//! - stripping the types from a 500-line TypeScript piece, and a warm run of
//!   a TypeScript piece (stripped once, then loaded);
//! - the CPU-bound scripts of `benches/js/`, each a warm run of a piece whose
//!   handler returns `bench()`, with the default limits (fuel metering on),
//!   also run natively by `benches/native-quickjs/` (`make bench-compare`).
//!
//! `cargo bench --bench sandbox -- js` runs only the scripts; `-- breakdown`
//! the phases of a fresh instance's first run (time, CPU time, page faults);
//! `-- memory` memory per live idle sandbox, mapping by mapping (resident,
//! private, proportional); `-- fresh` fresh instances and their first runs
//! in a row, `BGWASM_BENCH_ROUNDS` of them (5,000), for a profiler.
//! `-- js` takes `BGWASM_BENCH_ROUNDS` too (the timed warm runs per script,
//! 7) and `BGWASM_BENCH_JS` (the scripts whose name contains it), so that
//! `valgrind --tool=callgrind` counts the instructions of one warm run: the
//! run with 2 rounds minus the run with 1. Under valgrind, which cannot
//! reserve the pooling allocator's address space, `BGWASM_BENCH_LIVE=100000`
//! (`--max-live-sandboxes`) has instances allocated on demand instead.

use bgwasm::sandbox::{
    EgressPolicy, EngineOptions, Lang, Limits, MemoryCells, Piece, SandboxEngine, SpaceSandbox,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "bench_env.rs"]
mod bench_env;
#[path = "proc_status.rs"]
mod proc_status;
use bench_env::env_or;
use proc_status::proc_kib;

const TRIVIAL: &str = "export function bgUpdater() { return 1; }";
const LIVE_INSTANCES: usize = 200;
/// A TypeScript block of 10 lines, repeated to make a 500-line piece.
const TS_BLOCK: &str = "interface Item{N} { id: string; weight: number; tags?: string[] }
enum Kind{N} { Small = 1, Large = 10 }
namespace Tools{N} {
  export function total(items: readonly Item{N}[]): number {
    return items.reduce((sum, item) => sum + item.weight, 0);
  }
}
function kindOf{N}<T extends Item{N}>(item: T): Kind{N} {
  return item.weight > 5 ? Kind{N}.Large : Kind{N}.Small;
}
";

/// A TypeScript piece of 500 lines.
fn ts_piece_500_lines() -> String {
    let mut source = String::new();
    for n in 0..49 {
        source.push_str(&TS_BLOCK.replace("{N}", &n.to_string()));
    }
    source.push_str(
        "export function bgUpdater(): number {\n  return Tools0.total([{ id: \"a\", weight: 2 }]) + kindOf0({ id: \"b\", weight: 9 });\n}\n",
    );
    while source.lines().count() < 500 {
        source.push_str("// padding\n");
    }
    source
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode == "js" {
        runtime.block_on(cpu_bound_scripts());
    } else if mode == "breakdown" {
        runtime.block_on(breakdown());
    } else if mode == "memory" {
        runtime.block_on(memory_map());
    } else if mode == "fresh" {
        runtime.block_on(fresh_loop());
    } else {
        runtime.block_on(bench());
    }
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// The resident set's parts, in bytes.
struct ResidentParts {
    /// Anonymous pages: private to this process.
    anonymous: u64,
    /// File-backed pages, above all the compiled guest's snapshot image,
    /// mapped copy-on-write by every instance: the resident set counts its
    /// pages once per instance that touched them, physical memory holds
    /// them once.
    file: u64,
    /// The proportional set: each page divided among those that map it.
    proportional: u64,
    /// What this process alone holds: pages mapped once (written snapshot
    /// pages, heaps, stacks) plus its page tables. What one more sandbox
    /// costs the machine, since a shared page is in memory once however
    /// many map it.
    private_and_tables: u64,
}

fn resident_parts() -> ResidentParts {
    let rollup = "/proc/self/smaps_rollup";
    ResidentParts {
        anonymous: proc_kib("/proc/self/status", "RssAnon:"),
        file: proc_kib("/proc/self/status", "RssFile:"),
        proportional: proc_kib(rollup, "Pss:"),
        private_and_tables: proc_kib(rollup, "Private_Clean:")
            + proc_kib(rollup, "Private_Dirty:")
            + proc_kib("/proc/self/status", "VmPTE:"),
    }
}

fn report(name: &str, samples: &mut [Duration]) {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    let p50 = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    println!(
        "{name:<44} mean {:>8.1} µs   p50 {:>8.1} µs   p99 {:>8.1} µs   (n={})",
        mean.as_secs_f64() * 1e6,
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        samples.len()
    );
}

/// The times of 5,000 runs of `piece`, already loaded in `sandbox`.
async fn warm_runs(
    sandbox: &mut SpaceSandbox,
    piece: &Piece,
    cells: Arc<MemoryCells>,
) -> Vec<Duration> {
    let event = serde_json::json!({});
    let mut samples = Vec::with_capacity(5000);
    for _ in 0..5000 {
        let started = Instant::now();
        let report = sandbox.run(piece, &event, cells.clone()).await;
        samples.push(started.elapsed());
        assert!(report.outcome.ok);
    }
    samples
}

/// The engine, the trivial piece, an empty event and cells, after 20 fresh
/// sandboxes ran the piece once (allocator and code paths warm).
async fn warmed_up() -> (
    Arc<SandboxEngine>,
    Piece,
    serde_json::Value,
    Arc<MemoryCells>,
) {
    let engine = SandboxEngine::new(EngineOptions::default())
        .await
        .expect("engine");
    let piece = Piece::new("trivial", TRIVIAL);
    let event = serde_json::json!({});
    let cells: Arc<MemoryCells> = Arc::new(MemoryCells::default());
    for _ in 0..20 {
        let mut sandbox = SpaceSandbox::new(engine.clone(), "warmup", Limits::default());
        assert!(sandbox.run(&piece, &event, cells.clone()).await.outcome.ok);
    }
    (engine, piece, event, cells)
}

async fn bench() {
    let (engine, piece, event, cells) = warmed_up().await;
    let limits = Limits::default();

    let mut instantiate = Vec::new();
    for i in 0..500 {
        let mut sandbox = SpaceSandbox::new(engine.clone(), format!("space-{i}"), limits);
        let started = Instant::now();
        sandbox.instantiate().await.unwrap();
        instantiate.push(started.elapsed());
    }
    report("instantiate a space", &mut instantiate);

    let mut first_run = Vec::new();
    for i in 0..500 {
        let mut sandbox = SpaceSandbox::new(engine.clone(), format!("space-{i}"), limits);
        let started = Instant::now();
        let report = sandbox.run(&piece, &event, cells.clone()).await;
        first_run.push(started.elapsed());
        assert!(report.outcome.ok);
    }
    report("fresh instance + first trivial run", &mut first_run);

    let mut sandbox = SpaceSandbox::new(engine.clone(), "warm", limits);
    sandbox.run(&piece, &event, cells.clone()).await;
    report(
        "warm trivial run",
        &mut warm_runs(&mut sandbox, &piece, cells.clone()).await,
    );

    let before = resident_bytes();
    let parts_before = resident_parts();
    let mut live = Vec::with_capacity(LIVE_INSTANCES);
    for i in 0..LIVE_INSTANCES {
        let mut sandbox = SpaceSandbox::new(engine.clone(), format!("live-{i}"), limits);
        assert!(sandbox.run(&piece, &event, cells.clone()).await.outcome.ok);
        live.push(sandbox);
    }
    let after = resident_bytes();
    let parts_after = resident_parts();
    let per_instance = after.saturating_sub(before) / LIVE_INSTANCES as u64;
    let per = |a: u64, b: u64| a.saturating_sub(b) as f64 / LIVE_INSTANCES as f64 / 1024.0;
    println!(
        "{:<44} {:>8.1} KiB per instance   ({LIVE_INSTANCES} live, idle after one run; RSS {:.1} -> {:.1} MiB; \
         of it {:.1} KiB anonymous, {:.1} KiB file-backed)",
        "memory per live instance",
        per_instance as f64 / 1024.0,
        before as f64 / (1 << 20) as f64,
        after as f64 / (1 << 20) as f64,
        per(parts_after.anonymous, parts_before.anonymous),
        per(parts_after.file, parts_before.file),
    );
    println!(
        "{:<44} {:>8.1} KiB per instance   (proportional set size: the shared snapshot's pages counted once)",
        "memory per live instance, PSS",
        per(parts_after.proportional, parts_before.proportional),
    );
    println!(
        "{:<44} {:>8.1} KiB per instance   (pages no other mapping shares, and page tables: what one more costs)",
        "memory per live instance, private + tables",
        per(
            parts_after.private_and_tables,
            parts_before.private_and_tables
        ),
    );
    assert_eq!(live.iter().filter(|s| s.is_live()).count(), LIVE_INSTANCES);
    drop(live);

    let source = ts_piece_500_lines();
    let mut strip = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let stripped = bgwasm::typescript::strip(&source, "bench.ts").expect("the piece strips");
        strip.push(started.elapsed());
        assert!(!stripped.js.is_empty());
    }
    report(
        &format!("strip a {}-line TypeScript piece", source.lines().count()),
        &mut strip,
    );

    let ts_piece = Piece::new("typed", source).with_lang(Lang::TypeScript);
    let mut sandbox = SpaceSandbox::new(engine.clone(), "warm-ts", limits);
    let first = sandbox.run(&ts_piece, &event, cells.clone()).await;
    assert_eq!(first.outcome.value, Some(serde_json::json!(12)));
    report(
        "warm run of the 500-line TypeScript piece",
        &mut warm_runs(&mut sandbox, &ts_piece, cells).await,
    );
    assert_eq!(engine.strip_cache().stats().strips, 1);

    streamed_body().await;
    cpu_bound_scripts().await;
}

/// Minor page faults of this process so far (`/proc/self/stat`, field 10).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name (field 2) is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    after
        .split_whitespace()
        .nth(7)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Nanoseconds this thread has spent on a CPU, in user and kernel mode
/// (`/proc/thread-self/schedstat`): unlike the wall clock, it leaves out the
/// time other processes had the core.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Where a fresh instance's first run spends its time and its page faults,
/// phase by phase, over `BREAKDOWN_SPACES` sandboxes:
/// instantiation; the first run (loading the piece, then running it);
/// loading a second piece in the same, now warm, instance and running it;
/// a warm run. `cargo bench --bench sandbox -- breakdown`.
async fn breakdown() {
    const BREAKDOWN_SPACES: usize = 300;
    let (engine, piece, event, cells) = warmed_up().await;
    let other = Piece::new("other", "export function bgUpdater() { return 2; }");
    let limits = Limits::default();
    let mut sandboxes: Vec<SpaceSandbox> = (0..BREAKDOWN_SPACES)
        .map(|i| SpaceSandbox::new(engine.clone(), format!("space-{i}"), limits))
        .collect();
    let phase = async |name: &str, sandboxes: &mut Vec<SpaceSandbox>, step: u8| {
        let mut samples = Vec::with_capacity(sandboxes.len());
        let faults = minor_faults();
        let cpu = thread_cpu_ns();
        for sandbox in sandboxes.iter_mut() {
            let started = Instant::now();
            match step {
                0 => sandbox.instantiate().await.unwrap(),
                1 => assert!(sandbox.run(&piece, &event, cells.clone()).await.outcome.ok),
                2 => assert!(sandbox.run(&other, &event, cells.clone()).await.outcome.ok),
                _ => assert!(sandbox.run(&piece, &event, cells.clone()).await.outcome.ok),
            }
            samples.push(started.elapsed());
        }
        let cpu = (thread_cpu_ns() - cpu) as f64 / 1e3 / sandboxes.len() as f64;
        let faults = (minor_faults() - faults) as f64 / sandboxes.len() as f64;
        report(
            &format!("{name} (CPU {cpu:.1} µs, {faults:.0} faults)"),
            &mut samples,
        );
    };
    phase("instantiate", &mut sandboxes, 0).await;
    phase("first run (load + run)", &mut sandboxes, 1).await;
    phase("second piece (load + run)", &mut sandboxes, 2).await;
    phase("warm run", &mut sandboxes, 3).await;
}

/// The resident set, its private (written, copy-on-write) part and the
/// proportional set of each kind of mapping, in KiB:
/// the compiled guest's file (its code, and the snapshot every linear memory
/// maps copy-on-write), the anonymous parts of the linear memories' 4 GiB
/// reservations, fiber stacks (by their size), the malloc heap, the rest.
fn mappings() -> std::collections::BTreeMap<String, [u64; 3]> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut kinds = std::collections::BTreeMap::<String, [u64; 3]>::new();
    let mut kind = String::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if let Some((start, end)) = first.split_once('-')
            && let (Ok(start), Ok(end)) =
                (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16))
        {
            let name = fields.nth(4).unwrap_or("");
            let size = end - start;
            kind = if name.ends_with(".cwasm") {
                "guest file (code + snapshot)".into()
            } else if !name.is_empty() {
                name.into()
            } else if size >= 1 << 30 {
                "anonymous, in a linear memory reservation".into()
            } else {
                format!("anonymous, {} KiB mappings", size >> 10)
            };
            continue;
        }
        let kib = || {
            fields
                .clone()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match first {
            "Rss:" => kinds.entry(kind.clone()).or_default()[0] += kib(),
            "Anonymous:" => kinds.entry(kind.clone()).or_default()[1] += kib(),
            "Pss:" => kinds.entry(kind.clone()).or_default()[2] += kib(),
            _ => {}
        }
    }
    kinds
}

/// What `LIVE_INSTANCES` live idle sandboxes add, mapping kind by kind, per
/// sandbox: `cargo bench --bench sandbox -- memory`.
async fn memory_map() {
    let (engine, piece, event, cells) = warmed_up().await;
    let before = mappings();
    let mut live = Vec::new();
    for i in 0..LIVE_INSTANCES {
        let mut sandbox = SpaceSandbox::new(engine.clone(), format!("live-{i}"), Limits::default());
        assert!(sandbox.run(&piece, &event, cells.clone()).await.outcome.ok);
        live.push(sandbox);
    }
    let after = mappings();
    print_mappings("after one run each", &before, &after);
    let runs: usize = env_or("BGWASM_BENCH_RUNS", 100);
    for sandbox in &mut live {
        for _ in 1..runs {
            assert!(sandbox.run(&piece, &event, cells.clone()).await.outcome.ok);
        }
    }
    let later = mappings();
    print_mappings(&format!("after {runs} runs each"), &before, &later);
    drop(live);
}

/// What each sandbox added between `before` and `after`, kind by kind.
fn print_mappings(
    when: &str,
    before: &std::collections::BTreeMap<String, [u64; 3]>,
    after: &std::collections::BTreeMap<String, [u64; 3]>,
) {
    println!("{LIVE_INSTANCES} live sandboxes, {when}, per sandbox:");
    let n = LIVE_INSTANCES as f64;
    let mut all = [0.0; 3];
    for (kind, now) in after {
        let then = before.get(kind).copied().unwrap_or_default();
        let d: Vec<f64> = (0..3)
            .map(|i| (now[i] as f64 - then[i] as f64) / n)
            .collect();
        for i in 0..3 {
            all[i] += d[i];
        }
        if d.iter().any(|kib| kib.abs() >= 0.5) {
            println!(
                "  {kind:<46} RSS {:>6.1} KiB (private {:>6.1})   PSS {:>6.1} KiB",
                d[0], d[1], d[2]
            );
        }
    }
    println!(
        "  {:<46} RSS {:>6.1} KiB (private {:>6.1})   PSS {:>6.1} KiB",
        "all", all[0], all[1], all[2]
    );
}

/// Fresh instances and their first trivial runs, one after another, for a
/// profiler: `perf record ... sandbox-* fresh`.
async fn fresh_loop() {
    let (engine, piece, event, cells) = warmed_up().await;
    let rounds: usize = env_or("BGWASM_BENCH_ROUNDS", 5000);
    let started = Instant::now();
    let cpu = thread_cpu_ns();
    for i in 0..rounds {
        let mut sandbox =
            SpaceSandbox::new(engine.clone(), format!("space-{i}"), Limits::default());
        assert!(sandbox.run(&piece, &event, cells.clone()).await.outcome.ok);
    }
    println!(
        "{rounds} fresh instances + first runs: {:.1} µs each, CPU {:.1} µs",
        started.elapsed().as_secs_f64() * 1e6 / rounds as f64,
        (thread_cpu_ns() - cpu) as f64 / 1e3 / rounds as f64
    );
}

/// Timed runs per script (unless `BGWASM_BENCH_ROUNDS` says); the figure is
/// their median.
const SCRIPT_ROUNDS: usize = 7;

/// Each script of `benches/js/` as a piece, one warm-up run, then
/// `SCRIPT_ROUNDS` timed warm runs under the default limits. Prints the
/// median (`p50`), the value (the script's checksum, which native QuickJS
/// must match) and the fuel one run uses.
async fn cpu_bound_scripts() {
    let options = EngineOptions {
        max_live_sandboxes: env_or(
            "BGWASM_BENCH_LIVE",
            EngineOptions::default().max_live_sandboxes,
        ),
        ..EngineOptions::default()
    };
    let engine = SandboxEngine::new(options).await.expect("engine");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/js");
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "js"))
        .collect();
    scripts.sort();
    let rounds: usize = env_or("BGWASM_BENCH_ROUNDS", SCRIPT_ROUNDS);
    let only = std::env::var("BGWASM_BENCH_JS").unwrap_or_default();
    let event = serde_json::json!({});
    for path in scripts {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if !name.contains(&only) {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap()
            + "\nexport function bgUpdater() { return bench(); }\n";
        let piece = Piece::new(name.clone(), source);
        let mut sandbox =
            SpaceSandbox::new(engine.clone(), format!("js-{name}"), Limits::default());
        let cells = Arc::new(MemoryCells::default());
        let first = sandbox.run(&piece, &event, cells.clone()).await;
        assert!(first.outcome.ok, "{name}: {:?}", first.outcome.error);
        let mut samples = Vec::with_capacity(rounds);
        let mut fuel = 0;
        for _ in 0..rounds {
            let started = Instant::now();
            let report = sandbox.run(&piece, &event, cells.clone()).await;
            samples.push(started.elapsed());
            assert!(report.outcome.ok, "{name}: {:?}", report.outcome.error);
            assert_eq!(
                report.outcome.value, first.outcome.value,
                "{name}: a different checksum"
            );
            fuel = report.outcome.fuel_used;
        }
        samples.sort();
        let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
        println!(
            "{:<44} mean {:>8.1} µs   p50 {:>8.1} µs   (n={rounds}, value {}, fuel {fuel})",
            format!("js {name}"),
            mean.as_secs_f64() * 1e6,
            samples[samples.len() / 2].as_secs_f64() * 1e6,
            first.outcome.value.unwrap_or_default(),
        );
    }
}

const BODY_BYTES: usize = 20_000_000;

/// A loopback server that answers every request with `BODY_BYTES` bytes.
async fn body_server() -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head).await;
                let header = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {BODY_BYTES}\r\nconnection: close\r\n\r\n"
                );
                let _ = stream.write_all(header.as_bytes()).await;
                let chunk = vec![b'x'; 64 << 10];
                let mut sent = 0;
                while sent < BODY_BYTES {
                    let n = chunk.len().min(BODY_BYTES - sent);
                    if stream.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    sent += n;
                }
            });
        }
    });
    addr
}

async fn streamed_body() {
    let addr = body_server().await;
    let engine = SandboxEngine::new(EngineOptions {
        egress: EgressPolicy::new(true, vec![]),
        ..EngineOptions::default()
    })
    .await
    .expect("engine");
    let limits = Limits {
        max_response_bytes: 32 << 20,
        memory_bytes: 128 << 20,
        ..Limits::default()
    };
    let streamed = r#"
        export async function bgUpdater(event) {
          const reader = (await fetch(event.url)).body.getReader();
          let bytes = 0;
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return bytes;
            bytes += value.byteLength;
          }
        }"#;
    let whole = r#"
        export async function bgUpdater(event) {
          return (await (await fetch(event.url)).arrayBuffer()).byteLength;
        }"#;
    let event = serde_json::json!({ "url": format!("http://{addr}/") });
    for (name, source) in [
        ("streamed (getReader)", streamed),
        ("read whole (arrayBuffer)", whole),
    ] {
        let mut sandbox = SpaceSandbox::new(engine.clone(), "body", limits);
        let report = sandbox
            .run(
                &Piece::new("body", source),
                &event,
                Arc::new(MemoryCells::default()),
            )
            .await;
        assert!(report.outcome.ok, "{:?}", report.outcome.error);
        assert_eq!(report.outcome.value, Some(serde_json::json!(BODY_BYTES)));
        println!(
            "{:<44} {:>8.1} MiB guest memory peak   ({} ms)",
            format!("20 MB body, {name}"),
            report.outcome.memory_peak_bytes as f64 / (1 << 20) as f64,
            report.outcome.duration_ms
        );
    }
}
