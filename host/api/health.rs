//! `GET /healthz`: is the daemon up, and what is it doing.

use super::error::ApiError;
use super::state::ApiState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::time::Duration;

/// Nodes whose last heartbeat is older than this are not listed.
const NODES_SEEN_WITHIN: Duration = Duration::from_secs(60);

pub async fn health(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let counts = state.store().counts().await?;
    let nodes = match state.store().leases() {
        Some(leases) => Some(leases.nodes(NODES_SEEN_WITHIN).await?),
        None => None,
    };
    let activity = state.scheduler().activity();
    Ok(Json(json!({
        "status": "ok",
        "did": state.daemon_did().map(|did| did.to_string()),
        // This daemon's name among the nodes sharing a PostgreSQL store; none
        // for the embedded store.
        "node": state
            .store()
            .leases()
            .map(|leases| leases.lease_config().node.to_string()),
        "uptimeSeconds": state.started().elapsed().as_secs(),
        "running": activity.running,
        "queued": activity.queued,
        "activeSpaces": activity.active_spaces,
        "counts": counts,
        // Every node sharing the store, with what it holds (a PostgreSQL
        // store's); none for the embedded store.
        "nodes": nodes,
    })))
}
