//! The prelude: the web APIs written in JavaScript (`prelude/*.js`), and the
//! entry points into it that the engine and the event loop call. They are
//! looked up once, when the prelude is evaluated at pre-initialisation, and
//! kept as [`Prelude`]: no string lookups on the hot path of a run.

use javy::quickjs::{
    Array, Ctx, Exception, Function, Object, Persistent, Result, context::EvalOptions,
};

/// The prelude's name in stack traces; frames from it are cut from the
/// stacks shown to piece authors.
pub const PRELUDE_FILENAME: &str = "bgwasm:prelude";

/// The web APIs, one file a concept, evaluated in this order (`internal.js`
/// first: the others build on it). Each file is compiled on its own, so
/// compiling needs the memory of the largest file only, not of all of them
/// at once (memory the snapshot would keep).
const SOURCE: &[&str] = &[
    include_str!("prelude/internal.js"),
    include_str!("prelude/console.js"),
    include_str!("prelude/run.js"),
    include_str!("prelude/events.js"),
    include_str!("prelude/cells.js"),
    include_str!("prelude/timers.js"),
    include_str!("prelude/abort.js"),
    include_str!("prelude/base64.js"),
    include_str!("prelude/misc.js"),
    include_str!("prelude/url.js"),
    include_str!("prelude/encoding.js"),
    include_str!("prelude/headers.js"),
    include_str!("prelude/body.js"),
    include_str!("prelude/fetch.js"),
];

/// The parts of the prelude evaluated on first use: a group's name, the
/// globals that load it, and its source. Until a piece touches one of those
/// globals (or the prelude itself needs the group), the group costs a fresh
/// instance nothing: no heap, no start-up time.
const LAZY: &[(&str, &[&str], &str)] = &[
    (
        "streams",
        &[
            "ReadableStream",
            "ReadableStreamDefaultReader",
            "ReadableStreamDefaultController",
            "WritableStream",
            "WritableStreamDefaultWriter",
            "WritableStreamDefaultController",
            "TransformStream",
            "TransformStreamDefaultController",
            "CountQueuingStrategy",
            "ByteLengthQueuingStrategy",
            "TextEncoderStream",
            "TextDecoderStream",
            "CompressionStream",
            "DecompressionStream",
        ],
        concat!(
            include_str!("prelude/streams.js"),
            include_str!("prelude/compression.js"),
        ),
    ),
    (
        "blob",
        &["Blob", "File", "FormData"],
        include_str!("prelude/blob.js"),
    ),
    (
        "crypto",
        &["crypto", "Crypto", "CryptoKey", "SubtleCrypto"],
        include_str!("prelude/crypto.js"),
    ),
    (
        "clone",
        &["structuredClone"],
        include_str!("prelude/clone.js"),
    ),
];

macro_rules! entry_points {
    ($($field:ident => $name:literal),* $(,)?) => {
        /// The prelude's entry points, kept across contexts.
        pub struct Prelude {
            $($field: Persistent<Function<'static>>,)*
        }

        /// The prelude's entry points in a context, each restored when it is
        /// first called for: a run pays only for those it uses.
        pub struct Entries<'a, 'js> {
            prelude: &'a Prelude,
            ctx: Ctx<'js>,
        }

        impl Prelude {
            fn save<'js>(ctx: &Ctx<'js>, internal: &Object<'js>) -> Self {
                Self {
                    $($field: Persistent::save(
                        ctx,
                        internal
                            .get::<_, Function>($name)
                            .expect(concat!("the prelude defines ", $name)),
                    ),)*
                }
            }

            /// The entry points, for calls in `ctx`.
            pub fn restore<'a, 'js>(&'a self, ctx: &Ctx<'js>) -> Entries<'a, 'js> {
                Entries { prelude: self, ctx: ctx.clone() }
            }
        }

        impl<'js> Entries<'_, 'js> {
            $(
                pub fn $field(&self) -> Function<'js> {
                    self.prelude
                        .$field
                        .clone()
                        .restore(&self.ctx)
                        .expect("the prelude lives as long as the engine")
                }
            )*
        }
    };
}

entry_points! {
    find_handler => "findHandler",
    start => "start",
    watch => "watch",
    take_detached_error => "takeDetachedError",
    error_report => "errorReport",
    serialize => "serialize",
    on_rejection => "onRejection",
    fetch_done => "fetchDone",
    body_chunk => "bodyChunk",
    timer_fired => "timerFired",
    reset => "reset",
}

impl Prelude {
    /// Evaluates the prelude in `ctx` (whose global object already holds
    /// `__bgwasm_natives`), takes its entry points and removes the two
    /// internal globals, so pieces cannot reach them.
    pub fn evaluate(ctx: &Ctx<'_>) -> Self {
        for source in SOURCE {
            evaluate_source(ctx, source).expect("the prelude evaluates");
        }
        let globals = ctx.globals();
        let internal: Object = globals
            .get("__bgwasm_internal")
            .expect("the prelude exports its internals");
        let lazy: Function = internal.get("lazy").expect("the prelude defines lazy");
        for (group, names, _) in LAZY {
            let list = Array::new(ctx.clone()).expect("an array");
            for (index, name) in names.iter().enumerate() {
                list.set(index, *name).expect("an array element");
            }
            lazy.call::<_, ()>((*group, list))
                .expect("registering a lazy part of the prelude");
        }
        for name in ["__bgwasm_internal", "__bgwasm_natives"] {
            globals.remove(name).expect("removing a global");
        }
        Self::save(ctx, &internal)
    }
}

fn evaluate_source(ctx: &Ctx<'_>, source: &str) -> Result<()> {
    let mut options = EvalOptions::default();
    options.global = true;
    options.filename = Some(PRELUDE_FILENAME.to_owned());
    ctx.eval_with_options::<(), _>(source, options)
}

/// Evaluates the lazy part `group` of the prelude (the natives'
/// `loadPrelude`). Its files find `internal` where the eager ones did, on the
/// global object, for the length of the evaluation only.
pub fn load_lazy<'js>(ctx: Ctx<'js>, group: String, internal: Object<'js>) -> Result<()> {
    let Some((_, _, source)) = LAZY.iter().find(|(name, _, _)| *name == group) else {
        return Err(Exception::throw_internal(
            &ctx,
            &format!("no part of the prelude is called {group:?}"),
        ));
    };
    let globals = ctx.globals();
    globals.set("__bgwasm_internal", internal)?;
    let evaluated = evaluate_source(&ctx, source);
    globals.remove("__bgwasm_internal")?;
    evaluated
}
