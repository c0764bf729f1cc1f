//! The one JavaScript engine of this instance and the pieces loaded into it.
//!
//! javy's `Runtime` is never freed, so there is exactly one per instance, made
//! on first use (at pre-initialisation) and kept for the instance's life.

use crate::event_loop::{self, Watched};
use crate::exports::bgwasm::sandbox::runner::{ErrorKind, RunError};
use crate::prelude::{Entries, Prelude};
use crate::report::{self, Thrown};
use crate::{ffi, natives};
use javy::quickjs::{Ctx, Function, Module, Object, Persistent, Value, context::EvalOptions};
use std::cell::RefCell;
use std::collections::HashMap;

/// How much QuickJS allocates between garbage collections, at first (after
/// a collection QuickJS lets the heap grow by half). javy's default never
/// collects.
const GC_THRESHOLD_BYTES: usize = 1 << 20;
/// QuickJS's own stack limit. It sits below the wasm stack wasmtime allows, so
/// deep recursion ends as a catchable JavaScript error, not a trap.
const MAX_STACK_BYTES: usize = 512 * 1024;
thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

pub struct Engine {
    runtime: javy::Runtime,
    prelude: Prelude,
    handlers: HashMap<String, Persistent<Function<'static>>>,
}

/// Runs `f` with this instance's engine, building it on first use.
pub fn with_engine<R>(f: impl FnOnce(&mut Engine) -> R) -> R {
    ENGINE.with(|slot| {
        let mut slot = slot.borrow_mut();
        let engine = slot.get_or_insert_with(Engine::new);
        f(engine)
    })
}

impl Engine {
    fn new() -> Self {
        let mut config = javy::Config::default();
        // TextEncoder/TextDecoder are the prelude's (every WHATWG encoding);
        // `performance` (monotonic `now`, `timeOrigin`), WeakRef and
        // FinalizationRegistry are QuickJS's own.
        config
            .text_encoding(false)
            .performance(true)
            .weak_ref(true)
            .gc_threshold(GC_THRESHOLD_BYTES)
            .max_stack_size(MAX_STACK_BYTES);
        let runtime = javy::Runtime::new(config).expect("the JavaScript engine starts");
        let prelude = runtime.context().with(|ctx| {
            natives::register(&ctx).expect("the natives register");
            let prelude = Prelude::evaluate(&ctx);
            ffi::track_rejections(&ctx, prelude.restore(&ctx).on_rejection());
            ffi::settle_heap(&ctx, GC_THRESHOLD_BYTES);
            prelude
        });
        Self {
            runtime,
            prelude,
            handlers: HashMap::new(),
        }
    }

    /// Evaluates a piece's source and keeps its handler.
    pub fn load(&mut self, piece_id: &str, source: &str) -> Result<(), RunError> {
        self.handlers.remove(piece_id);
        let prelude = &self.prelude;
        let handler = self.runtime.context().with(|ctx| {
            let entries = prelude.restore(&ctx);
            let handler = if is_module(source) {
                load_module(&ctx, &entries, piece_id, source)?
            } else {
                load_script(&ctx, &entries, piece_id, source)?
            };
            match handler.as_function() {
                Some(function) => Ok(Persistent::save(&ctx, function.clone())),
                None => Err(report::error(
                    ErrorKind::NoHandler,
                    format!(
                        "piece \"{piece_id}\" has no bgUpdater handler: export one \
                         (`export async function bgUpdater(event, ctx) {{ ... }}`) or define a global function bgUpdater"
                    ),
                )),
            }
        })?;
        self.handlers.insert(piece_id.to_owned(), handler);
        Ok(())
    }

    /// Runs a loaded piece's handler to the end.
    pub fn run(
        &mut self,
        piece_id: &str,
        space: &str,
        event: &str,
    ) -> Result<Option<String>, RunError> {
        let Some(handler) = self.handlers.get(piece_id).cloned() else {
            return Err(report::error(
                ErrorKind::NoHandler,
                format!(
                    "piece \"{piece_id}\" is not loaded in this sandbox; load it before running it"
                ),
            ));
        };
        // Each run's randomness comes from the host's per-run seed.
        natives::reseed_math_random();
        let prelude = &self.prelude;
        self.runtime.context().with(|ctx| {
            let entries = prelude.restore(&ctx);
            let handler = handler
                .restore(&ctx)
                .expect("handlers live as long as the engine");
            let watched: Object = match entries.start().call((handler, event, space, piece_id)) {
                Ok(watched) => watched,
                Err(_) => {
                    let thrown = Thrown::describe(&ctx, &entries, ctx.catch());
                    return Err(thrown.into_error(piece_id, "could not start", ErrorKind::JsError));
                }
            };
            let outcome = event_loop::drive(&ctx, &entries, piece_id, &Watched(watched));
            let _ = entries.reset().call::<_, ()>(());
            let value = outcome?;
            serialize(&ctx, &entries, piece_id, value)
        })
    }
}

