//! The raw QuickJS calls that javy does not wrap, each with its argument for
//! being sound. Nothing else in the guest calls `qjs` directly.

use javy::quickjs::{Ctx, Function, Persistent, Value, qjs};
use std::cell::RefCell;
use std::ptr::NonNull;

thread_local! {
    /// The prelude's `onRejection`, which the tracker calls. It lives apart
    /// from the engine because QuickJS calls the tracker while the engine is
    /// borrowed.
    static ON_REJECTION: RefCell<Option<Persistent<Function<'static>>>> = const { RefCell::new(None) };
}

/// Forwards every unhandled promise rejection, and every late handling of
/// one, to `on_rejection(promise, reason, handled)`.
pub fn track_rejections<'js>(ctx: &Ctx<'js>, on_rejection: Function<'js>) {
    ON_REJECTION.with(|slot| *slot.borrow_mut() = Some(Persistent::save(ctx, on_rejection)));
    // SAFETY: the runtime pointer comes from a live context, so it is a live
    // runtime; the tracker is a plain function that only touches
    // `ON_REJECTION`, and its opaque pointer is unused.
    unsafe {
        let rt = qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
        qjs::JS_SetHostPromiseRejectionTracker(rt, Some(track_rejection), std::ptr::null_mut());
    }
}

/// QuickJS's promise rejection tracker.
unsafe extern "C" fn track_rejection(
    ctx: *mut qjs::JSContext,
    promise: qjs::JSValue,
    reason: qjs::JSValue,
    is_handled: bool,
    _opaque: *mut std::ffi::c_void,
) {
    let Some(raw) = NonNull::new(ctx) else { return };
    // SAFETY: QuickJS calls the tracker with a live context, inside the
    // engine's own `Context::with`, so the context is valid for this call.
    let ctx = unsafe { Ctx::from_raw(raw) };
    // SAFETY: the values are borrowed from QuickJS for the call, so each is
    // duplicated (its reference count raised) before a `Value` takes
    // ownership of it.
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

/// Runs one pending job of the engine: `Ok(true)` when it ran one,
/// `Ok(false)` when none was left, `Err(())` when the job threw (the
/// exception is left for `ctx.catch()`). It calls the engine directly:
/// javy's own helper takes the runtime lock, which the caller holds.
pub fn execute_pending_job(ctx: &Ctx<'_>) -> Result<bool, ()> {
    let mut job_ctx = std::ptr::null_mut();
    // SAFETY: the runtime pointer comes from a live context whose lock the
    // caller holds (it is inside `Context::with`), and `job_ctx` is a valid
    // place for QuickJS to write the job's context to.
    let status = unsafe {
        let rt = qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
        qjs::JS_ExecutePendingJob(rt, &mut job_ctx)
    };
    match status {
        0 => Ok(false),
        s if s > 0 => Ok(true),
        _ => Err(()),
    }
}

/// Collects garbage now and lets the heap grow `headroom` bytes before the
/// next collection. Run once after the prelude is evaluated, before the
/// snapshot: otherwise the threshold left by the last collection during
/// pre-initialisation sits just above the heap, and a fresh instance's first
/// run collects at once — marking every object of the snapshot, which
/// touches (and so copies) every page of it. Returns the live heap's size.
pub fn settle_heap(ctx: &Ctx<'_>, headroom: usize) -> usize {
    // SAFETY: the runtime pointer comes from a live context whose lock the
    // caller holds; `usage` is a plain struct QuickJS fills in.
    unsafe {
        let rt = qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
        qjs::JS_RunGC(rt);
        let mut usage = std::mem::MaybeUninit::<qjs::JSMemoryUsage>::zeroed();
        qjs::JS_ComputeMemoryUsage(rt, usage.as_mut_ptr());
        let live = usage.assume_init().malloc_size.max(0) as usize;
        qjs::JS_SetGCThreshold(rt, (live + headroom) as _);
        live
    }
}
