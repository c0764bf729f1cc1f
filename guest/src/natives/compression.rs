//! The codecs behind `CompressionStream` and `DecompressionStream`: gzip,
//! deflate (zlib) and deflate-raw, by `flate2` on its pure-Rust backend. Each
//! stream owns one codec, by handle, fed chunk by chunk.

use super::handles::Handles;
use flate2::Compression;
use flate2::write::{
    DeflateDecoder, DeflateEncoder, GzDecoder, GzEncoder, ZlibDecoder, ZlibEncoder,
};
use javy::quickjs::{Ctx, Exception, Function, Object, Result, TypedArray};
use std::cell::RefCell;
use std::io::Write;

/// A codec writing into its own buffer, which each step drains.
trait Codec {
    fn push(&mut self, input: &[u8]) -> std::io::Result<Vec<u8>>;
    fn finish(&mut self) -> std::io::Result<Vec<u8>>;
}

macro_rules! codec {
    ($($type:ident),*) => {$(
        impl Codec for $type<Vec<u8>> {
            fn push(&mut self, input: &[u8]) -> std::io::Result<Vec<u8>> {
                self.write_all(input)?;
                Ok(std::mem::take(self.get_mut()))
            }
            fn finish(&mut self) -> std::io::Result<Vec<u8>> {
                self.try_finish()?;
                Ok(std::mem::take(self.get_mut()))
            }
        }
    )*};
}
codec!(
    GzEncoder,
    ZlibEncoder,
    DeflateEncoder,
    GzDecoder,
    ZlibDecoder,
    DeflateDecoder
);

thread_local! {
    static CODECS: RefCell<Handles<Box<dyn Codec>>> = RefCell::new(Handles::new());
}

pub fn register<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set("codecNew", Function::new(ctx.clone(), codec_new)?)?;
    natives.set("codecPush", Function::new(ctx.clone(), codec_push)?)?;
    natives.set("codecFinish", Function::new(ctx.clone(), codec_finish)?)?;
    natives.set("codecFree", Function::new(ctx.clone(), codec_free)?)?;
    Ok(())
}

/// A codec for `format` ("gzip", "deflate", "deflate-raw"), compressing or
/// decompressing; none for an unknown format.
fn codec_new(format: String, compress: bool) -> Option<u32> {
    let level = Compression::default();
    let codec: Box<dyn Codec> = match (format.as_str(), compress) {
        ("gzip", true) => Box::new(GzEncoder::new(Vec::new(), level)),
        ("deflate", true) => Box::new(ZlibEncoder::new(Vec::new(), level)),
        ("deflate-raw", true) => Box::new(DeflateEncoder::new(Vec::new(), level)),
        ("gzip", false) => Box::new(GzDecoder::new(Vec::new())),
        ("deflate", false) => Box::new(ZlibDecoder::new(Vec::new())),
        ("deflate-raw", false) => Box::new(DeflateDecoder::new(Vec::new())),
        _ => return None,
    };
    Some(CODECS.with(|codecs| codecs.borrow_mut().insert(codec)))
}

fn step<'js>(
    ctx: Ctx<'js>,
    handle: u32,
    work: impl FnOnce(&mut dyn Codec) -> std::io::Result<Vec<u8>>,
    done: bool,
) -> Result<TypedArray<'js, u8>> {
    let result = CODECS.with(|codecs| {
        let mut codecs = codecs.borrow_mut();
        let codec = codecs.get_mut(handle)?;
        let result = work(codec.as_mut());
        if done || result.is_err() {
            codecs.remove(handle);
        }
        Some(result)
    });
    match result {
        None => Err(Exception::throw_type(&ctx, "the stream was already closed")),
        Some(Err(error)) => Err(Exception::throw_type(
            &ctx,
            &format!("the compressed data is corrupt: {error}"),
        )),
        Some(Ok(bytes)) => TypedArray::new(ctx, bytes),
    }
}

fn codec_push<'js>(
    ctx: Ctx<'js>,
    handle: u32,
    input: TypedArray<'js, u8>,
) -> Result<TypedArray<'js, u8>> {
    let input = input.as_bytes().unwrap_or_default().to_vec();
    step(ctx, handle, |codec| codec.push(&input), false)
}

fn codec_finish(ctx: Ctx<'_>, handle: u32) -> Result<TypedArray<'_, u8>> {
    step(ctx, handle, |codec| codec.finish(), true)
}

fn codec_free(handle: u32) {
    CODECS.with(|codecs| codecs.borrow_mut().remove(handle));
}
