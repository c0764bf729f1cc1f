//! The sandbox guest: a QuickJS engine (built with javy) that loads a space's
//! pieces and runs their `bgUpdater` handlers, driving each handler's promise
//! to the end with fetches and timers that the host carries out.
//!
//! The engine is built once by `wizer-initialize`, which wasmtime-wizer runs at
//! pre-initialisation, so every fresh instance starts with it ready.

#![deny(clippy::undocumented_unsafe_blocks)]

mod engine;
mod event_loop;
mod ffi;
mod natives;
mod prelude;
mod report;

wit_bindgen::generate!({
    world: "sandbox",
    path: "../wit",
});

use exports::bgwasm::sandbox::runner::{Guest as Runner, RunError};

struct Sandbox;

impl Guest for Sandbox {
    fn wizer_initialize() {
        engine::with_engine(|_| ());
    }
}

impl Runner for Sandbox {
    fn load(piece_id: String, source: String) -> Result<(), RunError> {
        engine::with_engine(|engine| engine.load(&piece_id, &source))
    }

    fn run(piece_id: String, space: String, event: String) -> Result<Option<String>, RunError> {
        engine::with_engine(|engine| engine.run(&piece_id, &space, &event))
    }
}

export!(Sandbox);
