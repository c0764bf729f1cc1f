//! A registration: one piece of one space that the daemon runs on a schedule,
//! and the persisted state machine that says what happens to it next.
//!
//! Every transition is a pure function on [`RegistrationState`], so the store
//! only reads, applies and writes, inside one transaction. The scheduler's
//! run transition (`after_run`) lives with the retry policy in the scheduler.
//!
//! ```text
//!              claim (due)                    run committed, enabled
//!  Scheduled ───────────────▶ Dispatched ───────────────────────────▶ Scheduled
//!      ▲  │ disable                 │  run committed, disabled_at != 0
//!      │  ▼                         └──────────────────────────────▶ Disabled
//!  register/enable ◀──────────── Disabled
//! ```
//! Disabling or enabling a `Dispatched` registration changes `disabled_at` but
//! keeps it `Dispatched`: the run in flight still owns it, and its commit
//! settles the phase. That is what keeps a piece from running twice at once.

use super::{PieceId, RunTransition};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch: every timestamp the store keeps.
pub type EpochMillis = i64;

/// The `status` of a registration that was just created (as the reference).
pub const STATUS_INITIALIZING: &str = "Initializing";
/// The `status` after registering again or enabling (as the reference).
pub const STATUS_REINITIALIZING: &str = "Re-initializing";
/// The `status` after a successful run.
pub const STATUS_SUCCESS: &str = "Success";
/// The `status` after a user disabled the piece.
pub const STATUS_DISABLED_VIA_UI: &str = "Disabled via UI";

/// Where a registration is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for `next_run`.
    Scheduled,
    /// Claimed by the scheduler: queued for its space or running. Only the
    /// run's commit (or the scheduler releasing it on stop) ends this.
    Dispatched,
    /// Not run until registered again or enabled.
    Disabled,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Dispatched => "dispatched",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scheduled" => Some(Self::Scheduled),
            "dispatched" => Some(Self::Dispatched),
            "disabled" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// Proof that a scheduler claimed a registration: the claim time, which the
/// run's commit must present to move the registration out of `Dispatched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClaimToken(pub EpochMillis);

/// Which registration: a piece of a space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationKey {
    pub space: String,
    pub piece_id: PieceId,
}

impl RegistrationKey {
    pub fn new(space: impl Into<String>, piece_id: PieceId) -> Self {
        Self {
            space: space.into(),
            piece_id,
        }
    }
}

impl std::fmt::Display for RegistrationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.space, self.piece_id)
    }
}

/// Everything about a registration that runs and user actions change.
/// Field names follow the reference service (`lastRun`, `disabledAt`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationState {
    pub phase: Phase,
    /// When it was disabled; 0 while enabled (as the reference).
    pub disabled_at: EpochMillis,
    /// When the last run finished; 0 if it never ran.
    pub last_run: EpochMillis,
    /// `Success`, the last error's text, `Disabled: <error>`, `Initializing`,
    /// `Re-initializing` or `Disabled via UI`.
    pub status: String,
    /// When the last successful run finished; 0 if none.
    pub last_success: EpochMillis,
    pub consecutive_failures: u32,
    /// `<kind>: <message>` of the most recent failure, kept after a success.
    pub last_error: Option<String>,
    /// When it is due next (meaningful while `Scheduled`).
    pub next_run: EpochMillis,
    pub total_runs: u64,
    pub total_failures: u64,
    pub last_duration_ms: Option<u64>,
    pub last_fuel: Option<u64>,
    /// Set while `Dispatched`.
    pub claimed_at: Option<EpochMillis>,
}