/// Whether the source is an ES module: a line that starts with an `import` or
/// `export` statement (dynamic `import(...)` and `import.meta` do not count).
/// QuickJS's own detector accepts plain scripts too, which would hide a global
/// `bgUpdater` inside module scope.
fn is_module(source: &str) -> bool {
    let mut in_block_comment = false;
    source.lines().any(|line| {
        let mut line = line.trim_start();
        if in_block_comment {
            match line.find("*/") {
                Some(end) => {
                    in_block_comment = false;
                    line = line[end + 2..].trim_start();
                }
                None => return false,
            }
        }
        while let Some(rest) = line.strip_prefix("/*") {
            match rest.find("*/") {
                Some(end) => line = rest[end + 2..].trim_start(),
                None => {
                    in_block_comment = true;
                    return false;
                }
            }
        }
        starts_statement(line, "export")
            || (starts_statement(line, "import") && !line[6..].trim_start().starts_with(['(', '.']))
    })
}

fn starts_statement(line: &str, keyword: &str) -> bool {
    line.strip_prefix(keyword).is_some_and(|rest| {
        rest.starts_with(|c: char| c.is_whitespace() || matches!(c, '{' | '*' | '"' | '\''))
    })
}

fn load_module<'js>(
    ctx: &Ctx<'js>,
    entries: &Entries<'_, 'js>,
    piece_id: &str,
    source: &str,
) -> Result<Value<'js>, RunError> {
    let declared = Module::declare(ctx.clone(), piece_id, source).map_err(|_| {
        Thrown::describe(ctx, entries, ctx.catch()).into_error(
            piece_id,
            "does not parse",
            ErrorKind::SyntaxError,
        )
    })?;
    let (module, promise) = declared.eval().map_err(|_| {
        Thrown::describe(ctx, entries, ctx.catch()).into_error(
            piece_id,
            "threw while loading",
            ErrorKind::JsError,
        )
    })?;
    let watched: Object = entries
        .watch()
        .call((promise,))
        .expect("watching a promise");
    event_loop::drive(ctx, entries, piece_id, &Watched(watched)).map_err(|mut error| {
        error.message = error.message.replacen("failed", "failed while loading", 1);
        error
    })?;
    let namespace = module.namespace().map_err(|_| {
        Thrown::describe(ctx, entries, ctx.catch()).into_error(
            piece_id,
            "threw while loading",
            ErrorKind::JsError,
        )
    })?;
    Ok(entries
        .find_handler()
        .call((namespace,))
        .unwrap_or_else(|_| Value::new_undefined(ctx.clone())))
}

/// A plain script runs inside a function of its own, so that two pieces of a
/// space do not share globals by accident; a global `bgUpdater` still counts.
fn load_script<'js>(
    ctx: &Ctx<'js>,
    entries: &Entries<'_, 'js>,
    piece_id: &str,
    source: &str,
) -> Result<Value<'js>, RunError> {
    // The wrapper opens on the source's first line, so line numbers hold.
    let wrapped = format!(
        "(function () {{ {source}\n;return typeof bgUpdater === \"function\" ? bgUpdater : globalThis.bgUpdater; }})"
    );
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.filename = Some(piece_id.to_owned());
    let factory: Function = ctx.eval_with_options(wrapped, options).map_err(|_| {
        Thrown::describe(ctx, entries, ctx.catch()).into_error(
            piece_id,
            "does not parse",
            ErrorKind::SyntaxError,
        )
    })?;
    factory.call(()).map_err(|_| {
        Thrown::describe(ctx, entries, ctx.catch()).into_error(
            piece_id,
            "threw while loading",
            ErrorKind::JsError,
        )
    })
}

/// The handler's resolved value as JSON text.
fn serialize<'js>(
    ctx: &Ctx<'js>,
    entries: &Entries<'_, 'js>,
    piece_id: &str,
    value: Value<'js>,
) -> Result<Option<String>, RunError> {
    let result: Object = entries.serialize().call((value,)).map_err(|_| {
        Thrown::describe(ctx, entries, ctx.catch()).into_error(
            piece_id,
            "returned a value that cannot be read",
            ErrorKind::InvalidResult,
        )
    })?;
    if let Ok(Some(problem)) = result.get::<_, Option<String>>("problem") {
        return Err(report::error(
            ErrorKind::InvalidResult,
            format!(
                "piece \"{piece_id}\" resolved to a value that is not JSON-serialisable ({problem}); return plain data or nothing"
            ),
        ));
    }
    Ok(result.get::<_, Option<String>>("json").ok().flatten())
}
