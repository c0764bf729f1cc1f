//! `GET /api/spaces/{space}/pieces/{pieceId}/runs[?limit=N]`: a piece's run
//! history, newest first (what `bgwasm runs` shows).

use super::auth::Verified;
use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery, Decided};
use super::pieces::{PiecePath, key_of};
use super::state::ApiState;
use crate::store::{RUN_HISTORY_PER_PIECE, RunRecord};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

/// Runs listed unless `?limit=` says otherwise.
pub const DEFAULT_RUNS_LISTED: usize = 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    limit: Option<usize>,
}

/// The answer: the piece's newest runs, newest first.
#[derive(Debug, Serialize)]
pub struct RunHistory {
    runs: Vec<RunRecord>,
}

/// `?limit=` checked: at least 1; past the history kept, all of it.
fn limit(query: &RunsQuery) -> Result<usize, ApiError> {
    match query.limit {
        None => Ok(DEFAULT_RUNS_LISTED),
        Some(0) => Err(ApiError::bad_request(format!(
            "limit must be at least 1 (the daemon keeps the newest {RUN_HISTORY_PER_PIECE} runs of a piece)"
        ))
        .in_field("limit")),
        Some(n) => Ok(n.min(RUN_HISTORY_PER_PIECE)),
    }
}

/// Lists a piece's runs; 404 when the space has no such piece.
pub async fn list(
    State(state): State<ApiState>,
    Decided(verified): Decided<Verified>,
    ApiPath(path): ApiPath<PiecePath>,
    ApiQuery(query): ApiQuery<RunsQuery>,
) -> Result<Json<RunHistory>, ApiError> {
    let key = key_of(&verified, &path)?;
    let limit = limit(&query)?;
    let store = state.store();
    if store.get_piece(&key.space, &key.piece_id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "piece {} does not exist in space {}, so it has no runs; `bgwasm status --space` lists \
             the registered ones",
            key.piece_id, key.space
        )));
    }
    let runs = store.recent_runs(&key.space, &key.piece_id, limit).await?;
    Ok(Json(RunHistory { runs }))
}
