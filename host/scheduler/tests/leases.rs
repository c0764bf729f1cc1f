//! The scheduler on PostgreSQL as one node of several, on real time: its
//! heartbeat keeps a long run's lease, picks up a dead node's claims, and a
//! manual run waits for (or is refused by) another node's live lease.

use super::*;
use crate::store::{LeaseConfig, PostgresStore, SpaceLease, StoreUrl};
use crate::throwaway_postgres;

const TTL: Duration = Duration::from_millis(300);
const SPACE: &str = "did:key:z6MkLeasedSpace";

struct Database(throwaway_postgres::TestDatabase);

impl Database {
    async fn fresh() -> Self {
        Self(
            tokio::task::spawn_blocking(throwaway_postgres::TestDatabase::new)
                .await
                .unwrap(),
        )
    }

    /// The store as node `name`.
    async fn node(&self, name: &str) -> Arc<PostgresStore> {
        let url: StoreUrl = self.0.url().parse().unwrap();
        Arc::new(url.open_postgres().await.unwrap().as_node(LeaseConfig {
            node: name.parse().unwrap(),
            ttl: TTL,
        }))
    }
}

fn scheduler(
    store: Arc<PostgresStore>,
    runner: &Arc<FakeRunner>,
    lease_wait: Duration,
) -> Scheduler {
    Scheduler::new(
        store,
        Arc::new(runner.clone()),
        SchedulerConfig {
            manual_lease_wait: lease_wait,
            ..config(4)
        },
    )
}

async fn add(store: &PostgresStore, id: &str, source: &str) -> RegistrationKey {
    let id = PieceId::parse(id).unwrap();
    store
        .add_piece(SPACE, Some(id.clone()), source.into(), 0)
        .await
        .unwrap();
    RegistrationKey::new(SPACE, id)
}

/// Runs `scheduler` until the returned sender is dropped or fired.
fn start(
    scheduler: &Scheduler,
) -> (
    oneshot::Sender<()>,
    JoinHandle<Result<StopReport, SchedulerError>>,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    let scheduler = scheduler.clone();
    let task = tokio::spawn(async move {
        scheduler
            .run_until(async {
                let _ = stopped.await;
            })
            .await
    });
    (stop, task)
}

async fn wait_until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_keeps_a_long_runs_lease_and_picks_up_a_dead_nodes_claims() {
    let database = Database::fresh().await;
    let (a, b) = (database.node("node-a").await, database.node("node-b").await);
    // A run of ten times 100 ms: more than three lease ttls.
    let runner = FakeRunner::new(Duration::from_millis(100));
    let key = add(&a, "long", "ok slow").await;
    a.register(&key, "rss", 0).await.unwrap();
    let on_a = scheduler(a.clone(), &runner, TTL);
    let (stop_a, task_a) = start(&on_a);

    wait_until(
        "node A to claim the piece",
        Duration::from_secs(10),
        async || runner.active.lock().unwrap().values().sum::<usize>() == 1,
    )
    .await;
    // All through the run, A's heartbeat keeps the space: B cannot take it.
    while runner.seen().is_empty() {
        assert!(matches!(
            b.leases().unwrap().acquire_space(SPACE).await.unwrap(),
            SpaceLease::Busy { ref node, .. } if node == "node-a"
        ));
        tokio::time::sleep(TTL / 2).await;
    }
    wait_until(
        "the long run to commit",
        Duration::from_secs(10),
        async || {
            a.get_registration(&key)
                .await
                .unwrap()
                .unwrap()
                .state
                .total_runs
                == 1
        },
    )
    .await;
    assert_eq!(on_a.metrics().abandoned_runs(), 0);
    assert_eq!(
        a.get_cell(SPACE, "runs:long").await.unwrap().as_deref(),
        Some("1")
    );

    // Node A dies with the piece claimed (its scheduler stops beating, its
    // claim stays): node B's scheduler runs the piece within a lease ttl
    // and a heartbeat.
    let _ = stop_a.send(());
    task_a.await.unwrap().unwrap();
    a.reschedule(vec![(key.clone(), 0)]).await.unwrap();
    let dead = a
        .claim_due(on_a.now(), &IntegrationFilter::all(), 10)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    let b_runner = FakeRunner::new(Duration::from_millis(10));
    let on_b = scheduler(b.clone(), &b_runner, TTL);
    let (stop_b, task_b) = start(&on_b);
    let since = Instant::now();
    wait_until(
        "node B to run the dead node's piece",
        Duration::from_secs(10),
        async || !b_runner.seen().is_empty(),
    )
    .await;
    assert!(
        since.elapsed() >= TTL / 2,
        "B waited for A's lease to expire"
    );
    let _ = stop_b.send(());
    task_b.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_run_waits_for_another_nodes_lease_and_is_refused_past_its_wait() {
    let database = Database::fresh().await;
    let (a, b) = (database.node("node-a").await, database.node("node-b").await);
    let key = add(&a, "manual", "ok").await;
    let runner = FakeRunner::new(Duration::from_millis(10));
    let SpaceLease::Held(_) = a.leases().unwrap().acquire_space(SPACE).await.unwrap() else {
        panic!("the space was free");
    };

    // Waiting less than A's lease has left: refused, naming A.
    let impatient = scheduler(b.clone(), &runner, Duration::from_millis(50));
    let error = impatient.run_now(key.clone()).await.unwrap_err();
    assert!(
        matches!(&error, SchedulerError::SpaceBusy { node, .. } if node == "node-a"),
        "{error}"
    );
    assert!(error.to_string().contains("retry"), "{error}");
    assert!(runner.seen().is_empty(), "nothing ran");

    // Waiting longer: it runs once A's lease lapses, and is committed.
    let patient = scheduler(b.clone(), &runner, TTL * 4);
    let outcome = patient.run_now(key.clone()).await.unwrap();
    assert!(outcome.ok);
    assert_eq!(
        b.get_cell(SPACE, "runs:manual").await.unwrap().as_deref(),
        Some("1")
    );
}
