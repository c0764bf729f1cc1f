//! `/api/integrations/bg`: the reference service's registration endpoint,
//! and the list of every registration.

use super::error::ApiError;
use super::extract::Decided;
use super::state::ApiState;
use crate::identity::Did;
use crate::store::{PieceId, Registration, RegistrationFilter, RegistrationKey};
use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value};

/// The longest integration label accepted.
const MAX_INTEGRATION_LEN: usize = 128;

const EXPECTED: &str = "expected a JSON object with pieceId (or charmId), space and integration";

/// A registration request, checked field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRequest {
    pub space: Did,
    pub piece_id: PieceId,
    pub integration: String,
}

impl RegisterRequest {
    /// The registration it names.
    pub fn key(&self) -> RegistrationKey {
        RegistrationKey::new(self.space.to_string(), self.piece_id.clone())
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string_field<'a>(
    body: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::bad_request(format!(
            "field `{field}` must be a string, not {}",
            describe(other)
        ))),
    }
}

/// Parses `{"pieceId"|"charmId", "space", "integration"}`, naming the field
/// at fault in every error.
pub fn parse_register_request(body: &[u8]) -> Result<RegisterRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(format!(
            "the request body is empty; {EXPECTED}"
        )));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the request body is not valid JSON ({e}); {EXPECTED}"
        ))
    })?;
    let Value::Object(body) = value else {
        return Err(ApiError::bad_request(format!(
            "the request body is {}; {EXPECTED}",
            describe(&value)
        )));
    };
    if let Some(unknown) = body
        .keys()
        .find(|k| !matches!(k.as_str(), "pieceId" | "charmId" | "space" | "integration"))
    {
        return Err(ApiError::bad_request(format!(
            "unknown field `{unknown}`; {EXPECTED}"
        )));
    }
    let (field, piece_id) = match (
        string_field(&body, "pieceId")?,
        string_field(&body, "charmId")?,
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either field `pieceId` or its older name `charmId`, not both",
            ));
        }
        (Some(id), None) => ("pieceId", id),
        (None, Some(id)) => ("charmId", id),
        (None, None) => {
            return Err(ApiError::bad_request(format!(
                "missing field `pieceId` (or `charmId`); {EXPECTED}"
            )));
        }
    };
    let piece_id = PieceId::parse(piece_id)
        .map_err(|e| ApiError::bad_request(e.to_string()).in_field(field))?;
    let space = string_field(&body, "space")?
        .ok_or_else(|| ApiError::bad_request(format!("missing field `space`; {EXPECTED}")))?;
    let space = Did::parse_as(space, "space")
        .map_err(|e| ApiError::bad_request(e.to_string()).in_field("space"))?;
    let integration = string_field(&body, "integration")?
        .ok_or_else(|| ApiError::bad_request(format!("missing field `integration`; {EXPECTED}")))?;
    validate_integration(integration).map_err(|e| e.in_field("integration"))?;
    Ok(RegisterRequest {
        space,
        piece_id,
        integration: integration.to_owned(),
    })
}

fn validate_integration(integration: &str) -> Result<(), ApiError> {
    if integration.trim().is_empty() {
        return Err(ApiError::bad_request(
            "the integration is empty; give a label such as \"rss\"",
        ));
    }
    if integration.chars().count() > MAX_INTEGRATION_LEN {
        return Err(ApiError::bad_request(format!(
            "the integration is longer than {MAX_INTEGRATION_LEN} characters"
        )));
    }
    if integration.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "the integration contains control characters",
        ));
    }
    Ok(())
}

/// `POST /api/integrations/bg`: the body was parsed, and its space
/// verified, by the signature check.
pub async fn register(
    State(state): State<ApiState>,
    Decided(request): Decided<RegisterRequest>,
) -> Result<Json<Value>, ApiError> {
    let key = request.key();
    let now = state.scheduler().now();
    let registration = state
        .store()
        .register(&key, &request.integration, now)
        .await?;
    state.scheduler().wake();
    tracing::info!(
        piece = %key, integration = %registration.integration, status = %registration.state.status,
        "registered a piece"
    );
    Ok(Json(
        serde_json::json!({ "success": true, "message": "success" }),
    ))
}

/// `GET /api/integrations/bg?space=&integration=`: the filter was read,
/// and its space verified, by the signature check.
pub async fn list(
    State(state): State<ApiState>,
    Decided(filter): Decided<RegistrationFilter>,
) -> Result<Json<Vec<Registration>>, ApiError> {
    Ok(Json(state.store().list_registrations(&filter).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACE: &str = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";

    fn error_of(body: &str) -> String {
        parse_register_request(body.as_bytes()).unwrap_err().message
    }

    #[test]
    fn accepts_either_id_name() {
        for field in ["pieceId", "charmId"] {
            let body = format!(r#"{{"{field}":"p1","space":"{SPACE}","integration":"rss"}}"#);
            let request = parse_register_request(body.as_bytes()).unwrap();
            assert_eq!(
                request.key(),
                RegistrationKey::new(SPACE, PieceId::parse("p1").unwrap())
            );
            assert_eq!(request.integration, "rss");
        }
    }

    #[test]
    fn names_the_field_at_fault() {
        assert!(error_of("").contains("empty"));
        assert!(error_of("{").contains("not valid JSON"));
        assert!(error_of("[]").contains("an array"));
        assert!(
            error_of(&format!(r#"{{"pieceId":"p","space":"{SPACE}"}}"#)).contains("`integration`")
        );
        assert!(
            error_of(&format!(r#"{{"space":"{SPACE}","integration":"x"}}"#)).contains("`pieceId`")
        );
        assert!(error_of(r#"{"pieceId":"p","integration":"x"}"#).contains("`space`"));
        assert!(
            error_of(&format!(
                r#"{{"pieceId":1,"space":"{SPACE}","integration":"x"}}"#
            ))
            .contains("`pieceId` must be a string")
        );
        assert!(
            error_of(&format!(
                r#"{{"pieceId":"p","charmId":"p","space":"{SPACE}","integration":"x"}}"#
            ))
            .contains("not both")
        );
        assert!(
            error_of(&format!(
                r#"{{"pieceId":"p","space":"{SPACE}","integration":"x","extra":1}}"#
            ))
            .contains("`extra`")
        );
        assert!(
            error_of(&format!(
                r#"{{"charmId":"../x","space":"{SPACE}","integration":"x"}}"#
            ))
            .starts_with("field `charmId`")
        );
        assert!(
            error_of(r#"{"pieceId":"p","space":"alice","integration":"x"}"#)
                .starts_with("field `space`")
        );
        assert!(
            error_of(&format!(
                r#"{{"pieceId":"p","space":"{SPACE}","integration":""}}"#
            ))
            .starts_with("field `integration`")
        );
    }
}
