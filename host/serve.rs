//! `bgwasm serve`: the daemon. It wires the store, the sandboxes, the
//! scheduler, the HTTP API and the metrics together, and stops gracefully on
//! SIGINT or SIGTERM.

use crate::api::{self, ApiState};
use crate::auth::Verifier;
use crate::identity::Identity;
use crate::metrics::{Metrics, REGISTRATIONS_REFRESH};
use crate::sandbox::{
    CellSource, EgressPolicy, EngineOptions, Limits, Piece, RunReport, SandboxEngine, SandboxPool,
};
use crate::scheduler::{PieceRunner, Scheduler, SchedulerConfig};
use crate::store::{LeaseConfig, StoreUrl};
use anyhow::Context as _;
use futures::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What the daemon runs with, as the command line decided it.
pub struct ServeConfig {
    /// The store (created and migrated if needed).
    pub store: StoreUrl,
    /// This node's name and lease ttl (only a PostgreSQL store uses them).
    pub lease: LeaseConfig,
    /// How long a manual run waits for its space's lease held by another
    /// node (the lease ttl plus a run's wall-clock limit).
    pub manual_lease_wait: Duration,
    /// The address of the HTTP API.
    pub listen: SocketAddr,
    /// Where `GET /metrics` is served, if anywhere (`--metrics-listen`).
    pub metrics_listen: Option<SocketAddr>,
    /// The retry policy, concurrency, grace period and integrations served.
    pub scheduler: SchedulerConfig,
    /// Sandboxes kept alive at most.
    pub max_live_sandboxes: usize,
    /// Largest request body the API accepts, in bytes.
    pub body_limit: usize,
    /// The cap of each run's record for replay, in bytes (0: not recorded).
    pub record_bytes: usize,
    /// The operator: it may act on every space, and its DID is the daemon's.
    pub operator: Identity,
    /// Let unsigned `POST /api/integrations/bg` through.
    pub insecure_open_registration: bool,
    /// Each sandbox's limits.
    pub limits: Limits,
    /// Where pieces' fetches may go (the daemon's own address is added).
    pub egress: EgressPolicy,
}

/// The scheduler's runs go to the sandbox pool.
impl PieceRunner for SandboxPool {
    fn run(
        &self,
        space: &str,
        piece: Piece,
        event: serde_json::Value,
        cells: Arc<dyn CellSource>,
    ) -> BoxFuture<'static, RunReport> {
        let pool = self.clone();
        let space = space.to_owned();
        Box::pin(async move { pool.run(&space, piece, event, cells).await })
    }
}

/// Runs the daemon until SIGINT or SIGTERM, then stops gracefully.
pub async fn run(config: ServeConfig) -> anyhow::Result<()> {
    let store = config
        .store
        .open_as(config.lease.clone())
        .await
        .with_context(|| format!("opening the store {}", config.store))?;
    let daemon_did = config.operator.did();
    let verifier = Verifier::new(daemon_did, daemon_did);
    if config.insecure_open_registration {
        tracing::warn!(
            "--insecure-open-registration is on: anyone who can reach {} can register pieces in any space without signing",
            config.listen
        );
    }
    let mut egress = config.egress;
    // Pieces must not reach the daemon's own API or metrics, whatever else is
    // open.
    egress.deny_daemon_address(config.listen);
    if let Some(addr) = config.metrics_listen {
        egress.deny_daemon_address(addr);
    }
    let engine = SandboxEngine::new(EngineOptions {
        egress,
        max_live_sandboxes: config.max_live_sandboxes,
        ..EngineOptions::default()
    })
    .await?;
    let metrics = Metrics::new();
    let pool = SandboxPool::with_metrics(
        engine,
        config.limits,
        config.max_live_sandboxes,
        metrics.clone(),
    )
    .with_record_bytes(config.record_bytes);
    let grace = config.scheduler.grace;
    let mut scheduler_config = config.scheduler.clone();
    scheduler_config.manual_lease_wait = config.manual_lease_wait;
    let scheduler = Scheduler::with_metrics(
        store.clone(),
        Arc::new(pool),
        scheduler_config.clone(),
        metrics.clone(),
    );
    let wake_ups = store
        .wake_ups(&scheduler_config.integrations)
        .map(|woken| tokio::spawn(wake_on_notice(woken, scheduler.clone())));
    let counting = tokio::spawn(crate::metrics::refresh::keep_counting_registrations(
        store.clone(),
        metrics.clone(),
        REGISTRATIONS_REFRESH,
    ));
    let app = api::router(
        ApiState::new(store, scheduler.clone())
            .with_body_limit(config.body_limit)
            .with_auth(verifier, config.insecure_open_registration),
    );
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "listening on {} (is another daemon running? pick another --listen)",
                config.listen
            )
        })?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!("listening for metrics on {addr} (is it taken? pick another --metrics-listen)")
        })?),
        None => None,
    };
    tracing::info!(
        listen = %config.listen,
        metrics_listen = ?config.metrics_listen,
        did = %daemon_did,
        store = %config.store,
        node = %config.lease.node,
        interval = %humantime::format_duration(scheduler_config.policy.interval),
        concurrency = scheduler_config.concurrency.get(),
        integrations = ?scheduler_config.integrations.names().unwrap_or_default(),
        "bgwasm serving"
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let schedule = tokio::spawn({
        let scheduler = scheduler.clone();
        let rx = stop_rx.clone();
        async move { scheduler.run_until(stopped(rx)).await }
    });
    tokio::spawn(async move {
        let signal = shutdown_signal().await;
        tracing::info!(%signal, "stopping: no new runs; waiting for the runs in flight");
        let _ = stop_tx.send(true);
    });
    if let Some(listener) = metrics_listener {
        // Scrapes are answered until the process exits: a stop is the time
        // they are most wanted.
        let serving = axum::serve(listener, crate::metrics::listener::router(metrics));
        tokio::spawn(async move {
            if let Err(error) = serving.await {
                tracing::error!(%error, "the metrics listener stopped");
            }
        });
    }
    let serving = axum::serve(listener, app).with_graceful_shutdown(stopped(stop_rx.clone()));
    // The API waits for its open requests (a manual run, say) no longer than
    // the scheduler waits for its runs.
    let server = tokio::spawn(async move { serving.await });
    let report = schedule
        .await
        .context("the scheduler stopped unexpectedly")??;
    counting.abort();
    if let Some(wake_ups) = wake_ups {
        wake_ups.abort();
    }
    match tokio::time::timeout(grace + Duration::from_secs(1), server).await {
        Ok(result) => result.context("the HTTP server stopped unexpectedly")??,
        Err(_) => tracing::warn!(
            "open HTTP requests did not finish within the grace period; closing them"
        ),
    }
    let commits = scheduler.commit_stats();
    tracing::info!(
        released = report.released,
        abandoned = report.abandoned,
        commits = commits.groups,
        committed_runs = commits.runs,
        "bgwasm stopped"
    );
    Ok(())
}

/// Wakes the scheduler whenever another node (or this one) announces a
/// registration due now.
async fn wake_on_notice(mut woken: tokio::sync::watch::Receiver<u64>, scheduler: Scheduler) {
    while woken.changed().await.is_ok() {
        scheduler.wake();
    }
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
