//! The SQLite store's schedule in memory: which registrations are due when,
//! and which this process has claimed.
//!
//! A SQLite store is one daemon's alone, so the store can keep its schedule
//! in memory and answer the scheduler's hot path from there: claiming due
//! registrations and finding the next due time are a pop and a peek, with no
//! query and no write. The database stays the truth: the index is loaded from
//! it at open, every write the store makes updates it from the state it
//! wrote, and a write made by another connection (another process on the
//! same file, such as `bgwasm run-once --commit`) is noticed through
//! `PRAGMA data_version` and reloads it.
//!
//! **Claims live here only.** A claim is worth nothing after a crash (the
//! next start releases every claim), so it is not written: the registration
//! stays `scheduled` on disk while a run owns it, and the store shows it as
//! `dispatched` (with the claim's time in `claimed_at`) by laying the claim
//! over every registration it reads ([`DueIndex::overlay`]). A write that
//! changes a claimed registration (a disable, an enable, registering again)
//! sees it `dispatched` and keeps it so, as the state machine says, and
//! then writes it so; the run's commit settles it. Nothing about the claim
//! needs to survive: `kill -9` loses claims that the next start would
//! release anyway.
//!
//! **One scheduler per database.** Claims in memory exclude each other only
//! within a process, so the stores a process opens on one database share one
//! index ([`DueIndex::shared`]), and the first claim takes an exclusive lock
//! on `<database>.schedule-lock` for as long as the index lives: a second
//! daemon on the same data directory is refused at its first claim
//! ([`StoreError::ScheduleLocked`]) instead of running pieces twice. Other
//! processes that only read or commit (`bgwasm run-once --commit`) need no
//! lock.

use super::rows;
use crate::store::error::{SqliteContext, StoreError};
use crate::store::{
    ClaimToken, ClaimedRun, EpochMillis, IntegrationFilter, Phase, PhaseCounts, Registration,
    RegistrationKey, StoreCounts,
};
use rusqlite::Connection;
use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, Weak};

/// The schedule of every registration in the database, and this process's
/// claims. Shared by every store of the process on the same database.
pub struct DueIndex {
    inner: Mutex<Index>,
    /// `<database>.schedule-lock`, and the lock on it once a claim took it.
    lock_path: PathBuf,
    lock: Mutex<Option<File>>,
}

/// The indexes of the databases this process has open, by path.
static OPEN: Mutex<Vec<(PathBuf, Weak<DueIndex>)>> = Mutex::new(Vec::new());

#[derive(Default)]
struct Index {
    entries: HashMap<RegistrationKey, Entry>,
    /// `(next_run, key)` of every entry that is `scheduled` on disk and not
    /// claimed here: what can be claimed, oldest due first.
    due: BTreeSet<(EpochMillis, RegistrationKey)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    integration: String,
    /// The hash of the piece's current source (empty if it has none).
    source_hash: String,
    /// The phase as written on disk.
    phase: Phase,
    next_run: EpochMillis,
    /// This process's claim, if a run owns the registration.
    claim: Option<ClaimToken>,
}

impl Entry {
    fn claimable(&self) -> bool {
        self.phase == Phase::Scheduled && self.claim.is_none()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The index is rebuilt from whole values, so a panic cannot leave half of
    // one; a poisoned lock is still usable.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DueIndex {
    /// The index of the database at `path` that this process already has
    /// open, or one loaded from it (`conn`, a connection to it).
    pub fn shared(path: &Path, conn: &Connection) -> Result<std::sync::Arc<Self>, StoreError> {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|(_, index)| index.strong_count() > 0);
        if let Some(index) = open
            .iter()
            .find(|(open_path, _)| *open_path == path)
            .and_then(|(_, index)| index.upgrade())
        {
            return Ok(index);
        }
        let mut index = Index::default();
        index.reload(conn, HashMap::new())?;
        let mut lock_path = path.clone().into_os_string();
        lock_path.push(".schedule-lock");
        let index = std::sync::Arc::new(Self {
            inner: Mutex::new(index),
            lock_path: lock_path.into(),
            lock: Mutex::new(None),
        });
        open.push((path, std::sync::Arc::downgrade(&index)));
        Ok(index)
    }

