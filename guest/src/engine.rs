//! The one JavaScript engine of this instance and the pieces loaded into it.
//!
//! javy's `Runtime` is never freed, so there is exactly one per instance, made
//! on first use (at pre-initialisation) and kept for the instance's life.

use crate::event_loop::{self, Watched};
use crate::exports::bgwasm::sandbox::runner::{ErrorKind, RunError};
use crate::natives;
use crate::report::{self, Thrown};
use javy::quickjs::{Ctx, Function, Module, Object, Persistent, Value, context::EvalOptions, qjs};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ptr::NonNull;

/// How much QuickJS allocates between garbage collections. javy's default
/// never collects.
const GC_THRESHOLD_BYTES: usize = 1 << 20;
/// QuickJS's own stack limit. It sits below the wasm stack wasmtime allows, so
/// deep recursion ends as a catchable JavaScript error, not a trap.
const MAX_STACK_BYTES: usize = 512 * 1024;
/// The prelude's name in stack traces; frames from it are cut from the
/// stacks shown to piece authors.
pub const PRELUDE_FILENAME: &str = "bgwasm:prelude";
/// The web APIs, one file a concept, evaluated once at pre-initialisation in
/// this order (`internal.js` first: the others build on it). Each file is
/// compiled on its own, so compiling needs the memory of the largest file
/// only, not of all of them at once (memory a snapshot keeps).
const PRELUDE: &[&str] = &[
    include_str!("prelude/internal.js"),
    include_str!("prelude/console.js"),
    include_str!("prelude/run.js"),
    include_str!("prelude/cells.js"),
    include_str!("prelude/timers.js"),
    include_str!("prelude/url.js"),
    include_str!("prelude/fetch.js"),
    include_str!("prelude/events.js"),
    include_str!("prelude/abort.js"),
    include_str!("prelude/base64.js"),
    include_str!("prelude/clone.js"),
    include_str!("prelude/misc.js"),
    include_str!("prelude/streams.js"),
    include_str!("prelude/blob.js"),
];

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
    /// The prelude's `onRejection`, apart from `ENGINE` because the engine
    /// calls the tracker while `ENGINE` is borrowed.
    static ON_REJECTION: RefCell<Option<Persistent<Function<'static>>>> = const { RefCell::new(None) };
}

