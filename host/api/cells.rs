//! `/api/spaces/{space}/cells[/{key}]`: a space's cells, read-only (only a
//! successful run changes them). Values are returned as JSON, never logged.

use super::auth::Verified;
use super::error::ApiError;
use super::extract::{ApiPath, Decided};
use super::state::ApiState;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Stored cells are JSON text; one that is not (written outside bgwasm) is
/// shown as a string rather than failing the whole listing.
fn to_value(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// `GET /api/spaces/{space}/cells`: `{"space": ..., "cells": {key: value}}`.
pub async fn list(
    State(state): State<ApiState>,
    Decided(Verified { space, .. }): Decided<Verified>,
) -> Result<Json<Value>, ApiError> {
    let space = space.to_string();
    let cells: Map<String, Value> = state
        .store()
        .list_cells(&space)
        .await?
        .into_iter()
        .map(|(key, text)| (key, to_value(text)))
        .collect();
    Ok(Json(json!({ "space": space, "cells": cells })))
}

/// The cell key of `/api/spaces/{space}/cells/{*key}` (the space is
/// [`Verified`]).
#[derive(Debug, Deserialize)]
pub struct CellPath {
    key: String,
}

/// `GET /api/spaces/{space}/cells/{key}`: `{"key": ..., "value": ...}`.
pub async fn get(
    State(state): State<ApiState>,
    Decided(Verified { space, .. }): Decided<Verified>,
    ApiPath(CellPath { key }): ApiPath<CellPath>,
) -> Result<Json<Value>, ApiError> {
    match state.store().get_cell(&space.to_string(), &key).await? {
        Some(text) => Ok(Json(json!({ "key": key, "value": to_value(text) }))),
        None => Err(ApiError::not_found(format!(
            "cell {key:?} does not exist in space {space}"
        ))),
    }
}
