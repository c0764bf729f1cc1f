//! What was stripped, kept for every sandbox of a process, so a source is
//! stripped once however many spaces run it and however often.
//!
//! Keyed by the SHA-256 of the source, and bounded by count and bytes, the least recently used going first. Syntax
//! errors are kept too, so a broken piece that keeps being scheduled is not
//! parsed again each time.

use super::strip::{Stripped, TsSyntaxError, strip};
use hashlink::LruCache;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// What the cache has done since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StripCacheStats {
    /// How many times a source was stripped (a miss).
    pub strips: u64,
    /// How many times a stripped source was found.
    pub hits: u64,
    /// How many sources are kept now.
    pub entries: usize,
    /// About how many bytes they hold.
    pub bytes: usize,
}

/// The cache of stripped TypeScript sources. Shared: every method takes
/// `&self`.
pub struct StripCache {
    max_entries: usize,
    max_bytes: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    entries: LruCache<[u8; 32], Entry>,
    stats: StripCacheStats,
}

#[derive(Clone)]
enum Entry {
    Stripped(Stripped),
    /// The error, its file name to be replaced by the asker's.
    Failed(TsSyntaxError),
}

impl Entry {
    fn size_bytes(&self) -> usize {
        match self {
            Self::Stripped(stripped) => stripped.size_bytes(),
            Self::Failed(error) => size_of::<TsSyntaxError>() + error.message.len(),
        }
    }
}

impl Default for StripCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_ENTRIES, Self::DEFAULT_MAX_BYTES)
    }
}

impl StripCache {
    /// The default bound on how many sources are kept.
    pub const DEFAULT_MAX_ENTRIES: usize = 1024;
    /// The default bound on the bytes kept: 64 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 64 << 20;

    /// A cache of at most `max_entries` sources (at least one) and about
    /// `max_bytes`; a source larger than that is stripped but not kept.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            max_entries: max_entries.max(1),
            max_bytes,
            inner: Mutex::new(Inner {
                entries: LruCache::new_unbounded(),
                stats: StripCacheStats::default(),
            }),
        }
    }

    /// [`strip`], or what it gave for this source before.
    pub fn strip(&self, source: &str, file_name: &str) -> Result<Stripped, TsSyntaxError> {
        let key: [u8; 32] = Sha256::digest(source.as_bytes()).into();

        let found = {
            let mut inner = self.lock();
            let found = inner.entries.get(&key).cloned();
            if found.is_some() {
                inner.stats.hits += 1;
            }
            found
        };
        // Stripped outside the lock: two sandboxes may strip the same new
        // source at once, and both results are the same.
        let entry = found.unwrap_or_else(|| {
            let entry = match strip(source, file_name) {
                Ok(stripped) => Entry::Stripped(stripped),
                Err(error) => Entry::Failed(error),
            };
            self.keep(key, entry.clone());
            entry
        });
        match entry {
            Entry::Stripped(stripped) => Ok(stripped),
            Entry::Failed(error) => Err(TsSyntaxError {
                file_name: file_name.to_owned(),
                ..error
            }),
        }
    }

    /// What the cache has done, and holds now.
    pub fn stats(&self) -> StripCacheStats {
        self.lock().stats
    }

    fn keep(&self, key: [u8; 32], entry: Entry) {
        let size = entry.size_bytes();
        let mut inner = self.lock();
        inner.stats.strips += 1;
        if size > self.max_bytes {
            return;
        }
        if let Some(old) = inner.entries.insert(key, entry) {
            inner.stats.bytes -= old.size_bytes();
        }
        inner.stats.bytes += size;
        while inner.entries.len() > self.max_entries || inner.stats.bytes > self.max_bytes {
            let Some((_, evicted)) = inner.entries.remove_lru() else {
                break;
            };
            inner.stats.bytes -= evicted.size_bytes();
        }
        inner.stats.entries = inner.entries.len();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The cache stays consistent even if a holder panicked: every update
        // is done before the guard drops.
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: usize) -> String {
        format!("export function bgUpdater(): number {{ return {n}; }}\n")
    }

    #[test]
    fn a_source_is_stripped_once() {
        let cache = StripCache::default();
        let first = cache.strip(&source(1), "a.ts").unwrap();
        let second = cache.strip(&source(1), "b.ts").unwrap();
        assert!(std::sync::Arc::ptr_eq(&first.js, &second.js));
        let stats = cache.stats();
        assert_eq!((stats.strips, stats.hits, stats.entries), (1, 1, 1));
        cache.strip(&source(2), "a.ts").unwrap();
        assert_eq!(cache.stats().strips, 2);
    }

    #[test]
    fn a_syntax_error_is_kept_and_named_after_the_asker() {
        let cache = StripCache::default();
        let broken = "let x: = 1;\n";
        assert_eq!(
            cache.strip(broken, "one.ts").unwrap_err().file_name,
            "one.ts"
        );
        let again = cache.strip(broken, "two.ts").unwrap_err();
        assert_eq!(again.file_name, "two.ts");
        assert_eq!(again.position.line, 1);
        assert_eq!(cache.stats().strips, 1);
    }

    #[test]
    fn the_least_recently_used_source_goes_first() {
        let cache = StripCache::new(2, usize::MAX);
        cache.strip(&source(1), "p.ts").unwrap();
        cache.strip(&source(2), "p.ts").unwrap();
        cache.strip(&source(1), "p.ts").unwrap();
        cache.strip(&source(3), "p.ts").unwrap();
        assert_eq!(cache.stats().entries, 2);
        cache.strip(&source(1), "p.ts").unwrap();
        assert_eq!(cache.stats().strips, 3, "source 1 was kept");
        cache.strip(&source(2), "p.ts").unwrap();
        assert_eq!(cache.stats().strips, 4, "source 2 was dropped");
    }

    #[test]
    fn the_bytes_are_bounded() {
        let one = strip(&source(1), "p.ts").unwrap().size_bytes();
        let cache = StripCache::new(100, one * 2 + one / 2);
        for n in 1..=5 {
            cache.strip(&source(n), "p.ts").unwrap();
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, 2);
        assert!(stats.bytes <= one * 2 + one / 2, "{stats:?}");
        let tiny = StripCache::new(100, 1);
        tiny.strip(&source(1), "p.ts").unwrap();
        assert_eq!(tiny.stats().entries, 0);
    }
}
