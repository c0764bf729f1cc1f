//! `URL` parsing and setters, by the `url` crate (WHATWG semantics).

use javy::quickjs::{Ctx, Exception, Object, Result, function::Opt};

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

pub fn url_parse<'js>(
    ctx: Ctx<'js>,
    input: String,
    base: Opt<String>,
) -> Result<Option<Object<'js>>> {
    let parsed = match base.0 {
        Some(base) => url::Url::parse(&base).and_then(|base| base.join(&input)),
        None => url::Url::parse(&input),
    };
    match parsed {
        Ok(url) => url_parts(&ctx, &url).map(Some),
        Err(_) => Ok(None),
    }
}

pub fn url_set<'js>(
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
