//! `bgwasm serve`: the daemon. It wires the store, the sandboxes, the
//! scheduler and the HTTP API together, and stops gracefully on SIGINT or
//! SIGTERM.

use crate::api::{self, ApiState};
use crate::auth::Verifier;
use crate::cli::{EgressArgs, LimitArgs};
use crate::identity::operator_identity_from_env;
use crate::sandbox::{CellSource, EngineOptions, Piece, RunReport, SandboxEngine, SandboxPool};
use crate::scheduler::{PieceRunner, RetryPolicy, Scheduler, SchedulerConfig};
use crate::store::{IntegrationFilter, SqliteStore, Store};
use anyhow::Context as _;
use clap::Args;
use futures::future::BoxFuture;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  bgwasm serve                                   data in ./bgwasm-data, API on 127.0.0.1:8000\n  \
    bgwasm serve --data-dir /var/lib/bgwasm --listen 0.0.0.0:8000 --concurrency 64\n  \
    bgwasm serve --integration gmail --integration gcal   serve only these integrations\n  \
    bgwasm serve --interval 200ms                  a fast schedule, for tests"
)]
pub struct ServeArgs {
    /// Where the SQLite database lives (created if missing).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "bgwasm-data",
        env = "BGWASM_DATA_DIR"
    )]
    pub data_dir: PathBuf,
    /// The address of the HTTP API.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8000",
        env = "BGWASM_LISTEN"
    )]
    pub listen: SocketAddr,
    /// Time from the end of one run of a piece to the start of its next (60, 60s, 200ms, 5m).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Spaces running at once. A space always runs one piece at a time.
    #[arg(long, value_name = "N", default_value = "32")]
    pub concurrency: NonZeroUsize,
    /// Consecutive failures after which a piece is disabled.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_failures: u32,
    /// On SIGINT or SIGTERM, how long to wait for runs in flight before exiting.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_duration)]
    pub grace: Duration,
    /// Serve only the pieces of this integration (repeatable), so several
    /// daemons can split the work.
    #[arg(long = "integration", value_name = "NAME")]
    pub integrations: Vec<String>,
    /// Sandboxes kept alive at most (about 0.5 MiB each when idle). Past it,
    /// the least recently used idle ones are dropped; their next run starts a
    /// fresh instance.
    #[arg(long, value_name = "N", default_value_t = crate::sandbox::DEFAULT_MAX_LIVE_SANDBOXES)]
    pub max_live_sandboxes: usize,
    /// Largest request body the API accepts, in bytes (413 past it).
    #[arg(long, value_name = "BYTES", default_value_t = api::DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// The operator's keyfile (PEM). The operator may act on every space, and
    /// the daemon's DID, which signed requests must name as their audience, is
    /// the operator's.
    #[arg(long, value_name = "FILE", env = "IDENTITY")]
    pub identity: Option<PathBuf>,
    /// The operator's passphrase, when there is no keyfile. The default is the
    /// reference service's well-known "implicit trust": set one of the two.
    #[arg(
        long,
        value_name = "PASSPHRASE",
        env = "OPERATOR_PASS",
        hide_env_values = true
    )]
    pub operator_pass: Option<String>,
    /// Let unsigned `POST /api/integrations/bg` through, for reference clients
    /// that cannot sign. Anyone who can reach the API can then register pieces.
    #[arg(long)]
    pub insecure_open_registration: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub egress: EgressArgs,
}

/// A duration as `60`, `1.5` (seconds) or with a unit: `200ms`, `60s`, `5m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return if seconds.is_finite() && seconds >= 0.0 {
            Ok(Duration::from_secs_f64(seconds))
        } else {
            Err(format!("{text:?} is not a number of seconds"))
        };
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration ({e}); write 60, 60s, 200ms or 5m"))
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
pub async fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let limits = args.limits.limits().map_err(anyhow::Error::msg)?;
    let data_dir = args.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(&data_dir))
        .await?
        .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
    let store: Arc<dyn Store> = Arc::new(store);
    let operator =
        operator_identity_from_env(args.identity.as_deref(), args.operator_pass.as_deref())?;
    let daemon_did = operator.did();
    let verifier = Verifier::new(daemon_did, daemon_did);
    if args.insecure_open_registration {
        tracing::warn!(
            "--insecure-open-registration is on: anyone who can reach {} can register pieces in any space without signing",
            args.listen
        );
    }
    let mut egress = args.egress.policy();
    // Pieces must not reach the daemon's own API, whatever else is open.
    egress.deny_daemon_address(args.listen);
    let engine = SandboxEngine::new(EngineOptions {
        egress,
        ..EngineOptions::default()
    })
    .await?;
    let pool = SandboxPool::with_max_live(engine, limits, args.max_live_sandboxes);
    let config = SchedulerConfig {
        policy: RetryPolicy {
            interval: args.interval,
            max_failures: args.max_failures,
        },
        concurrency: args.concurrency,
        grace: args.grace,
        integrations: IntegrationFilter::only(args.integrations.clone()),
        ..SchedulerConfig::default()
    };
    let scheduler = Scheduler::new(store.clone(), Arc::new(pool), config);
    let app = api::router(
        ApiState::new(store, scheduler.clone())
            .with_body_limit(args.body_limit)
            .with_auth(verifier, args.insecure_open_registration),
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "listening on {} (is another daemon running? pick another --listen)",
                args.listen
            )
        })?;
    tracing::info!(
        listen = %args.listen,
        did = %daemon_did,
        data_dir = %args.data_dir.display(),
        interval = %humantime::format_duration(args.interval),
        concurrency = args.concurrency.get(),
        integrations = ?args.integrations,
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
    let grace = args.grace;
    let serving = axum::serve(listener, app).with_graceful_shutdown(stopped(stop_rx.clone()));
    // The API waits for its open requests (a manual run, say) no longer than
    // the scheduler waits for its runs.
    let server = tokio::spawn(async move { serving.await });
    let report = schedule
        .await
        .context("the scheduler stopped unexpectedly")??;
    match tokio::time::timeout(grace + Duration::from_secs(1), server).await {
        Ok(result) => result.context("the HTTP server stopped unexpectedly")??,
        Err(_) => tracing::warn!(
            "open HTTP requests did not finish within the grace period; closing them"
        ),
    }
    tracing::info!(
        released = report.released,
        abandoned = report.abandoned,
        "bgwasm stopped"
    );
    Ok(())
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