    /// Reloads the index if another connection wrote to the database since
    /// `seen` (the `PRAGMA data_version` of `conn` when it last looked).
    /// `conn` must be a store's writer connection: its own writes do not
    /// move `data_version`, and the readers never write.
    pub fn sync(&self, conn: &Connection, seen: &AtomicI64) -> Result<(), StoreError> {
        let version = data_version(conn)?;
        if version == seen.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut index = lock(&self.inner);
        tracing::debug!("the database was written by another connection; reloading the schedule");
        let claims = index.claims();
        index.reload(conn, claims)?;
        seen.store(version, Ordering::Relaxed);
        Ok(())
    }

    /// Takes this process's exclusive lock on scheduling the database, if it
    /// does not hold it yet; refused while another process holds it. Recovery
    /// after a restart takes it first, so a second daemon is refused before
    /// it changes anything.
    pub fn hold_schedule_lock(&self) -> Result<(), StoreError> {
        let mut held = lock(&self.lock);
        if held.is_some() {
            return Ok(());
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(|source| StoreError::ScheduleLock {
                path: self.lock_path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {
                *held = Some(file);
                Ok(())
            }
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::ScheduleLocked {
                path: self.lock_path.clone(),
            }),
            Err(std::fs::TryLockError::Error(source)) => Err(StoreError::ScheduleLock {
                path: self.lock_path.clone(),
                source,
            }),
        }
    }

    /// Reloads the index from the database, dropping the claims of the
    /// registrations `release` says (recovery after a restart); the other
    /// claims stay.
    pub fn reload(
        &self,
        conn: &Connection,
        release: impl Fn(&str) -> bool,
    ) -> Result<(), StoreError> {
        let mut index = lock(&self.inner);
        let claims = index
            .entries
            .iter()
            .filter_map(|(key, entry)| {
                let token = entry.claim?;
                (!release(&entry.integration)).then(|| (key.clone(), token))
            })
            .collect();
        index.reload(conn, claims)
    }

    /// Claims up to `limit` due registrations served, oldest due first.
    pub fn claim_due(
        &self,
        now: EpochMillis,
        integrations: &IntegrationFilter,
        limit: usize,
    ) -> Result<Vec<ClaimedRun>, StoreError> {
        self.hold_schedule_lock()?;
        let mut index = lock(&self.inner);
        let picked: Vec<(EpochMillis, RegistrationKey)> = index
            .due
            .iter()
            .take_while(|(at, _)| *at <= now)
            .filter(|(_, key)| {
                index
                    .entries
                    .get(key)
                    .is_some_and(|entry| integrations.serves(&entry.integration))
            })
            .take(limit)
            .cloned()
            .collect();
        let mut claimed = Vec::with_capacity(picked.len());
        for (due_at, key) in picked {
            index.due.remove(&(due_at, key.clone()));
            let Some(entry) = index.entries.get_mut(&key) else {
                continue;
            };
            entry.claim = Some(ClaimToken(now));
            claimed.push(ClaimedRun {
                source_hash: entry.source_hash.clone(),
                key,
                claim: ClaimToken(now),
                lease: None,
                due_at,
            });
        }
        Ok(claimed)
    }

    /// The earliest due time among the registrations served that can be
    /// claimed.
    pub fn next_due(&self, integrations: &IntegrationFilter) -> Option<EpochMillis> {
        let index = lock(&self.inner);
        index
            .due
            .iter()
            .find(|(_, key)| {
                index
                    .entries
                    .get(key)
                    .is_some_and(|entry| integrations.serves(&entry.integration))
            })
            .map(|(at, _)| *at)
    }

    /// Lays this process's claim over a registration read from disk: one a
    /// run owns shows `dispatched`, with the claim's time.
    pub fn overlay(&self, registration: &mut Registration) {
        let index = lock(&self.inner);
        index.overlay(registration);
    }

    /// [`DueIndex::overlay`] over many.
    pub fn overlay_all(&self, registrations: &mut [Registration]) {
        let index = lock(&self.inner);
        for registration in registrations {
            index.overlay(registration);
        }
    }

    /// Records what a write put on disk for a registration: its state, and
    /// its integration and source hash when given (a registration; `None`
    /// keeps what the index has). The claim stays only while the written
    /// state is still owned by it.
    pub fn wrote(&self, registration: &Registration, source_hash: Option<&str>) {
        let mut index = lock(&self.inner);
        let key = registration.key();
        let state = &registration.state;
        let previous = index.entries.get(&key);
        let claim = previous
            .and_then(|entry| entry.claim)
            .filter(|token| state.phase == Phase::Dispatched && state.claimed_at == Some(token.0));
        let source_hash = source_hash
            .map(str::to_owned)
            .or_else(|| previous.map(|entry| entry.source_hash.clone()))
            .unwrap_or_default();
        // A state the overlay made `dispatched` that the write kept owned by
        // the claim is written as such: see the module docs.
        let entry = Entry {
            integration: registration.integration.clone(),
            source_hash,
            phase: state.phase,
            next_run: state.next_run,
            claim,
        };
        index.insert(key, entry);
    }

    /// A registration was deleted.
    pub fn removed(&self, key: &RegistrationKey) {
        let mut index = lock(&self.inner);
        index.remove(key);
    }

    /// Whether this process claimed `key` and the disk does not say so.
    pub fn claimed_in_memory_only(&self, key: &RegistrationKey) -> bool {
        let index = lock(&self.inner);
        index
            .entries
            .get(key)
            .is_some_and(|entry| entry.claim.is_some() && entry.phase == Phase::Scheduled)
    }

    /// A piece's source changed: the claims of its registration name the new
    /// hash.
    pub fn source_changed(&self, key: &RegistrationKey, source_hash: &str) {
        let mut index = lock(&self.inner);
        if let Some(entry) = index.entries.get_mut(key) {
            source_hash.clone_into(&mut entry.source_hash);
        }
    }

    /// A scheduled registration's due time moved (recovery's spread); a
    /// claimed one keeps its own.
    pub fn rescheduled(&self, key: &RegistrationKey, at: EpochMillis) {
        let mut index = lock(&self.inner);
        if let Some(entry) = index.entries.get(key).filter(|entry| entry.claimable()) {
            let entry = Entry {
                next_run: at,
                ..entry.clone()
            };
            index.insert(key.clone(), entry);
        }
    }

    /// Counts by phase as stored, corrected for the claims only memory holds.
    pub fn correct_phase_counts(&self, counts: &mut PhaseCounts) {
        let moved = self.memory_only_claims();
        counts.scheduled = counts.scheduled.saturating_sub(moved);
        counts.dispatched += moved;
    }

    /// The `/healthz` totals, corrected for the claims only memory holds.
    pub fn correct_counts(&self, counts: &mut StoreCounts) {
        counts.dispatched += self.memory_only_claims();
    }

    fn memory_only_claims(&self) -> u64 {
        let index = lock(&self.inner);
        index
            .entries
            .values()
            .filter(|entry| entry.claim.is_some() && entry.phase == Phase::Scheduled)
            .count() as u64
    }

    /// Whether the index agrees with the database (for tests): the same
    /// registrations, phases, due times and integrations.
    #[cfg(test)]
    pub fn agrees_with(&self, conn: &Connection) -> Result<(), String> {
        let mut fresh = Index::default();
        fresh
            .reload(conn, HashMap::new())
            .map_err(|e| e.to_string())?;
        let index = lock(&self.inner);
        let strip = |entries: &HashMap<RegistrationKey, Entry>| {
            let mut all: Vec<_> = entries
                .iter()
                .map(|(key, entry)| {
                    (
                        key.clone(),
                        Entry {
                            claim: None,
                            ..entry.clone()
                        },
                    )
                })
                .collect();
            all.sort_by(|a, b| a.0.cmp(&b.0));
            all
        };
        let (mine, theirs) = (strip(&index.entries), strip(&fresh.entries));
        if mine != theirs {
            return Err(format!(
                "the index has {mine:?}\nthe database has {theirs:?}"
            ));
        }
        let claimable: BTreeSet<_> = index
            .entries
            .iter()
            .filter(|(_, entry)| entry.claimable())
            .map(|(key, entry)| (entry.next_run, key.clone()))
            .collect();
        if claimable != index.due {
            return Err(format!(
                "the due set {:?} is not the claimable entries {claimable:?}",
                index.due
            ));
        }
        Ok(())
    }
}

impl Index {
    fn claims(&self) -> HashMap<RegistrationKey, ClaimToken> {
        self.entries
            .iter()
            .filter_map(|(key, entry)| Some((key.clone(), entry.claim?)))
            .collect()
    }

