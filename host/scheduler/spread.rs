//! Spreading overdue registrations after a restart, so a daemon that was down
//! does not start every missed run in one burst.
//!
//! Each registration gets an offset inside one interval from a hash of its
//! key: deterministic (a restart loop does not reshuffle), and even.

use crate::store::{EpochMillis, RegistrationKey};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// When an overdue registration should run after a restart at `now`: within
/// `[now, now + interval)`.
pub fn spread_due_time(key: &RegistrationKey, now: EpochMillis, interval: Duration) -> EpochMillis {
    let window = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let digest = Sha256::new()
        .chain_update(key.space.as_bytes())
        .chain_update([b'/'])
        .chain_update(key.piece_id.as_str().as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let offset = u64::from_be_bytes(first) % window;
    now.saturating_add(i64::try_from(offset).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PieceId;

    #[test]
    fn offsets_stay_inside_one_interval_and_are_stable() {
        let interval = Duration::from_secs(60);
        let mut offsets = Vec::new();
        for i in 0..200 {
            let key = RegistrationKey::new(format!("did:key:z{i}"), PieceId::parse("p").unwrap());
            let at = spread_due_time(&key, 1_000, interval);
            assert!((1_000..61_000).contains(&at));
            assert_eq!(at, spread_due_time(&key, 1_000, interval));
            offsets.push(at);
        }
        // Not a burst: the offsets cover the window.
        let (min, max) = (offsets.iter().min().unwrap(), offsets.iter().max().unwrap());
        assert!(max - min > 50_000, "{min}..{max}");
    }
}
