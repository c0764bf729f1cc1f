//! Runs each CPU-bound script of `benches/js/` on QuickJS built for the host
//! and prints, per script, the median time of one `bench()` call.
//!
//! `native-quickjs [--rounds N] FILE...` prints `NAME<TAB>MEDIAN_MS<TAB>CHECKSUM`
//! lines, the format `scripts/bench-compare.sh` reads (the sandbox side,
//! `benches/sandbox.rs`, prints the same for the same files).

use rquickjs::{Context, Function, Runtime};
use std::path::Path;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    let mut rounds = 7usize;
    if args.peek().map(String::as_str) == Some("--rounds") {
        args.next();
        rounds = args
            .next()
            .and_then(|n| n.parse().ok())
            .expect("--rounds takes a number, like --rounds 7");
    }
    let files: Vec<String> = args.collect();
    if files.is_empty() {
        eprintln!("usage: native-quickjs [--rounds N] benches/js/NAME.js ...");
        std::process::exit(2);
    }
    for file in files {
        let source = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("reading the script {file}: {e}"));
        let name = Path::new(&file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("script")
            .to_owned();
        let (median_ms, checksum) = run(&source, rounds)
            .unwrap_or_else(|e| panic!("the script {file} failed on native QuickJS: {e}"));
        println!("{name}\t{median_ms:.3}\t{checksum}");
    }
}

/// A fresh runtime per script, one warm-up call, then `rounds` timed ones.
fn run(source: &str, rounds: usize) -> Result<(f64, f64), rquickjs::Error> {
    let runtime = Runtime::new()?;
    let context = Context::full(&runtime)?;
    context.with(|ctx| {
        ctx.eval::<(), _>(source)?;
        let bench: Function = ctx.globals().get("bench")?;
        let checksum: f64 = bench.call(())?;
        let mut samples = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let started = Instant::now();
            let value: f64 = bench.call(())?;
            samples.push(started.elapsed().as_secs_f64() * 1e3);
            assert_eq!(value, checksum, "bench() returned a different checksum");
        }
        samples.sort_by(f64::total_cmp);
        Ok((samples[samples.len() / 2], checksum))
    })
}
