//! `TextEncoder` and `TextDecoder`: UTF-8 out, and every WHATWG encoding in,
//! by `encoding_rs` (the labels, BOM handling, `fatal` and `stream` as the
//! Encoding standard defines them).

use super::handles::Handles;
use encoding_rs::{Decoder, DecoderResult, Encoding};
use javy::quickjs::{Ctx, Exception, Function, Object, Result, TypedArray};
use std::cell::RefCell;

thread_local! {
    /// Decoders in the middle of a stream (`decode(chunk, {stream: true})`).
    static DECODERS: RefCell<Handles<Decoder>> = RefCell::new(Handles::new());
}

pub fn register<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set("encodingFor", Function::new(ctx.clone(), encoding_for)?)?;
    natives.set("utf8Encode", Function::new(ctx.clone(), utf8_encode)?)?;
    natives.set("utf8Fit", Function::new(ctx.clone(), utf8_fit)?)?;
    natives.set("decode", Function::new(ctx.clone(), decode)?)?;
    natives.set("decoderNew", Function::new(ctx.clone(), decoder_new)?)?;
    natives.set("decoderFree", Function::new(ctx.clone(), decoder_free)?)?;
    Ok(())
}

/// The encoding's name for a label, lower-cased as `TextDecoder.encoding`
/// reports it, or none for an unknown label (and for "replacement", which
/// `TextDecoder` must refuse too).
fn encoding_for(label: String) -> Option<String> {
    Encoding::for_label(label.trim().as_bytes())
        .filter(|encoding| *encoding != encoding_rs::REPLACEMENT)
        .map(|encoding| encoding.name().to_ascii_lowercase())
}

fn encoding(ctx: &Ctx<'_>, name: &str) -> Result<&'static Encoding> {
    Encoding::for_label(name.as_bytes()).ok_or_else(|| {
        Exception::throw_range(ctx, &format!("the encoding {name:?} is not supported"))
    })
}

fn utf8_encode<'js>(ctx: Ctx<'js>, text: String) -> Result<TypedArray<'js, u8>> {
    TypedArray::new(ctx, text.into_bytes())
}

/// How much of `text` fits into `room` bytes of UTF-8 without splitting a
/// character: `[read (UTF-16 units), written (bytes)]`, for `encodeInto`.
fn utf8_fit(text: String, room: u32) -> Vec<u32> {
    let room = room as usize;
    let (mut read, mut written) = (0usize, 0usize);
    for c in text.chars() {
        if written + c.len_utf8() > room {
            break;
        }
        written += c.len_utf8();
        read += c.len_utf16();
    }
    vec![read as u32, written as u32]
}

fn make_decoder(encoding: &'static Encoding, ignore_bom: bool) -> Decoder {
    if ignore_bom {
        encoding.new_decoder_without_bom_handling()
    } else {
        encoding.new_decoder_with_bom_removal()
    }
}

/// Decodes `bytes` with `decoder`; with `fatal`, malformed input throws a
/// `TypeError` instead of turning into U+FFFD.
fn run_decoder(
    ctx: &Ctx<'_>,
    decoder: &mut Decoder,
    bytes: &[u8],
    last: bool,
    fatal: bool,
) -> Result<String> {
    let capacity = decoder
        .max_utf8_buffer_length(bytes.len())
        .ok_or_else(|| Exception::throw_range(ctx, "TextDecoder: the input is too large"))?;
    let mut out = String::with_capacity(capacity);
    if fatal {
        let (result, _) = decoder.decode_to_string_without_replacement(bytes, &mut out, last);
        // OutputFull cannot happen: the buffer holds the worst case.
        if let DecoderResult::Malformed(..) = result {
            return Err(Exception::throw_type(
                ctx,
                &format!(
                    "TextDecoder: the input is not valid {} (fatal: true)",
                    decoder.encoding().name()
                ),
            ));
        }
    } else {
        // The buffer holds the worst case, so the whole input is decoded.
        let _ = decoder.decode_to_string(bytes, &mut out, last);
    }
    Ok(out)
}

/// Decodes `bytes` in `name` (with `fatal`: malformed input throws; with
/// `ignore_bom`: a BOM stays in the text). `handle` is a streaming decoder's handle (0
/// for a one-shot decode); with `last`, the stream ends and its handle is
/// freed. Returns the text.
fn decode(
    ctx: Ctx<'_>,
    name: String,
    bytes: TypedArray<'_, u8>,
    fatal: bool,
    ignore_bom: bool,
    last: bool,
    handle: u32,
) -> Result<String> {
    let bytes = bytes.as_bytes().unwrap_or_default();
    if handle == 0 {
        let mut decoder = make_decoder(encoding(&ctx, &name)?, ignore_bom);
        return run_decoder(&ctx, &mut decoder, bytes, true, fatal);
    }
    DECODERS.with(|decoders| {
        let mut decoders = decoders.borrow_mut();
        let Some(decoder) = decoders.get_mut(handle) else {
            return Err(Exception::throw_type(
                &ctx,
                "TextDecoder: its stream was freed",
            ));
        };
        let result = run_decoder(&ctx, decoder, bytes, last, fatal);
        if last || result.is_err() {
            decoders.remove(handle);
        }
        result
    })
}

fn decoder_new(ctx: Ctx<'_>, name: String, ignore_bom: bool) -> Result<u32> {
    let decoder = make_decoder(encoding(&ctx, &name)?, ignore_bom);
    Ok(DECODERS.with(|decoders| decoders.borrow_mut().insert(decoder)))
}

fn decoder_free(handle: u32) {
    DECODERS.with(|decoders| decoders.borrow_mut().remove(handle));
}
