//! `GET /healthz`: is the daemon up, and what is it doing.

use super::error::ApiError;
use super::state::ApiState;
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub async fn health(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let counts = state.store().counts().await?;
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
    })))
}
