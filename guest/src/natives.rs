//! The native functions behind the prelude's web APIs. Each one is a thin
//! bridge to a host import; the prelude reaches them as `__bgwasm_natives`.

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
    natives.set("timerStart", Function::new(ctx.clone(), timers::start)?)?;
    natives.set("timerCancel", Function::new(ctx.clone(), timers::cancel)?)?;
    natives.set("urlParse", Function::new(ctx.clone(), url_parse)?)?;
    natives.set("urlSet", Function::new(ctx.clone(), url_set)?)?;
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

/// A parsed URL as the plain object the prelude's `URL` class reads.
fn url_parts<'js>(ctx: &Ctx<'js>, url: &url::Url) -> Result<Object<'js>> {
    use url::quirks;
    let parts = Object::new(ctx.clone())?;
    parts.set("href", quirks::href(url))?;
    parts.set("origin", quirks::origin(url))?;
    parts.set("protocol", quirks::protocol(url))?;
    parts.set("username", quirks::username(url))?;
    parts.set("password", quirks::password(url))?;
    parts.set("host", quirks::host(url))?;
    parts.set("hostname", quirks::hostname(url))?;
    parts.set("port", quirks::port(url))?;
    parts.set("pathname", quirks::pathname(url))?;
    parts.set("search", quirks::search(url))?;
    parts.set("hash", quirks::hash(url))?;
    Ok(parts)
}

fn url_parse<'js>(ctx: Ctx<'js>, input: String, base: Opt<String>) -> Result<Option<Object<'js>>> {
    let parsed = match base.0 {
        Some(base) => url::Url::parse(&base).and_then(|base| base.join(&input)),
        None => url::Url::parse(&input),
    };
    match parsed {
        Ok(url) => url_parts(&ctx, &url).map(Some),
        Err(_) => Ok(None),
    }
}

fn url_set<'js>(
    ctx: Ctx<'js>,
    href: String,
    component: String,
    value: String,
) -> Result<Option<Object<'js>>> {
    use url::quirks;
    let Ok(mut url) = url::Url::parse(&href) else {
        return Ok(None);
    };
    // WHATWG setters ignore values they cannot apply; so do these.
    match component.as_str() {
        "href" => {
            if quirks::set_href(&mut url, &value).is_err() {
                return Err(Exception::throw_type(
                    &ctx,
                    &format!("Invalid URL: {value:?}"),
                ));
            }
        }
        "protocol" => {
            let _ = quirks::set_protocol(&mut url, &value);
        }
        "username" => {
            let _ = quirks::set_username(&mut url, &value);
        }
        "password" => {
            let _ = quirks::set_password(&mut url, &value);
        }
        "host" => {
            let _ = quirks::set_host(&mut url, &value);
        }
        "hostname" => {
            let _ = quirks::set_hostname(&mut url, &value);
        }
        "port" => {
            let _ = quirks::set_port(&mut url, &value);
        }
        "pathname" => quirks::set_pathname(&mut url, &value),
        "search" => quirks::set_search(&mut url, &value),
        "hash" => quirks::set_hash(&mut url, &value),
        _ => return Ok(None),
    }
    url_parts(&ctx, &url).map(Some)
}

/// The body of a response, handed to JavaScript without a copy through a
/// string.
pub fn array_buffer<'js>(ctx: &Ctx<'js>, bytes: Vec<u8>) -> Result<ArrayBuffer<'js>> {
    ArrayBuffer::new(ctx.clone(), bytes)
}
