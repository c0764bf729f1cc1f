//! The sources the scheduler has run lately, so a scheduled run whose claim
//! names a source it already holds (by content hash) does not read the store.
//!
//! A claim carries the hash of the piece's source as stored at the claim, so
//! a replaced source (by this daemon or another sharing the database) has a
//! new hash and misses. The cache is bounded (least recently used go first).

use crate::sandbox::Piece;
use crate::store::RegistrationKey;
use hashlink::LruCache;
use std::sync::Mutex;

/// Sources kept at most.
const CAPACITY: usize = 16_384;

pub struct PieceCache {
    pieces: Mutex<LruCache<RegistrationKey, (String, Piece)>>,
}

impl PieceCache {
    pub fn new() -> Self {
        Self {
            pieces: Mutex::new(LruCache::new(CAPACITY)),
        }
    }

    /// The piece, if the source held for `key` has this hash.
    pub fn get(&self, key: &RegistrationKey, hash: &str) -> Option<Piece> {
        let mut pieces = self.pieces.lock().unwrap_or_else(|p| p.into_inner());
        match pieces.get(key) {
            Some((held, piece)) if held == hash => Some(piece.clone()),
            _ => None,
        }
    }

    pub fn insert(&self, key: RegistrationKey, hash: String, piece: Piece) {
        let mut pieces = self.pieces.lock().unwrap_or_else(|p| p.into_inner());
        pieces.insert(key, (hash, piece));
    }
}