pub struct Engine {
    runtime: javy::Runtime,
    internal: Persistent<Object<'static>>,
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
        config
            .text_encoding(true)
            .gc_threshold(GC_THRESHOLD_BYTES)
            .max_stack_size(MAX_STACK_BYTES);
        let runtime = javy::Runtime::new(config).expect("the JavaScript engine starts");
        let internal = runtime.context().with(|ctx| {
            natives::register(&ctx).expect("the natives register");
            for source in PRELUDE {
                let mut options = EvalOptions::default();
                options.global = true;
                options.filename = Some(PRELUDE_FILENAME.to_owned());
                ctx.eval_with_options::<(), _>(*source, options)
                    .expect("the prelude evaluates");
            }
            let globals = ctx.globals();
            let internal: Object = globals
                .get("__bgwasm_internal")
                .expect("the prelude exports its internals");
            globals
                .remove("__bgwasm_internal")
                .expect("removing a global");
            globals
                .remove("__bgwasm_natives")
                .expect("removing a global");
            let on_rejection: Function = internal.get("onRejection").expect("onRejection");
            ON_REJECTION
                .with(|slot| *slot.borrow_mut() = Some(Persistent::save(&ctx, on_rejection)));
            // SAFETY: the runtime pointer comes from a live context, and the
            // tracker only reads state this module owns.
            unsafe {
                let rt = qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
                qjs::JS_SetHostPromiseRejectionTracker(
                    rt,
                    Some(track_rejection),
                    std::ptr::null_mut(),
                );
            }
            Persistent::save(&ctx, internal)
        });
        Self {
            runtime,
            internal,
            handlers: HashMap::new(),
        }
    }

    /// Evaluates a piece's source and keeps its handler.
    pub fn load(&mut self, piece_id: &str, source: &str) -> Result<(), RunError> {
        self.handlers.remove(piece_id);
        let internal = self.internal.clone();
        let handler = self.runtime.context().with(|ctx| {
            let internal = internal.restore(&ctx).expect("the internals live as long as the engine");
            let handler = if is_module(source) {
                load_module(&ctx, &internal, piece_id, source)?
            } else {
                load_script(&ctx, &internal, piece_id, source)?
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
        let internal = self.internal.clone();
        self.runtime.context().with(|ctx| {
            let internal = internal
                .restore(&ctx)
                .expect("the internals live as long as the engine");
            let handler = handler
                .restore(&ctx)
                .expect("handlers live as long as the engine");
            let start: Function = internal.get("start").expect("start");
            let watched: Object = match start.call((handler, event, space, piece_id)) {
                Ok(watched) => watched,
                Err(_) => {
                    let thrown = Thrown::describe(&ctx, &internal, ctx.catch());
                    return Err(thrown.into_error(piece_id, "could not start", ErrorKind::JsError));
                }
            };
            let outcome = event_loop::drive(&ctx, &internal, piece_id, &Watched(watched));
            let reset: Function = internal.get("reset").expect("reset");
            let _ = reset.call::<_, ()>(());
            let value = outcome?;
            serialize(&ctx, &internal, piece_id, value)
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
    internal: &Object<'js>,
    piece_id: &str,
    source: &str,
) -> Result<Value<'js>, RunError> {
    let declared = Module::declare(ctx.clone(), piece_id, source).map_err(|_| {
        Thrown::describe(ctx, internal, ctx.catch()).into_error(
            piece_id,
            "does not parse",
            ErrorKind::SyntaxError,
        )
    })?;
    let (module, promise) = declared.eval().map_err(|_| {
        Thrown::describe(ctx, internal, ctx.catch()).into_error(
            piece_id,
            "threw while loading",
            ErrorKind::JsError,
        )
    })?;
    let watch: Function = internal.get("watch").expect("watch");
    let watched: Object = watch.call((promise,)).expect("watching a promise");
    event_loop::drive(ctx, internal, piece_id, &Watched(watched)).map_err(|mut error| {
        error.message = error.message.replacen("failed", "failed while loading", 1);
        error
    })?;
    let namespace = module.namespace().map_err(|_| {
        Thrown::describe(ctx, internal, ctx.catch()).into_error(
            piece_id,
            "threw while loading",
            ErrorKind::JsError,
        )
    })?;
    let find: Function = internal.get("findHandler").expect("findHandler");
    Ok(find
        .call((namespace,))
        .unwrap_or_else(|_| Value::new_undefined(ctx.clone())))
}

/// A plain script runs inside a function of its own, so that two pieces of a
/// space do not share globals by accident; a global `bgUpdater` still counts.
fn load_script<'js>(
    ctx: &Ctx<'js>,
    internal: &Object<'js>,
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
        Thrown::describe(ctx, internal, ctx.catch()).into_error(
            piece_id,
            "does not parse",
            ErrorKind::SyntaxError,
        )
    })?;
    factory.call(()).map_err(|_| {
        Thrown::describe(ctx, internal, ctx.catch()).into_error(
            piece_id,
            "threw while loading",
            ErrorKind::JsError,
        )
    })
}

/// The handler's resolved value as JSON text.
fn serialize<'js>(
    ctx: &Ctx<'js>,
    internal: &Object<'js>,
    piece_id: &str,
    value: Value<'js>,
) -> Result<Option<String>, RunError> {
    let serialize: Function = internal.get("serialize").expect("serialize");
    let result: Object = serialize.call((value,)).map_err(|_| {
        Thrown::describe(ctx, internal, ctx.catch()).into_error(
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

/// QuickJS's promise rejection tracker: forwards every unhandled rejection,
/// and every late handling of one, to the prelude's bookkeeping.
unsafe extern "C" fn track_rejection(
    ctx: *mut qjs::JSContext,
    promise: qjs::JSValue,
    reason: qjs::JSValue,
    is_handled: bool,
    _opaque: *mut std::ffi::c_void,
) {
    let Some(raw) = NonNull::new(ctx) else { return };
    // SAFETY: QuickJS calls the tracker with a live context, inside the
    // engine's own `Context::with`; the values are borrowed, so they are
    // duplicated before being wrapped.
    let ctx = unsafe { Ctx::from_raw(raw) };
    let (promise, reason) = unsafe {
        (
            Value::from_raw(ctx.clone(), qjs::JS_DupValue(raw.as_ptr(), promise)),
            Value::from_raw(ctx.clone(), qjs::JS_DupValue(raw.as_ptr(), reason)),
        )
    };
    let callback = ON_REJECTION.with(|slot| slot.borrow().clone());
    if let Some(callback) = callback.and_then(|c| c.restore(&ctx).ok()) {
        let _ = callback.call::<_, ()>((promise, reason, is_handled));
    }
}
