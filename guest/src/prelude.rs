//! The prelude: the web APIs written in JavaScript (`prelude/*.js`), and the
//! entry points into it that the engine and the event loop call. They are
//! looked up once, when the prelude is evaluated at pre-initialisation, and
//! kept as [`Prelude`]: no string lookups on the hot path of a run.

use javy::quickjs::{Ctx, Function, Object, Persistent, context::EvalOptions};

/// The prelude's name in stack traces; frames from it are cut from the
/// stacks shown to piece authors.
pub const PRELUDE_FILENAME: &str = "bgwasm:prelude";

/// The web APIs, one file a concept, evaluated in this order (`internal.js`
/// first: the others build on it).
const SOURCE: &str = concat!(
    include_str!("prelude/internal.js"),
    include_str!("prelude/console.js"),
    include_str!("prelude/run.js"),
    include_str!("prelude/events.js"),
    include_str!("prelude/cells.js"),
    include_str!("prelude/timers.js"),
    include_str!("prelude/abort.js"),
    include_str!("prelude/base64.js"),
    include_str!("prelude/clone.js"),
    include_str!("prelude/misc.js"),
    include_str!("prelude/url.js"),
    include_str!("prelude/encoding.js"),
    include_str!("prelude/streams.js"),
    include_str!("prelude/blob.js"),
    include_str!("prelude/headers.js"),
    include_str!("prelude/body.js"),
    include_str!("prelude/fetch.js"),
    include_str!("prelude/crypto.js"),
    include_str!("prelude/compression.js"),
);

macro_rules! entry_points {
    ($($field:ident => $name:literal),* $(,)?) => {
        /// The prelude's entry points, kept across contexts.
        pub struct Prelude {
            $($field: Persistent<Function<'static>>,)*
        }

        /// The prelude's entry points, restored in a context.
        pub struct Entries<'js> {
            $(pub $field: Function<'js>,)*
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

            /// The entry points as functions of `ctx`.
            pub fn restore<'js>(&self, ctx: &Ctx<'js>) -> Entries<'js> {
                Entries {
                    $($field: self
                        .$field
                        .clone()
                        .restore(ctx)
                        .expect("the prelude lives as long as the engine"),)*
                }
            }
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
        let mut options = EvalOptions::default();
        options.global = true;
        options.filename = Some(PRELUDE_FILENAME.to_owned());
        ctx.eval_with_options::<(), _>(SOURCE, options)
            .expect("the prelude evaluates");
        let globals = ctx.globals();
        let internal: Object = globals
            .get("__bgwasm_internal")
            .expect("the prelude exports its internals");
        for name in ["__bgwasm_internal", "__bgwasm_natives"] {
            globals.remove(name).expect("removing a global");
        }
        Self::save(ctx, &internal)
    }
}
