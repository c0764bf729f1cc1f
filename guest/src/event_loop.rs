//! The guest's event loop. javy has none: this one drains QuickJS's job queue,
//! then asks the host for the fetches and timers that completed, and repeats
//! until nothing the run started is left.

use crate::bgwasm::sandbox::events::{self, Completion};
use crate::exports::bgwasm::sandbox::runner::{ErrorKind, RunError};
use crate::ffi;
use crate::natives;
use crate::prelude::Entries;
use crate::report::{self, Thrown};
use javy::quickjs::{Array, Ctx, Object, Value};

/// The prelude's record of a watched promise: `{settled, ok, value, error}`.
pub struct Watched<'js>(pub Object<'js>);

impl<'js> Watched<'js> {
    fn settled(&self) -> bool {
        self.0.get("settled").unwrap_or(false)
    }
    fn ok(&self) -> bool {
        self.0.get("ok").unwrap_or(false)
    }
    fn value(&self) -> Value<'js> {
        self.0
            .get("value")
            .unwrap_or_else(|_| Value::new_undefined(self.0.ctx().clone()))
    }
    fn error(&self) -> Value<'js> {
        self.0
            .get("error")
            .unwrap_or_else(|_| Value::new_undefined(self.0.ctx().clone()))
    }
}

/// Drives the watched promise and everything the run started to the end.
///
/// The run fails at once when the promise rejects, a timer callback throws or
/// a rejection is left unhandled once the job queue is empty (as Node does).
/// When the promise resolves, the loop goes on until no fetch or timer is left;
/// when nothing is left and the promise is still pending, it cannot settle.
pub fn drive<'js>(
    ctx: &Ctx<'js>,
    entries: &Entries<'_, 'js>,
    piece_id: &str,
    watched: &Watched<'js>,
) -> Result<Value<'js>, RunError> {
    loop {
        drain_jobs(ctx)
            .map_err(|thrown| thrown.into_error(piece_id, "failed", ErrorKind::JsError))?;
        if watched.settled() && !watched.ok() {
            let thrown = Thrown::describe(ctx, entries, watched.error());
            return Err(thrown.into_error(piece_id, "failed", ErrorKind::JsError));
        }
        if let Ok(Some(detached)) = entries.take_detached_error().call::<_, Option<Object>>(()) {
            let origin: String = detached.get("origin").unwrap_or_default();
            let context = if origin == "uncaught" {
                "failed in a timer callback"
            } else {
                "failed with an unhandled promise rejection"
            };
            return Err(Thrown::from_report(&detached).into_error(
                piece_id,
                context,
                ErrorKind::JsError,
            ));
        }
        if events::pending() == 0 {
            break;
        }
        for completion in events::wait() {
            let delivered = match completion {
                Completion::Timer(id) => entries.timer_fired().call::<_, ()>((id,)),
                Completion::Fetch(done) => match done.outcome {
                    Ok(response) => response_object(ctx, response)
                        .and_then(|r| entries.fetch_done().call::<_, ()>((done.id, r))),
                    Err(reason) => entries.fetch_done().call::<_, ()>((
                        done.id,
                        Value::new_undefined(ctx.clone()),
                        reason,
                    )),
                },
                Completion::Body(chunk) => match chunk.chunk {
                    Ok(Some(bytes)) => natives::array_buffer(ctx, bytes)
                        .and_then(|buffer| entries.body_chunk().call::<_, ()>((chunk.id, buffer))),
                    Ok(None) => entries.body_chunk().call::<_, ()>((chunk.id,)),
                    Err(reason) => entries.body_chunk().call::<_, ()>((
                        chunk.id,
                        Value::new_undefined(ctx.clone()),
                        reason,
                    )),
                },
            };
            if delivered.is_err() {
                let thrown = Thrown::describe(ctx, entries, ctx.catch());
                return Err(thrown.into_error(piece_id, "failed", ErrorKind::JsError));
            }
        }
    }
    if !watched.settled() {
        return Err(report::error(
            ErrorKind::Unsettled,
            format!(
                "piece \"{piece_id}\" returned a promise that never settles: no job, fetch or timer is left that could settle it"
            ),
        ));
    }
    Ok(watched.value())
}

/// Runs every pending QuickJS job.
fn drain_jobs(ctx: &Ctx<'_>) -> Result<(), Thrown> {
    loop {
        match ffi::execute_pending_job(ctx) {
            Ok(true) => continue,
            Ok(false) => return Ok(()),
            Err(()) => {
                let value = ctx.catch();
                let message = value
                    .as_object()
                    .and_then(|o| o.get::<_, String>("message").ok())
                    .unwrap_or_else(|| "a job of the engine failed".into());
                return Err(Thrown {
                    name: "InternalError".into(),
                    message,
                    stack: None,
                });
            }
        }
    }
}

fn response_object<'js>(
    ctx: &Ctx<'js>,
    response: crate::bgwasm::sandbox::http::Response,
) -> javy::quickjs::Result<Object<'js>> {
    let object = Object::new(ctx.clone())?;
    object.set("status", response.status)?;
    object.set("statusText", response.status_text)?;
    object.set("url", response.url)?;
    let headers = Array::new(ctx.clone())?;
    for (index, (name, value)) in response.headers.into_iter().enumerate() {
        let pair = Array::new(ctx.clone())?;
        pair.set(0, name)?;
        pair.set(1, value)?;
        headers.set(index, pair)?;
    }
    object.set("headers", headers)?;
    Ok(object)
}
