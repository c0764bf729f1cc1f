//! The scheduler on paused tokio time, with a fake runner and a real SQLite
//! store in a temporary directory. The fake is right here: these tests are
//! about when runs happen, not what a sandbox does.

use super::*;
use crate::sandbox::{CellChange, CellSource, ErrorKind, Piece, RunError, RunOutcome, RunReport};
use crate::store::{IntegrationFilter, Phase, PieceId, RegistrationKey, SqliteStore, Store};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const START: i64 = 1_700_000_000_000;
const INTERVAL: Duration = Duration::from_secs(60);

/// One run the fake saw: which piece, and when (ms after the test began).
#[derive(Debug, Clone)]
struct Seen {
    space: String,
    piece: String,
    started: u64,
    finished: u64,
}

/// A runner whose pieces say what to do in their source: `ok` succeeds and
/// counts its runs in the cell `runs`; `fail` fails after writing a cell that
/// must never be committed; `quiet` succeeds and writes no cell. Each run
/// takes `run_time` unless the source is `slow` (ten times longer).
struct FakeRunner {
    began: Instant,
    run_time: Duration,
    seen: Mutex<Vec<Seen>>,
    active: Mutex<HashMap<String, usize>>,
    max_active_in_a_space: Mutex<usize>,
    max_active: Mutex<usize>,
}

impl FakeRunner {
    fn new(run_time: Duration) -> Arc<Self> {
        Arc::new(Self {
            began: Instant::now(),
            run_time,
            seen: Mutex::default(),
            active: Mutex::default(),
            max_active_in_a_space: Mutex::new(0),
            max_active: Mutex::new(0),
        })
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn starts_of(&self, piece: &str) -> Vec<u64> {
        self.seen()
            .into_iter()
            .filter(|s| s.piece == piece)
            .map(|s| s.started)
            .collect()
    }

    fn ms(&self) -> u64 {
        self.began.elapsed().as_millis() as u64
    }
}

fn outcome(ok: bool, duration: Duration) -> RunOutcome {
    RunOutcome {
        ok,
        value: None,
        error: (!ok).then(|| RunError {
            kind: ErrorKind::JsError,
            message: "piece threw: on purpose".into(),
            stack: None,
        }),
        duration_ms: duration.as_millis() as u64,
        fuel_used: 1,
        memory_peak_bytes: 0,
        logs: vec![],
        cell_writes: vec![],
        fetches: vec![],
    }
}

impl PieceRunner for Arc<FakeRunner> {
    fn run(
        &self,
        space: &str,
        piece: Piece,
        _event: serde_json::Value,
        cells: Arc<dyn CellSource>,
    ) -> BoxFuture<'static, RunReport> {
        let this = Arc::clone(self);
        let space = space.to_owned();
        Box::pin(async move {
            let started = this.ms();
            {
                let mut active = this.active.lock().unwrap();
                let in_space = active.entry(space.clone()).or_default();
                *in_space += 1;
                let mut max = this.max_active_in_a_space.lock().unwrap();
                *max = (*max).max(*in_space);
                let total: usize = active.values().sum();
                let mut max_total = this.max_active.lock().unwrap();
                *max_total = (*max_total).max(total);
            }
            let run_time = if piece.source.contains("slow") {
                this.run_time * 10
            } else {
                this.run_time
            };
            tokio::time::sleep(run_time).await;
            *this.active.lock().unwrap().get_mut(&space).unwrap() -= 1;
            this.seen.lock().unwrap().push(Seen {
                space: space.clone(),
                piece: piece.id.clone(),
                started,
                finished: this.ms(),
            });
            let ok = !piece.source.contains("fail");
            let cell = format!("runs:{}", piece.id);
            let runs: u64 = cells
                .get(&cell)
                .unwrap()
                .map_or(0, |json| json.parse().unwrap());
            let cell_changes = if piece.source.contains("quiet") {
                vec![]
            } else if ok {
                vec![CellChange {
                    key: cell,
                    value: Some((runs + 1).to_string()),
                }]
            } else {
                vec![CellChange {
                    key: "poison".into(),
                    value: Some("true".into()),
                }]
            };
            RunReport {
                outcome: outcome(ok, run_time),
                cell_changes,
                record: None,
            }
        })
    }
}

