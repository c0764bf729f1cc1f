//! The JSON the dashboard's page polls, and its buttons. Every route names
//! its space in the path (or, for the listing, is limited to the session's
//! space), so a space's session never reads or acts on another space.

use super::access::LoggedIn;
use super::sessions::Access;
use crate::api::extract::{ApiPath, ApiQuery};
use crate::api::{ApiError, ApiState};
use crate::sandbox::RunOutcome;
use crate::store::{
    PieceId, PieceInfo, RUN_HISTORY_PER_PIECE, Registration, RegistrationFilter, RegistrationKey,
    RunRecord,
};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Registrations per page unless `?per=` says otherwise, and the most.
pub const DEFAULT_PER_PAGE: usize = 50;
pub const MAX_PER_PAGE: usize = 200;
/// Runs in a registration's duration chart.
pub const CHART_RUNS: usize = 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1-based.
    page: Option<usize>,
    per: Option<usize>,
    space: Option<String>,
}

/// One bar of a duration chart.
#[derive(Debug, Serialize)]
pub struct Bar {
    ms: u64,
    ok: bool,
}

#[derive(Debug, Serialize)]
pub struct Row {
    #[serde(flatten)]
    registration: Registration,
    /// The newest runs' wall-clock times, oldest first.
    recent: Vec<Bar>,
}

#[derive(Debug, Serialize)]
pub struct Listing {
    total: u64,
    page: usize,
    per: usize,
    /// The daemon's clock, so "in 40 s" is right whatever the browser's.
    now: i64,
    registrations: Vec<Row>,
}

/// `GET /dashboard/api/registrations[?page=N&per=M&space=DID]`: one page of
/// registrations (the session's space only, for a space's session), each
/// with its recent durations.
pub async fn registrations(
    State(state): State<ApiState>,
    who: LoggedIn,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Listing>, ApiError> {
    let space = match (who.access(), query.space.as_deref()) {
        (_, Some(text)) => Some(who.space(text)?),
        (Access::Space(own), None) => Some(*own),
        (Access::All, None) => None,
    };
    let per = query.per.unwrap_or(DEFAULT_PER_PAGE).clamp(1, MAX_PER_PAGE);
    let page = query.page.unwrap_or(1).max(1);
    let filter = RegistrationFilter {
        space: space.map(|did| did.to_string()),
        ..RegistrationFilter::default()
    };
    let store = state.store();
    let found = store
        .list_registrations_page(&filter, (page - 1).saturating_mul(per), per)
        .await?;
    let charts = found.registrations.iter().map(|registration| {
        store.recent_run_times(&registration.space, &registration.piece_id, CHART_RUNS)
    });
    let charts = futures::future::try_join_all(charts).await?;
    let registrations = found
        .registrations
        .into_iter()
        .zip(charts)
        .map(|(registration, runs)| Row {
            registration,
            recent: runs
                .iter()
                .rev()
                .map(|run| Bar {
                    ms: run.millis(),
                    ok: run.ok,
                })
                .collect(),
        })
        .collect();
    Ok(Json(Listing {
        total: found.total,
        page,
        per,
        now: state.scheduler().now(),
        registrations,
    }))
}

#[derive(Debug, Deserialize)]
pub struct PiecePath {
    space: String,
    piece_id: String,
}

impl PiecePath {
    fn key(&self, who: &LoggedIn) -> Result<RegistrationKey, ApiError> {
        let space = who.space(&self.space)?;
        let id =
            PieceId::parse(&self.piece_id).map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(RegistrationKey::new(space.to_string(), id))
    }
}

#[derive(Debug, Serialize)]
pub struct PiecePage {
    piece: PieceInfo,
    source: String,
    registration: Option<Registration>,
    /// Newest first, each with its whole outcome.
    runs: Vec<RunRecord>,
    now: i64,
}

/// `GET /dashboard/api/spaces/{space}/pieces/{piece_id}`: a piece's source,
/// registration and whole run history.
pub async fn piece(
    State(state): State<ApiState>,
    who: LoggedIn,
    ApiPath(path): ApiPath<PiecePath>,
) -> Result<Json<PiecePage>, ApiError> {
    let key = path.key(&who)?;
    let store = state.store();
    let Some(piece) = store.get_piece(&key.space, &key.piece_id).await? else {
        return Err(ApiError::not_found(format!(
            "piece {} does not exist in space {}",
            key.piece_id, key.space
        )));
    };
    Ok(Json(PiecePage {
        source: piece.source.to_string(),
        piece: piece.info,
        registration: store.get_registration(&key).await?,
        runs: store
            .recent_runs(&key.space, &key.piece_id, RUN_HISTORY_PER_PIECE)
            .await?,
        now: state.scheduler().now(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct SpacePath {
    space: String,
}

/// `GET /dashboard/api/spaces/{space}/cells`: a space's cells, sorted by key.
pub async fn cells(
    State(state): State<ApiState>,
    who: LoggedIn,
    ApiPath(path): ApiPath<SpacePath>,
) -> Result<Json<Value>, ApiError> {
    let space = who.space(&path.space)?.to_string();
    let cells: Vec<Value> = state
        .store()
        .list_cells(&space)
        .await?
        .into_iter()
        .map(|(key, text)| {
            let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            json!({ "key": key, "value": value })
        })
        .collect();
    Ok(Json(json!({ "space": space, "cells": cells })))
}

/// `POST .../run` (CSRF-checked): runs the piece now, like `bgwasm run`.
pub async fn run(
    State(state): State<ApiState>,
    who: LoggedIn,
    ApiPath(path): ApiPath<PiecePath>,
) -> Result<Json<RunOutcome>, ApiError> {
    let key = path.key(&who)?;
    tracing::info!(piece = %key, "the dashboard runs a piece now");
    Ok(Json(state.scheduler().run_now(key).await?))
}

/// `POST .../enable` (CSRF-checked), like `bgwasm enable`.
pub async fn enable(
    State(state): State<ApiState>,
    who: LoggedIn,
    ApiPath(path): ApiPath<PiecePath>,
) -> Result<Json<Registration>, ApiError> {
    let key = path.key(&who)?;
    let registration = state.store().enable(&key, state.scheduler().now()).await?;
    state.scheduler().wake();
    tracing::info!(piece = %key, "the dashboard enabled a piece");
    Ok(Json(registration))
}

/// `POST .../disable` (CSRF-checked), like `bgwasm disable`.
pub async fn disable(
    State(state): State<ApiState>,
    who: LoggedIn,
    ApiPath(path): ApiPath<PiecePath>,
) -> Result<Json<Registration>, ApiError> {
    let key = path.key(&who)?;
    let registration = state.store().disable(&key, state.scheduler().now()).await?;
    tracing::info!(piece = %key, "the dashboard disabled a piece");
    Ok(Json(registration))
}
