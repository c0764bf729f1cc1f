//! `/api/spaces/{space}/pieces/...`: adding and replacing sources, one
//! piece's registration and runs, and acting on it (enable, disable, run
//! now, unregister).

use super::auth::Verified;
use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery, Decided, RawBody};
use super::state::ApiState;
use crate::sandbox::{Lang, RunOutcome};
use crate::store::{
    PieceId, PieceInfo, PieceSource, RUN_HISTORY_PER_PIECE, Registration, RegistrationKey,
    RunRecord,
};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Runs shown by `GET .../pieces/{pieceId}` unless `?runs=` says otherwise.
const DEFAULT_RUNS_SHOWN: usize = 20;

fn piece_id(raw: &str) -> Result<PieceId, ApiError> {
    PieceId::parse(raw).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The piece id of `/api/spaces/{space}/pieces/{piece_id}` (the space is
/// [`Verified`]).
#[derive(Debug, Deserialize)]
pub struct PiecePath {
    piece_id: String,
}

/// The verified space and the piece of a `.../pieces/{piece_id}` path.
pub(super) fn key_of(verified: &Verified, path: &PiecePath) -> Result<RegistrationKey, ApiError> {
    Ok(RegistrationKey::new(
        verified.space.to_string(),
        piece_id(&path.piece_id)?,
    ))
}

/// The language a request names: `?lang=` (`js`, `ts`, `javascript`,
/// `typescript`), else the extension of `?name=` (`inbox.ts`), else none.
fn lang_of(lang: Option<&str>, name: Option<&str>) -> Result<Option<Lang>, ApiError> {
    if let Some(lang) = lang {
        return Lang::parse(lang)
            .map(Some)
            .map_err(|e| ApiError::bad_request(e.to_string()).in_field("lang"));
    }
    let Some(name) = name else { return Ok(None) };
    Lang::from_file_name(name).map(Some).ok_or_else(|| {
        ApiError::bad_request(format!(
            "the name {name:?} ends in neither .js, .mjs, .ts nor .mts; pass ?lang=js or ?lang=ts"
        ))
        .in_field("name")
    })
}

/// A request body as the source of a piece in `lang`. A TypeScript source
/// must strip: a syntax error is refused here, naming its line, rather than
/// failing every run.
fn piece_source(body: &[u8], lang: Lang, name: Option<&str>) -> Result<PieceSource, ApiError> {
    let text = source_of(body)?;
    if lang == Lang::TypeScript
        && let Err(error) = crate::typescript::strip(&text, name.unwrap_or("piece.ts"))
    {
        return Err(ApiError::bad_request(format!(
            "the TypeScript does not parse: {error}; fix it, or send it as JavaScript"
        )));
    }
    Ok(PieceSource::new(text, lang))
}

/// A request body as piece source text.
fn source_of(body: &[u8]) -> Result<Arc<str>, ApiError> {
    let source = std::str::from_utf8(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the piece source is not UTF-8 (invalid bytes at offset {}); send the JavaScript as UTF-8 text",
            e.valid_up_to()
        ))
    })?;
    if source.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the piece source is empty; send the JavaScript as the request body",
        ));
    }
    Ok(source.into())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PieceAdded {
    piece_id: PieceId,
    hash: String,
    created: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddQuery {
    id: Option<String>,
    lang: Option<String>,
    name: Option<String>,
}

/// `POST /api/spaces/{space}/pieces[?id=][&lang=ts|&name=FILE]`: 201 when
/// new, 200 when the same source was already there. The source is
/// JavaScript unless `lang` or the extension of `name` says TypeScript.
pub async fn add(
    State(state): State<ApiState>,
    Decided(verified): Decided<Verified>,
    ApiQuery(query): ApiQuery<AddQuery>,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<PieceAdded>), ApiError> {
    let space = verified.space.to_string();
    let id = query.id.as_deref().map(piece_id).transpose()?;
    let lang = lang_of(query.lang.as_deref(), query.name.as_deref())?.unwrap_or_default();
    let source = piece_source(&body, lang, query.name.as_deref())?;
    let added = state
        .store()
        .add_piece(&space, id, source, state.scheduler().now())
        .await?;
    let status = if added.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    if added.created {
        tracing::info!(%space, piece_id = %added.info.id, bytes = added.info.source_bytes, "added a piece");
    }
    Ok((
        status,
        Json(PieceAdded {
            piece_id: added.info.id,
            hash: added.info.hash,
            created: added.created,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceQuery {
    lang: Option<String>,
    name: Option<String>,
}

/// `PUT /api/spaces/{space}/pieces/{pieceId}[?lang=|?name=]`: the next run
/// uses the new source, in the language given, else the piece's own.
pub async fn replace(
    State(state): State<ApiState>,
    Decided(verified): Decided<Verified>,
    ApiPath(path): ApiPath<PiecePath>,
    ApiQuery(query): ApiQuery<ReplaceQuery>,
    RawBody(body): RawBody,
) -> Result<Json<PieceInfo>, ApiError> {
    let key = key_of(&verified, &path)?;
    let lang = match lang_of(query.lang.as_deref(), query.name.as_deref())? {
        Some(lang) => lang,
        None => state
            .store()
            .get_piece(&key.space, &key.piece_id)
            .await?
            .map(|piece| piece.info.lang)
            .unwrap_or_default(),
    };
    let source = piece_source(&body, lang, query.name.as_deref())?;
    let info = state
        .store()
        .replace_piece(&key.space, &key.piece_id, source, state.scheduler().now())
        .await?;
    tracing::info!(piece = %key, bytes = info.source_bytes, "replaced a piece's source");
    Ok(Json(info))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    runs: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct PieceDetails {
    piece: PieceInfo,
    registration: Option<Registration>,
    runs: Vec<RunRecord>,
}

/// `GET /api/spaces/{space}/pieces/{pieceId}[?runs=N]`: the piece, its
/// registration (null if unregistered) and its newest runs.
pub async fn show(
    State(state): State<ApiState>,
    Decided(verified): Decided<Verified>,
    ApiPath(path): ApiPath<PiecePath>,
    ApiQuery(query): ApiQuery<ShowQuery>,
) -> Result<Json<PieceDetails>, ApiError> {
    let key = key_of(&verified, &path)?;
    let store = state.store();
    let Some(piece) = store.get_piece(&key.space, &key.piece_id).await? else {
        return Err(ApiError::not_found(format!(
            "piece {} does not exist in space {}; add it with POST /api/spaces/{}/pieces",
            key.piece_id, key.space, key.space
        )));
    };
    let runs = query
        .runs
        .unwrap_or(DEFAULT_RUNS_SHOWN)
        .min(RUN_HISTORY_PER_PIECE);
    Ok(Json(PieceDetails {
        piece: piece.info,
        registration: store.get_registration(&key).await?,
        runs: store.recent_runs(&key.space, &key.piece_id, runs).await?,
    }))
}

/// `POST .../enable`: like registering again.
pub async fn enable(
    State(state): State<ApiState>,
    Decided(verified): Decided<Verified>,
    ApiPath(path): ApiPath<PiecePath>,
) -> Result<Json<Registration>, ApiError> {
    let key = key_of(&verified, &path)?;
    let registration = state.store().enable(&key, state.scheduler().now()).await?;
    state.scheduler().wake();
    tracing::info!(piece = %key, "enabled a piece");
    Ok(Json(registration))
}

/// `POST .../disable`: a run in flight finishes; no new one starts.
pub async fn disable(
    State(state): State<ApiState>,
    Decided(verified): Decided<Verified>,
    ApiPath(path): ApiPath<PiecePath>,
) -> Result<Json<Registration>, ApiError> {
    let key = key_of(&verified, &path)?;
    let registration = state.store().disable(&key, state.scheduler().now()).await?;
    tracing::info!(piece = %key, "disabled a piece");
    Ok(Json(registration))
}

/// `POST .../run`: runs it now, behind its space's current run, commits it
/// like a scheduled run, and answers with the outcome (200 even when the
/// run failed: the request itself succeeded).
pub async fn run(
    State(state): State<ApiState>,
    Decided(verified): Decided<Verified>,
    ApiPath(path): ApiPath<PiecePath>,
) -> Result<Json<RunOutcome>, ApiError> {
    let key = key_of(&verified, &path)?;
    Ok(Json(state.scheduler().run_now(key).await?))
}

/// `DELETE .../{pieceId}`: unregisters it; a run in flight finishes. The
/// piece's source and run history stay.
pub async fn unregister(
    State(state): State<ApiState>,
    Decided(verified): Decided<Verified>,
    ApiPath(path): ApiPath<PiecePath>,
) -> Result<Json<Value>, ApiError> {
    let key = key_of(&verified, &path)?;
    if !state.store().unregister(&key).await? {
        return Err(ApiError::not_found(format!(
            "piece {key} is not registered, so there is nothing to unregister"
        )));
    }
    tracing::info!(piece = %key, "unregistered a piece");
    Ok(Json(
        serde_json::json!({ "success": true, "message": "unregistered" }),
    ))
}
