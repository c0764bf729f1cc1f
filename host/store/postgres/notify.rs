//! Wake-ups across nodes with PostgreSQL's `LISTEN/NOTIFY`.
//!
//! A change that makes a registration due now (registering, enabling) sends
//! `pg_notify('bgwasm_due', integration)` in its own transaction, so the
//! notification goes out when (and only if) it commits. Each serving node
//! keeps one dedicated connection, outside the pool, that `LISTEN`s on that
//! channel: on each notification for an integration it serves, it bumps a
//! counter its scheduler watches, and the scheduler looks for due work at
//! once instead of at its next idle tick.
//!
//! The listener reconnects (with backoff) when its connection drops, and
//! wakes the scheduler once after reconnecting, since notifications sent
//! while it was away are lost. It stops when the last receiver is dropped.

use crate::store::error::{PostgresContext, StoreError};
use crate::store::{EpochMillis, IntegrationFilter, Phase, Registration};
use deadpool_postgres::GenericClient;
use futures::StreamExt as _;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, NoTls};

/// The channel due registrations are announced on.
pub const CHANNEL: &str = "bgwasm_due";
/// The first wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Announces `registration` to listening nodes if it is due by `now`, in the
/// caller's transaction. The payload is its integration label: a node that
/// serves other integrations ignores it.
pub async fn announce_if_due(
    client: &impl GenericClient,
    registration: &Registration,
    now: EpochMillis,
) -> Result<(), StoreError> {
    let state = &registration.state;
    if state.phase != Phase::Scheduled || state.next_run > now {
        return Ok(());
    }
    let statement = client
        .prepare_cached("SELECT pg_notify($1, $2)")
        .await
        .context("announcing a due registration")?;
    client
        .execute(&statement, &[&CHANNEL, &registration.integration])
        .await
        .context("announcing a due registration")?;
    Ok(())
}

/// Starts listening (on the current tokio runtime) on a connection of its
/// own to the database `config` names. The receiver changes on each
/// wake-up; the listener stops when every receiver is dropped.
pub fn listen(
    config: &tokio_postgres::Config,
    integrations: &IntegrationFilter,
) -> watch::Receiver<u64> {
    let (wake, woken) = watch::channel(0);
    let mut config = config.clone();
    let name = format!(
        "{} wake-ups",
        config.get_application_name().unwrap_or("bgwasm")
    );
    config.application_name(&name);
    tokio::spawn(keep_listening(config, integrations.clone(), wake));
    woken
}

/// Listens until every receiver is gone, reconnecting whenever the
/// connection drops.
async fn keep_listening(
    config: tokio_postgres::Config,
    integrations: IntegrationFilter,
    wake: watch::Sender<u64>,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let outcome = tokio::select! {
            () = wake.closed() => return,
            outcome = listen_once(&config, &integrations, &wake) => outcome,
        };
        match outcome {
            Ok(()) => {
                tracing::warn!("the wake-up connection to the database closed; reconnecting");
                backoff = FIRST_BACKOFF;
            }
            Err(error) => {
                tracing::warn!(
                    %error,
                    retry_in = %humantime::format_duration(backoff),
                    "could not listen for wake-ups; idle nodes poll until it is back"
                );
                tokio::select! {
                    () = wake.closed() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One connection's life: connect, `LISTEN`, wake once (anything sent while
/// no connection listened is lost), then wake on each notification served.
/// Returns when the connection ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    integrations: &IntegrationFilter,
    wake: &watch::Sender<u64>,
) -> Result<(), StoreError> {
    const CONTEXT: &str = "listening for wake-ups";
    let (client, mut connection) = config.connect(NoTls).await.context(CONTEXT)?;
    // The connection is driven here, not by a spawned `Connection` future,
    // so its notifications come out of `poll_message`.
    let (notifications, mut received) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    if notifications.send(notification).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the wake-up connection failed");
                    break;
                }
            }
        }
    });
    let listening = client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .context(CONTEXT);
    if let Err(error) = listening {
        driver.abort();
        return Err(error);
    }
    tracing::debug!("listening for wake-ups");
    wake.send_modify(|count| *count += 1);
    while let Some(notification) = received.recv().await {
        if integrations.serves(notification.payload()) {
            wake.send_modify(|count| *count += 1);
        }
    }
    drop(client);
    Ok(())
}