struct Harness {
    store: Arc<SqliteStore>,
    runner: Arc<FakeRunner>,
    scheduler: Scheduler,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<StopReport, SchedulerError>>>,
    _dir: Arc<tempfile::TempDir>,
}

fn config(concurrency: usize) -> SchedulerConfig {
    SchedulerConfig {
        policy: RetryPolicy {
            interval: INTERVAL,
            max_failures: 3,
        },
        concurrency: NonZeroUsize::new(concurrency).unwrap(),
        grace: Duration::from_secs(10),
        // These tests check when runs happen to the millisecond; the group
        // commit's own wait is tested on its own.
        group_commit: GroupCommit {
            delay: Duration::ZERO,
            ..GroupCommit::default()
        },
        ..SchedulerConfig::default()
    }
}

impl Harness {
    fn new(config: SchedulerConfig, run_time: Duration) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        Self::on(dir, config, run_time, START)
    }

    fn on(
        dir: Arc<tempfile::TempDir>,
        config: SchedulerConfig,
        run_time: Duration,
        start: i64,
    ) -> Self {
        let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
        let runner = FakeRunner::new(run_time);
        let scheduler = Scheduler::with_clock(
            store.clone(),
            Arc::new(runner.clone()),
            config,
            Clock::starting_at(start),
        );
        Self {
            store,
            runner,
            scheduler,
            stop: None,
            task: None,
            _dir: dir,
        }
    }

    fn start(&mut self) {
        let (stop, stopped) = oneshot::channel::<()>();
        let scheduler = self.scheduler.clone();
        self.task = Some(tokio::spawn(async move {
            scheduler
                .run_until(async {
                    let _ = stopped.await;
                })
                .await
        }));
        self.stop = Some(stop);
    }

    async fn stop(&mut self) -> StopReport {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap()
    }

    async fn add(&self, space: &str, id: &str, source: &str) -> RegistrationKey {
        let id = PieceId::parse(id).unwrap();
        let now = self.scheduler.now();
        self.store
            .add_piece(space, Some(id.clone()), source.into(), now)
            .await
            .unwrap();
        RegistrationKey::new(space, id)
    }

    async fn register(&self, space: &str, id: &str, source: &str) -> RegistrationKey {
        let key = self.add(space, id, source).await;
        self.store
            .register(&key, "test", self.scheduler.now())
            .await
            .unwrap();
        self.scheduler.wake();
        key
    }

    /// The store holds `runs` committed runs of `key`, counted by the
    /// registration and by the fake's own counter cell.
    async fn assert_committed_runs(&self, key: &RegistrationKey, runs: u64) {
        assert_eq!(self.state(key).await.total_runs, runs, "{key}");
        let counted = self
            .store
            .get_cell(&key.space, &format!("runs:{}", key.piece_id))
            .await
            .unwrap();
        assert_eq!(counted, Some(runs.to_string()), "{key}");
    }

    async fn state(&self, key: &RegistrationKey) -> crate::store::RegistrationState {
        self.store
            .get_registration(key)
            .await
            .unwrap()
            .unwrap()
            .state
    }
}

fn space(n: usize) -> String {
    format!("did:key:z6MkSpace{n}")
}

