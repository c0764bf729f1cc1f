//! The native functions behind the prelude's web APIs: thin bridges to the
//! host's imports, and the byte work that belongs in vetted Rust crates
//! (text encodings, hashes and signatures, compression). The prelude reaches
//! them as `__bgwasm_natives`.

mod compression;
mod crypto;

pub use crypto::reseed_math_random;
mod encoding;
mod handles;
mod whatwg_url;

use crate::bgwasm::sandbox::{cells, http, logging, timers};
use javy::quickjs::{
    Array, ArrayBuffer, Ctx, Exception, Function, Object, Result, TypedArray, Value, function::Opt,
};

/// Builds the natives object and puts it on the global object, where the
/// prelude picks it up.
pub fn register(ctx: &Ctx<'_>) -> Result<()> {
    let natives = Object::new(ctx.clone())?;
    natives.set("log", Function::new(ctx.clone(), log)?)?;
    natives.set(
        "cellGet",
        Function::new(ctx.clone(), |key: String| cells::get(&key))?,
    )?;
    natives.set("cellSet", Function::new(ctx.clone(), cell_set)?)?;
    natives.set("cellDelete", Function::new(ctx.clone(), cell_delete)?)?;
    natives.set("cellKeys", Function::new(ctx.clone(), cells::keys)?)?;
    natives.set("fetchStart", Function::new(ctx.clone(), fetch_start)?)?;
    natives.set(
        "fetchReadBody",
        Function::new(ctx.clone(), http::read_body)?,
    )?;
    natives.set("fetchCancel", Function::new(ctx.clone(), http::cancel)?)?;
    natives.set("timerStart", Function::new(ctx.clone(), timer_start)?)?;
    natives.set("timerCancel", Function::new(ctx.clone(), timers::cancel)?)?;
    natives.set(
        "urlParse",
        Function::new(ctx.clone(), whatwg_url::url_parse)?,
    )?;
    natives.set("urlSet", Function::new(ctx.clone(), whatwg_url::url_set)?)?;
    natives.set(
        "loadPrelude",
        Function::new(ctx.clone(), crate::prelude::load_lazy)?,
    )?;
    encoding::register(ctx, &natives)?;
    crypto::register(ctx, &natives)?;
    compression::register(ctx, &natives)?;
    ctx.globals().set("__bgwasm_natives", natives)?;
    Ok(())
}

fn log(level: i32, message: String) {
    let level = match level {
        0 => logging::Level::Debug,
        2 => logging::Level::Warn,
        3 => logging::Level::Error,
        _ => logging::Level::Info,
    };
    logging::log(level, &message);
}

/// Starts a timer of `kind` ("once", "interval" with its name, "unref").
fn timer_start(delay_ms: u32, kind: String, name: Opt<String>) -> u32 {
    let kind = match kind.as_str() {
        "interval" => timers::Kind::Interval(name.0.unwrap_or_default()),
        "unref" => timers::Kind::Unref,
        _ => timers::Kind::Once,
    };
    timers::start(delay_ms, &kind)
}

fn cell_set(ctx: Ctx<'_>, key: String, json: String) -> Result<()> {
    cells::set(&key, &json).map_err(|message| Exception::throw_type(&ctx, &message))
}

fn cell_delete(ctx: Ctx<'_>, key: String) -> Result<()> {
    cells::delete(&key).map_err(|message| Exception::throw_type(&ctx, &message))
}

fn fetch_start<'js>(
    ctx: Ctx<'js>,
    method: String,
    url: String,
    header_entries: Array<'js>,
    body: Opt<Value<'js>>,
) -> Result<u32> {
    let mut headers = Vec::with_capacity(header_entries.len());
    for entry in header_entries.iter::<Array>() {
        let entry = entry?;
        headers.push((entry.get::<String>(0)?, entry.get::<String>(1)?));
    }
    let body = match body.0 {
        None => None,
        Some(value) if value.is_undefined() || value.is_null() => None,
        Some(value) => Some(body_bytes(&ctx, value)?),
    };
    let request = http::Request {
        method,
        url,
        headers,
        body,
    };
    http::start(&request).map_err(|message| Exception::throw_type(&ctx, &message))
}

/// A request body as bytes; the prelude has already turned every accepted body
/// into a string or an `ArrayBuffer`.
fn body_bytes<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Result<Vec<u8>> {
    if let Some(text) = value.as_string() {
        return Ok(text.to_string()?.into_bytes());
    }
    if let Some(buffer) = value.as_object().and_then(|o| o.as_array_buffer()) {
        return Ok(buffer.as_bytes().unwrap_or_default().to_vec());
    }
    if let Ok(array) = TypedArray::<u8>::from_value(value) {
        return Ok(array.as_bytes().unwrap_or_default().to_vec());
    }
    Err(Exception::throw_type(
        ctx,
        "fetch: the body must be a string or an ArrayBuffer",
    ))
}

/// The body of a response, handed to JavaScript without a copy through a
/// string.
pub fn array_buffer<'js>(ctx: &Ctx<'js>, bytes: Vec<u8>) -> Result<ArrayBuffer<'js>> {
    ArrayBuffer::new(ctx.clone(), bytes)
}