    /// Reads every registration's schedule; the `claims` given stay on the
    /// registrations that still exist.
    fn reload(
        &mut self,
        conn: &Connection,
        mut claims: HashMap<RegistrationKey, ClaimToken>,
    ) -> Result<(), StoreError> {
        let loaded = conn
            .prepare_cached(
                "SELECT r.space, r.piece_id, r.integration, r.phase, r.next_run,
                        coalesce(p.hash, '') AS hash
                 FROM registrations AS r
                 LEFT JOIN pieces AS p ON p.space = r.space AND p.id = r.piece_id",
            )
            .context("loading the schedule")?
            .query_map([], |row| {
                let key = RegistrationKey::new(
                    row.get::<_, String>("space")?,
                    rows::piece_id(row, "piece_id")?,
                );
                let phase = rows::parsed(row, "phase", |text| {
                    Phase::parse(text).ok_or_else(|| format!("unknown phase {text:?}"))
                })?;
                Ok((
                    key,
                    Entry {
                        integration: row.get("integration")?,
                        source_hash: row.get("hash")?,
                        phase,
                        next_run: row.get("next_run")?,
                        claim: None,
                    },
                ))
            })
            .context("loading the schedule")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .context("loading the schedule")?;
        self.entries.clear();
        self.due.clear();
        for (key, mut entry) in loaded {
            // A claim stays only on a registration still in a phase a run
            // can own.
            entry.claim = claims
                .remove(&key)
                .filter(|_| entry.phase != Phase::Disabled);
            self.insert(key, entry);
        }
        Ok(())
    }

    fn insert(&mut self, key: RegistrationKey, entry: Entry) {
        self.remove(&key);
        if entry.claimable() {
            self.due.insert((entry.next_run, key.clone()));
        }
        self.entries.insert(key, entry);
    }

    fn remove(&mut self, key: &RegistrationKey) {
        if let Some(old) = self.entries.remove(key)
            && old.claimable()
        {
            self.due.remove(&(old.next_run, key.clone()));
        }
    }

    fn overlay(&self, registration: &mut Registration) {
        let key = registration.key();
        let Some(token) = self.entries.get(&key).and_then(|entry| entry.claim) else {
            return;
        };
        if registration.state.phase == Phase::Scheduled {
            registration.state.phase = Phase::Dispatched;
            registration.state.claimed_at = Some(token.0);
        }
    }
}

/// `PRAGMA data_version` of a connection: it changes when another
/// connection commits to the database.
pub fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("PRAGMA data_version", [], |row| row.get(0))
        .context("reading the database's data version")
}
