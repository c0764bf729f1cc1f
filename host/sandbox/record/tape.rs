//! The tape a run's outside inputs go through: live, recorded or replayed.
//!
//! A space's store lives across runs, so its WASI clocks and random source
//! are installed once and consult the [`Tape`], whose mode each run sets: a
//! recording run reads the real clocks and notes every reading, and draws
//! its randomness from a seed it notes; a replaying run answers both from
//! the record. Only the handler's run is taped ([`Phase::Running`]): loading
//! a piece's module is not part of a run's record.

use super::player::Player;
use super::recorder::Recorder;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Which part of a run the guest is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between runs, or loading a piece: nothing is taped.
    Idle,
    /// The handler runs: clocks, randomness and imports are taped.
    Running,
}

/// What the tape does with the current run.
#[derive(Default)]
pub enum Mode {
    /// Nothing is recorded (recording is off, or between runs).
    #[default]
    Live,
    Record(Box<Recorder>),
    Replay(Box<Player>),
}

struct TapeState {
    mode: Mode,
    phase: Phase,
    /// The run's seeded randomness, while it runs.
    seeded: Option<ChaCha20Rng>,
    wall: Box<dyn HostWallClock + Send>,
    monotonic: Box<dyn HostMonotonicClock + Send>,
}

/// The shared tape of one store.
#[derive(Clone)]
pub struct Tape(Arc<Mutex<TapeState>>);

impl Default for Tape {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(TapeState {
            mode: Mode::Live,
            phase: Phase::Idle,
            seeded: None,
            wall: wasmtime_wasi::clocks::wall_clock(),
            monotonic: wasmtime_wasi::clocks::monotonic_clock(),
        })))
    }
}

impl Tape {
    fn state(&self) -> MutexGuard<'_, TapeState> {
        // A panic while holding the lock cannot leave the tape half-written
        // in a way that matters more than the panic itself.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts a run in `mode`; its seed (if any) decides its randomness.
    pub fn begin(&self, mode: Mode) {
        let mut state = self.state();
        state.seeded = match &mode {
            Mode::Live => None,
            Mode::Record(recorder) => Some(seeded(recorder.seed())),
            Mode::Replay(player) => Some(seeded(&player.record().seed)),
        };
        state.mode = mode;
        state.phase = Phase::Idle;
    }

    pub fn set_phase(&self, phase: Phase) {
        self.state().phase = phase;
    }

    /// Ends the run: its recorder or player, and the tape back to live.
    pub fn finish(&self) -> Mode {
        let mut state = self.state();
        state.phase = Phase::Idle;
        state.seeded = None;
        std::mem::take(&mut state.mode)
    }

    /// Runs `f` with the recorder, while a recording run's handler runs.
    pub fn recording<R>(&self, f: impl FnOnce(&mut Recorder) -> R) -> Option<R> {
        let mut state = self.state();
        let state = &mut *state;
        match (&mut state.mode, state.phase) {
            (Mode::Record(recorder), Phase::Running) => Some(f(recorder)),
            _ => None,
        }
    }

    /// Runs `f` with the player, during any part of a replaying run.
    pub fn replaying<R>(&self, f: impl FnOnce(&mut Player, Phase) -> R) -> Option<R> {
        let mut state = self.state();
        let phase = state.phase;
        match &mut state.mode {
            Mode::Replay(player) => Some(f(player, phase)),
            _ => None,
        }
    }

    /// The WASI wall clock of a store using this tape.
    pub fn wall_clock(&self) -> TapeWallClock {
        TapeWallClock(self.clone())
    }

    pub fn monotonic_clock(&self) -> TapeMonotonicClock {
        TapeMonotonicClock(self.clone())
    }

    /// The WASI random source of a store using this tape.
    pub fn random(&self) -> TapeRandom {
        TapeRandom(self.clone())
    }
}

/// A fresh 32-byte seed, hex, from the thread's CSPRNG (seeded and
/// periodically reseeded from the OS), which spares a system call per run.
pub fn fresh_seed() -> String {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut seed);
    hex::encode(seed)
}

fn seeded(seed: &str) -> ChaCha20Rng {
    let mut bytes = [0u8; 32];
    // A seed that is not 32 bytes of hex was refused when the record was
    // read; a zero seed is only ever the fallback of that impossible case.
    if let Ok(decoded) = hex::decode(seed) {
        let n = decoded.len().min(32);
        bytes[..n].copy_from_slice(&decoded[..n]);
    }
    ChaCha20Rng::from_seed(bytes)
}

pub struct TapeWallClock(Tape);
pub struct TapeMonotonicClock(Tape);
pub struct TapeRandom(Tape);

impl HostWallClock for TapeWallClock {
    fn resolution(&self) -> Duration {
        self.0.state().wall.resolution()
    }

    fn now(&self) -> Duration {
        let mut state = self.0.state();
        let state = &mut *state;
        if state.phase == Phase::Running {
            match &mut state.mode {
                Mode::Replay(player) => return Duration::from_nanos(player.wall()),
                Mode::Record(recorder) => {
                    let now = state.wall.now();
                    recorder.wall(now.as_nanos() as u64);
                    return now;
                }
                Mode::Live => {}
            }
        }
        state.wall.now()
    }
}

impl HostMonotonicClock for TapeMonotonicClock {
    fn resolution(&self) -> u64 {
        self.0.state().monotonic.resolution()
    }

    fn now(&self) -> u64 {
        let mut state = self.0.state();
        let state = &mut *state;
        if state.phase == Phase::Running {
            match &mut state.mode {
                Mode::Replay(player) => return player.monotonic(),
                Mode::Record(recorder) => {
                    let now = state.monotonic.now();
                    recorder.monotonic(now);
                    return now;
                }
                Mode::Live => {}
            }
        }
        state.monotonic.now()
    }
}

impl rand_core::TryRng for TapeRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let mut state = self.0.state();
        let state = &mut *state;
        match (&mut state.seeded, state.phase) {
            (Some(rng), Phase::Running) => rng.fill_bytes(dst),
            _ => rand::RngCore::fill_bytes(&mut rand::thread_rng(), dst),
        }
        Ok(())
    }
}
