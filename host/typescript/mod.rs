//! TypeScript pieces: their types stripped in the host, once per source, so
//! the guest (QuickJS) runs plain JavaScript, and their errors pointed back at
//! the `.ts` lines.
//!
//! [`strip`] parses a piece with oxc, transforms the TypeScript away (enums
//! and namespaces become JavaScript, types vanish, ES module syntax stays as
//! it is) and prints the JavaScript with a [`PositionMap`] back to the
//! source. Types are not checked. [`remap_stack`] rewrites the guest's `piece:line:col` positions with that map.
//! [`StripCache`] keeps what was stripped, keyed by the source's SHA-256, for
//! every sandbox of a process.

mod cache;
mod position_map;
mod remap;
mod strip;

pub use cache::{StripCache, StripCacheStats};
pub use position_map::{Position, PositionMap};
pub use remap::remap_stack;
pub use strip::{Stripped, TsSyntaxError, strip};