impl RegistrationState {
    /// A new registration: due at once.
    pub fn initializing(now: EpochMillis) -> Self {
        Self {
            phase: Phase::Scheduled,
            disabled_at: 0,
            last_run: 0,
            status: STATUS_INITIALIZING.to_owned(),
            last_success: 0,
            consecutive_failures: 0,
            last_error: None,
            next_run: now,
            total_runs: 0,
            total_failures: 0,
            last_duration_ms: None,
            last_fuel: None,
            claimed_at: None,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.disabled_at == 0
    }

    /// The phase a registration rests in when no run owns it.
    fn resting_phase(&self) -> Phase {
        if self.is_enabled() {
            Phase::Scheduled
        } else {
            Phase::Disabled
        }
    }

    /// Keeps `Dispatched` (a run in flight owns it), otherwise rests.
    fn settle_unless_dispatched(mut self) -> Self {
        if self.phase != Phase::Dispatched {
            self.phase = self.resting_phase();
        }
        self
    }

    /// Registering again, or enabling: re-enabled, failures forgiven, due now.
    pub fn reinitialized(&self, now: EpochMillis) -> Self {
        Self {
            disabled_at: 0,
            consecutive_failures: 0,
            status: STATUS_REINITIALIZING.to_owned(),
            next_run: now,
            ..self.clone()
        }
        .settle_unless_dispatched()
    }

    /// A user disabled it. Disabling twice keeps the first time.
    pub fn disabled_via_ui(&self, now: EpochMillis) -> Self {
        Self {
            disabled_at: if self.is_enabled() {
                now
            } else {
                self.disabled_at
            },
            status: STATUS_DISABLED_VIA_UI.to_owned(),
            ..self.clone()
        }
        .settle_unless_dispatched()
    }

    /// The scheduler took it to run: nobody else may until it is settled.
    pub fn claimed(&self, now: EpochMillis) -> Self {
        Self {
            phase: Phase::Dispatched,
            claimed_at: Some(now),
            ..self.clone()
        }
    }

    /// The claim ends (its run committed, or it was never started). The
    /// registration rests as `disabled_at` says; `next_run` is untouched.
    pub fn released(&self) -> Self {
        let mut next = self.clone();
        next.claimed_at = None;
        next.phase = next.resting_phase();
        next
    }

    /// Settles the state a run's transition produced. The claim that owns the
    /// registration is released; any other commit (a manual run, or a run
    /// whose registration was deleted and created again meanwhile) leaves a
    /// claim in flight alone, so the piece is never dispatched twice.
    pub fn committed_by(self, before: &Self, claim: Option<ClaimToken>) -> Self {
        if claim.is_some_and(|token| before.is_claimed_by(token)) {
            return self.released();
        }
        let mut next = self;
        next.claimed_at = before.claimed_at;
        next.phase = if before.phase == Phase::Dispatched {
            Phase::Dispatched
        } else {
            next.resting_phase()
        };
        next
    }

    /// Whether `token` is the claim that currently owns this registration.
    pub fn is_claimed_by(&self, token: ClaimToken) -> bool {
        self.phase == Phase::Dispatched && self.claimed_at == Some(token.0)
    }
}

/// A registration as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    pub space: String,
    pub piece_id: PieceId,
    pub integration: String,
    pub created_at: EpochMillis,
    pub updated_at: EpochMillis,
    #[serde(flatten)]
    pub state: RegistrationState,
    /// The node whose run owns it while `Dispatched`, on a store shared by
    /// several daemons (`--node-id`); none otherwise.
    pub claimed_by: Option<String>,
}

impl Registration {
    pub fn key(&self) -> RegistrationKey {
        RegistrationKey::new(self.space.clone(), self.piece_id.clone())
    }

    /// A run's commit applied to the stored registration: its transition, the
    /// claim settled (see [`RegistrationState::committed_by`]) and
    /// `updated_at` moved to when it finished. Returns whether this run
    /// disabled it.
    pub fn commit_run(
        &mut self,
        transition: &RunTransition,
        claim: Option<ClaimToken>,
        finished_at: EpochMillis,
    ) -> bool {
        let before = &self.state;
        let after = transition(before).committed_by(before, claim);
        let disabled_by_this_run = before.is_enabled() && !after.is_enabled();
        self.state = after;
        self.updated_at = finished_at;
        disabled_by_this_run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabling_a_dispatched_registration_leaves_it_to_the_run() {
        let state = RegistrationState::initializing(0)
            .claimed(5)
            .disabled_via_ui(7);
        assert_eq!(state.phase, Phase::Dispatched);
        assert_eq!(state.disabled_at, 7);
        let released = state.released();
        assert_eq!(released.phase, Phase::Disabled);
        assert_eq!(released.claimed_at, None);
    }

    #[test]
    fn reinitializing_forgives_failures_and_is_due_now() {
        let mut state = RegistrationState::initializing(0).disabled_via_ui(3);
        state.consecutive_failures = 3;
        let again = state.reinitialized(10);
        assert_eq!(again.phase, Phase::Scheduled);
        assert_eq!(
            (
                again.disabled_at,
                again.consecutive_failures,
                again.next_run
            ),
            (0, 0, 10)
        );
        assert_eq!(again.status, STATUS_REINITIALIZING);
    }

    #[test]
    fn a_commit_releases_only_its_own_claim() {
        let claimed = RegistrationState::initializing(0).claimed(5);
        let after = claimed.clone();
        assert_eq!(
            after
                .clone()
                .committed_by(&claimed, Some(ClaimToken(5)))
                .phase,
            Phase::Scheduled
        );
        let foreign = after.clone().committed_by(&claimed, None);
        assert_eq!(
            (foreign.phase, foreign.claimed_at),
            (Phase::Dispatched, Some(5))
        );
        let scheduled = RegistrationState::initializing(0);
        let mut disabled_by_run = scheduled.clone();
        disabled_by_run.disabled_at = 9;
        assert_eq!(
            disabled_by_run.committed_by(&scheduled, None).phase,
            Phase::Disabled
        );
    }

    #[test]
    fn only_the_current_claim_owns_a_registration() {
        let state = RegistrationState::initializing(0).claimed(5);
        assert!(state.is_claimed_by(ClaimToken(5)));
        assert!(!state.is_claimed_by(ClaimToken(4)));
        assert!(!state.released().is_claimed_by(ClaimToken(5)));
    }
}