#[tokio::test(start_paused = true)]
async fn a_new_registration_runs_at_once_then_one_interval_after_it_finished() {
    let mut h = Harness::new(config(4), Duration::from_secs(5));
    h.start();
    let key = h.register(&space(1), "p", "ok").await;
    tokio::time::sleep(Duration::from_secs(132)).await;
    let starts = h.runner.starts_of("p");
    // Starts at 0, finishes at 5 s, next at 65 s, finishes at 70, next at
    // 130 s: that one is still in flight (the fake records runs as they end).
    assert_eq!(starts, vec![0, 65_000], "{:?}", h.runner.seen());
    let state = h.state(&key).await;
    assert_eq!(state.status, "Success");
    assert_eq!((state.phase, state.total_runs), (Phase::Dispatched, 2));
    assert_eq!(state.next_run, START + 70_000 + 60_000);
    assert_eq!(
        h.store
            .get_cell(&space(1), "runs:p")
            .await
            .unwrap()
            .as_deref(),
        Some("2")
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_then_disable_and_registering_again_resets() {
    let mut h = Harness::new(config(4), Duration::from_secs(1));
    h.start();
    let key = h.register(&space(1), "bad", "fail").await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    // Failure 1 at 1 s → +120 s; failure 2 at 122 s → +180 s; failure 3 disables.
    assert_eq!(h.runner.starts_of("bad"), vec![0, 121_000, 302_000]);
    let state = h.state(&key).await;
    assert_eq!(state.phase, Phase::Disabled);
    assert_eq!(state.consecutive_failures, 3);
    assert_eq!(state.status, "Disabled: piece threw: on purpose");
    assert_eq!(state.disabled_at, START + 303_000);
    assert_eq!(
        h.store.get_cell(&space(1), "poison").await.unwrap(),
        None,
        "failed runs commit no cells"
    );

    h.store
        .register(&key, "test", h.scheduler.now())
        .await
        .unwrap();
    h.scheduler.wake();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(h.runner.starts_of("bad").len(), 4, "runs again at once");
    let state = h.state(&key).await;
    assert_eq!(
        (state.phase, state.consecutive_failures),
        (Phase::Scheduled, 1)
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_space_runs_one_piece_at_a_time_and_spaces_run_in_parallel() {
    let mut h = Harness::new(config(8), Duration::from_secs(10));
    h.start();
    for piece in ["a", "b", "c"] {
        h.register(&space(1), piece, "ok").await;
        h.register(&space(2), piece, "ok").await;
    }
    tokio::time::sleep(Duration::from_secs(31)).await;
    let seen = h.runner.seen();
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert_eq!(*h.runner.max_active_in_a_space.lock().unwrap(), 1);
    assert_eq!(
        *h.runner.max_active.lock().unwrap(),
        2,
        "the two spaces overlapped"
    );
    for s in [space(1), space(2)] {
        let mut runs: Vec<_> = seen.iter().filter(|r| r.space == s).collect();
        runs.sort_by_key(|r| r.started);
        for pair in runs.windows(2) {
            assert!(pair[1].started >= pair[0].finished, "{pair:?}");
        }
    }
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn no_more_spaces_run_at_once_than_the_concurrency_allows() {
    let mut h = Harness::new(config(2), Duration::from_secs(10));
    h.start();
    for n in 0..5 {
        h.register(&space(n), "p", "ok").await;
    }
    tokio::time::sleep(Duration::from_secs(31)).await;
    assert_eq!(h.runner.seen().len(), 5);
    assert_eq!(*h.runner.max_active.lock().unwrap(), 2);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_manual_run_waits_for_its_space_and_commits_like_a_scheduled_one() {
    let mut h = Harness::new(config(4), Duration::from_secs(10));
    h.start();
    let key = h.register(&space(1), "p", "ok").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let outcome = h.scheduler.run_now(key.clone()).await.unwrap();
    assert!(outcome.ok);
    // The scheduled run held the space until 10 s; the manual one ran after.
    assert_eq!(h.runner.starts_of("p"), vec![0, 10_000]);
    assert_eq!(*h.runner.max_active_in_a_space.lock().unwrap(), 1);
    assert_eq!(h.state(&key).await.total_runs, 2);
    assert_eq!(
        h.store
            .get_cell(&space(1), "runs:p")
            .await
            .unwrap()
            .as_deref(),
        Some("2")
    );

    let unknown = RegistrationKey::new(space(1), PieceId::parse("nope").unwrap());
    let error = h.scheduler.run_now(unknown).await.unwrap_err();
    assert!(error.to_string().contains("nope"), "{error}");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn disabling_or_unregistering_during_a_run_is_not_undone_by_its_commit() {
    let mut h = Harness::new(config(4), Duration::from_secs(10));
    h.start();
    let disabled = h.register(&space(1), "d", "ok").await;
    let removed = h.register(&space(2), "r", "ok").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    h.store.disable(&disabled, h.scheduler.now()).await.unwrap();
    assert!(h.store.unregister(&removed).await.unwrap());
    tokio::time::sleep(Duration::from_secs(200)).await;
    assert_eq!(h.runner.seen().len(), 2, "each ran once, to the end");
    let state = h.state(&disabled).await;
    assert_eq!(
        (state.phase, state.status.as_str(), state.total_runs),
        (Phase::Disabled, "Disabled via UI", 1)
    );
    assert!(h.store.get_registration(&removed).await.unwrap().is_none());
    assert_eq!(
        h.store
            .get_cell(&space(2), "runs:r")
            .await
            .unwrap()
            .as_deref(),
        Some("1"),
        "its run finished"
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn only_the_integrations_served_run() {
    let mut only_rss = config(4);
    only_rss.integrations = IntegrationFilter::only(["rss"]);
    let mut h = Harness::new(only_rss, Duration::from_secs(1));
    h.start();
    let rss = h.add(&space(1), "feed", "ok").await;
    let gmail = h.add(&space(1), "mail", "ok").await;
    h.store
        .register(&rss, "rss", h.scheduler.now())
        .await
        .unwrap();
    h.store
        .register(&gmail, "gmail", h.scheduler.now())
        .await
        .unwrap();
    h.scheduler.wake();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.runner.starts_of("feed").len(), 1);
    assert!(h.runner.starts_of("mail").is_empty());
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_overdue_pieces_are_spread_over_one_interval() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let first = Harness::on(dir.clone(), config(64), Duration::from_millis(100), START);
    let mut keys = Vec::new();
    for n in 0..40 {
        keys.push(first.register(&space(n), "p", "ok").await);
    }
    // One more was claimed when the daemon died (kill -9): its claim is stale.
    let orphan = first.register(&space(99), "orphan", "ok").await;
    let claimed = first
        .store
        .claim_due(START, &IntegrationFilter::all(), 1_000)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 41);
    drop(first);

    // The daemon comes back an hour later.
    let restart = START + 3_600_000;
    let mut second = Harness::on(dir, config(64), Duration::from_millis(100), restart);
    second.start();
    tokio::time::sleep(INTERVAL + Duration::from_secs(1)).await;
    // The first start of each piece (an early one may have run twice).
    let mut first_starts: HashMap<(String, String), u64> = HashMap::new();
    for seen in second.runner.seen() {
        first_starts
            .entry((seen.space, seen.piece))
            .or_insert(seen.started);
    }
    assert_eq!(
        first_starts.len(),
        41,
        "every piece ran, the orphan included"
    );
    let starts: Vec<u64> = first_starts.into_values().collect();
    let (first_start, last_start) = (*starts.iter().min().unwrap(), *starts.iter().max().unwrap());
    assert!(last_start < 60_000, "within one interval: {starts:?}");
    assert!(last_start - first_start > 30_000, "not a burst: {starts:?}");
    let at_once = starts.iter().filter(|&&s| s < 1_000).count();
    assert!(at_once < 5, "{at_once} started in the first second");
    assert_eq!(second.state(&orphan).await.phase, Phase::Scheduled);
    second.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_stop_waits_for_runs_in_flight_up_to_the_grace_period() {
    let mut h = Harness::new(config(1), Duration::from_secs(4));
    h.start();
    let short = h.register(&space(1), "short", "ok").await;
    h.register(&space(2), "queued", "ok").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = Instant::now();
    let report = h.stop().await;
    assert_eq!(
        asked.elapsed(),
        Duration::from_secs(3),
        "waited for the run in flight"
    );
    assert_eq!(
        report,
        StopReport {
            released: 1,
            abandoned: 0
        }
    );
    assert_eq!(h.state(&short).await.status, "Success");
    assert!(
        h.runner.starts_of("queued").is_empty(),
        "no new run after the stop"
    );
    let queued = h
        .store
        .list_registrations(&Default::default())
        .await
        .unwrap();
    assert!(
        queued.iter().all(|r| r.state.phase == Phase::Scheduled),
        "claims given back"
    );

    let mut slow = Harness::new(config(1), Duration::from_secs(4));
    slow.start();
    slow.register(&space(1), "stuck", "slow").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let asked = Instant::now();
    let report = slow.stop().await;
    assert_eq!(
        asked.elapsed(),
        Duration::from_secs(10),
        "gave up after the grace period"
    );
    assert_eq!(
        report,
        StopReport {
            released: 0,
            abandoned: 1
        }
    );
}

/// The value of one series in the scheduler's metrics, as a scrape shows it.
fn sample(h: &Harness, series: &str) -> f64 {
    let text = h.scheduler.metrics().render();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_metrics_count_queued_runs_lateness_and_outcomes() {
    let mut h = Harness::new(config(1), Duration::from_secs(4));
    h.start();
    for n in 0..3 {
        h.register(&space(n), "p", "ok").await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // One space runs; the other two wait for the only concurrency slot.
    assert_eq!(h.scheduler.activity().queued, 2);
    assert_eq!(sample(&h, "bgwasm_queued_runs"), 2.0);
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(sample(&h, "bgwasm_queued_runs"), 0.0);
    assert_eq!(sample(&h, "bgwasm_runs_total{outcome=\"ok\"}"), 3.0);
    assert_eq!(sample(&h, "bgwasm_store_commit_seconds_count"), 3.0);
    // All three were due at once: they started 0, 4 and 8 s late.
    assert_eq!(sample(&h, "bgwasm_schedule_lateness_seconds_count"), 3.0);
    let late = sample(&h, "bgwasm_schedule_lateness_seconds_sum");
    assert!((12.0..12.1).contains(&late), "{late}");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn runs_that_finish_together_share_one_commit_and_each_is_durable_when_answered() {
    let mut config = config(32);
    config.group_commit = GroupCommit {
        delay: Duration::from_millis(5),
        max_batch: 1024,
    };
    let mut h = Harness::new(config, Duration::from_secs(1));
    h.start();
    let mut keys = Vec::new();
    for n in 0..20 {
        keys.push(h.register(&space(n), "p", "ok").await);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.runner.seen().len(), 20);
    let stats = h.scheduler.commit_stats();
    assert_eq!(stats.runs, 20, "{stats:?}");
    assert!(
        stats.groups < 5,
        "20 runs that finished at the same instant took {} commits",
        stats.groups
    );
    for key in &keys {
        h.assert_committed_runs(key, 1).await;
    }

    // A manual run is answered only once its group is on disk.
    let key = keys[0].clone();
    let outcome = h.scheduler.run_now(key.clone()).await.unwrap();
    assert!(outcome.ok);
    h.assert_committed_runs(&key, 2).await;
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_replaced_source_runs_at_the_next_claim_though_the_old_one_was_cached() {
    let mut h = Harness::new(config(4), Duration::from_secs(1));
    h.start();
    let key = h.register(&space(1), "p", "ok").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.state(&key).await.consecutive_failures, 0);
    let now = h.scheduler.now();
    h.store
        .replace_piece(&key.space, &key.piece_id, "fail".into(), now)
        .await
        .unwrap();
    // The next scheduled run (one interval after the first) runs the new source.
    tokio::time::sleep(INTERVAL).await;
    let state = h.state(&key).await;
    assert_eq!(state.total_runs, 2);
    assert_eq!(state.consecutive_failures, 1, "{state:?}");
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_run_frees_its_concurrency_slot_before_its_commit_but_its_space_waits_for_it() {
    // Each run takes 1 s; its commit gathers others for 3 s more.
    let mut h = Harness::new(with_slow_commits(1), Duration::from_secs(1));
    h.start();
    let a = h.register(&space(1), "a", "ok").await;
    let b = h.register(&space(2), "b", "ok").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = h.register(&space(1), "c", "ok").await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    // The only slot went from the first run to the second as soon as the
    // first had run, not once its commit was durable (at 4 s).
    let mut first_two = [h.runner.starts_of("a"), h.runner.starts_of("b")].concat();
    first_two.sort_unstable();
    assert_eq!(first_two, vec![0, 1_000]);
    // Space 1's next run started only once its previous run was committed,
    // with the second, at 4 s.
    assert_eq!(h.runner.starts_of("c"), vec![4_000]);
    assert_eq!(*h.runner.max_active.lock().unwrap(), 1);
    for key in [&a, &b, &c] {
        h.assert_committed_runs(key, 1).await;
    }
    h.stop().await;
}
mod leases;

/// [`config`] with group commits that wait 3 s for others to join.
fn with_slow_commits(concurrency: usize) -> SchedulerConfig {
    let mut config = config(concurrency);
    config.group_commit = GroupCommit {
        delay: Duration::from_secs(3),
        max_batch: 1024,
    };
    config
}

#[tokio::test(start_paused = true)]
async fn a_run_that_writes_no_cells_does_not_hold_up_its_space_and_history_keeps_its_order() {
    // Each run takes 1 s; its commit gathers others for 3 s more.
    let mut h = Harness::new(with_slow_commits(1), Duration::from_secs(1));
    h.start();
    let a = h.register(&space(1), "a", "quiet").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let c = h.register(&space(1), "c", "quiet").await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    // Space 1's next run started as soon as the first had run, before its
    // commit was durable (at 4 s, with the second's), and both have run
    // while neither is durable yet.
    assert_eq!(h.runner.starts_of("a"), vec![0]);
    assert_eq!(h.runner.starts_of("c"), vec![1_000]);
    assert_eq!(h.state(&a).await.total_runs, 0);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(*h.runner.max_active_in_a_space.lock().unwrap(), 1);
    // Both committed, in the order they ran.
    let first = h.store.recent_runs(&a.space, &a.piece_id, 5).await.unwrap();
    let second = h.store.recent_runs(&c.space, &c.piece_id, 5).await.unwrap();
    assert_eq!((first.len(), second.len()), (1, 1));
    assert!(first[0].id < second[0].id, "{first:?} {second:?}");
    for key in [&a, &c] {
        let state = h.state(key).await;
        assert_eq!((state.total_runs, state.status.as_str()), (1, "Success"));
        assert_eq!(state.phase, Phase::Scheduled);
    }
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_run_after_a_run_that_wrote_cells_waits_for_that_commit_even_after_a_quiet_one() {
    let mut h = Harness::new(with_slow_commits(1), Duration::from_secs(1));
    h.start();
    let quiet = h.register(&space(1), "quiet", "quiet").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let writes = h.register(&space(1), "writes", "ok").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let last = h.register(&space(1), "last", "ok").await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    // `writes` started right after the quiet run; `last` only once the
    // group holding both (from 1 s, 3 s of gathering) was durable.
    assert_eq!(h.runner.starts_of("writes"), vec![1_000]);
    assert_eq!(h.runner.starts_of("last"), vec![4_000]);
    h.assert_committed_runs(&writes, 1).await;
    h.assert_committed_runs(&last, 1).await;
    assert_eq!(h.state(&quiet).await.total_runs, 1);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_stop_waits_for_the_commits_of_runs_that_did_not_hold_up_their_space() {
    let mut h = Harness::new(with_slow_commits(2), Duration::from_secs(1));
    h.start();
    let a = h.register(&space(1), "a", "quiet").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    // `a` has run; its commit is durable at 4 s.
    assert_eq!(h.state(&a).await.total_runs, 0);
    let asked = Instant::now();
    let report = h.stop().await;
    assert_eq!(
        report,
        StopReport {
            released: 0,
            abandoned: 0
        }
    );
    assert_eq!(
        asked.elapsed(),
        Duration::from_millis(2_500),
        "waited for the commit"
    );
    assert_eq!(h.state(&a).await.total_runs, 1);
}
