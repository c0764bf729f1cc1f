//! `GET /api/spaces/{space}/pieces/{pieceId}/runs/{runId}/record`: one run
//! of a piece with its record for replay and the piece's current source, so
//! `bgwasm replay` can run it again locally.

use super::auth::Verified;
use super::error::ApiError;
use super::extract::{ApiPath, Decided};
use super::state::ApiState;
use crate::sandbox::Lang;
use crate::store::{PieceId, RecordedRun};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
pub struct RecordPath {
    piece_id: String,
    run_id: String,
}

/// The piece as it is stored now.
#[derive(Debug, Serialize)]
pub struct CurrentSource {
    pub hash: String,
    pub lang: Lang,
    pub source: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunWithRecord {
    #[serde(flatten)]
    pub recorded: RecordedRun,
    /// The piece's source now (none when it was deleted).
    pub piece: Option<CurrentSource>,
}

pub async fn show(
    State(state): State<ApiState>,
    Decided(verified): Decided<Verified>,
    ApiPath(path): ApiPath<RecordPath>,
) -> Result<Json<RunWithRecord>, ApiError> {
    let space = verified.space.to_string();
    let piece_id =
        PieceId::parse(&path.piece_id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let run_id: i64 = path.run_id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "run id {:?} is not a run id: use the number `bgwasm runs` or `GET .../pieces/{piece_id}` shows",
            path.run_id
        ))
    })?;
    let store = state.store();
    let Some(recorded) = store.run_record(&space, &piece_id, run_id).await? else {
        return Err(ApiError::not_found(format!(
            "piece {piece_id} of space {space} has no run {run_id}: it never ran, or its history was pruned \
             (the newest {} runs are kept); list the runs with `bgwasm runs`",
            crate::store::RUN_HISTORY_PER_PIECE
        )));
    };
    let piece = store
        .get_piece(&space, &piece_id)
        .await?
        .map(|stored| CurrentSource {
            hash: stored.info.hash,
            lang: stored.info.lang,
            source: stored.source.to_string(),
        });
    Ok(Json(RunWithRecord { recorded, piece }))
}
