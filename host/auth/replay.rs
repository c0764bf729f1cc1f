//! The set of nonces of recently accepted tokens, which is what makes a
//! captured `Authorization` header useless a second time.
//!
//! An entry only has to live as long as its token could still be accepted
//! (its `exp` plus the clock skew allowance); after that the token is refused
//! as expired anyway, so the entry is dropped. The set is capped: when it is
//! full of live entries, new tokens are refused (503) rather than evicting
//! old entries, because an evicted nonce could be replayed.

use std::collections::{BTreeSet, HashMap};

/// What [`ReplayCache::record`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// First sighting; the nonce is now remembered.
    New,
    /// The nonce was already used by an accepted token.
    Replayed,
    /// The cache is full of live entries; the nonce was not recorded.
    Full,
}

#[derive(Debug)]
pub(crate) struct ReplayCache {
    keep_until: HashMap<String, u64>,
    // The same entries ordered by expiry, so pruning costs O(log n) per
    // expired entry instead of a scan of everything on every request.
    by_expiry: BTreeSet<(u64, String)>,
    capacity: usize,
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            keep_until: HashMap::new(),
            by_expiry: BTreeSet::new(),
            capacity,
        }
    }

    pub(crate) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
    }

    pub(crate) fn len(&self) -> usize {
        self.keep_until.len()
    }

    /// Remembers `nonce` until `keep_until` (unix seconds, exclusive),
    /// unless it is already known or the cache is full.
    pub(crate) fn record(&mut self, nonce: &str, keep_until: u64, now: u64) -> Recorded {
        self.prune(now);
        if self.keep_until.contains_key(nonce) {
            return Recorded::Replayed;
        }
        if self.keep_until.len() >= self.capacity {
            return Recorded::Full;
        }
        self.keep_until.insert(nonce.to_owned(), keep_until);
        self.by_expiry.insert((keep_until, nonce.to_owned()));
        Recorded::New
    }

    fn prune(&mut self, now: u64) {
        while let Some((until, _)) = self.by_expiry.first() {
            if *until > now {
                break;
            }
            if let Some((_, nonce)) = self.by_expiry.pop_first() {
                self.keep_until.remove(&nonce);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_expiry_then_forgets() {
        let mut cache = ReplayCache::new(10);
        assert_eq!(cache.record("a", 100, 0), Recorded::New);
        assert_eq!(cache.record("a", 100, 99), Recorded::Replayed);
        assert_eq!(
            cache.record("b", 150, 99),
            Recorded::New,
            "b was never seen"
        );
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.record("c", 200, 100), Recorded::New);
        assert_eq!(cache.len(), 2, "a expired at 100 and was pruned");
        assert_eq!(cache.record("a", 300, 100), Recorded::New, "a is forgotten");
    }

    #[test]
    fn refuses_rather_than_evicts_when_full() {
        let mut cache = ReplayCache::new(2);
        assert_eq!(cache.record("a", 100, 0), Recorded::New);
        assert_eq!(cache.record("b", 100, 0), Recorded::New);
        assert_eq!(cache.record("c", 100, 0), Recorded::Full);
        assert_eq!(
            cache.record("a", 100, 1),
            Recorded::Replayed,
            "a is still protected"
        );
        assert_eq!(
            cache.record("c", 200, 100),
            Recorded::New,
            "room again after expiry"
        );
    }
}
