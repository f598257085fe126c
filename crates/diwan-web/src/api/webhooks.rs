//! Webhooks of the caller's administration (administrators).

use super::ApiJson;
use crate::auth::ApiUser;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use diwan_app::webhooks::WebhookRequest;
use serde_json::{json, Value};

/// `POST /api/v1/webhooks`: registers an endpoint; the answer carries its secret, shown once.
pub async fn create(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiJson(req): ApiJson<WebhookRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let created = st.app.create_webhook(&who, req).await?;
    Ok((StatusCode::CREATED, Json(json!(created))))
}

/// `GET /api/v1/webhooks`: the endpoints, without their secrets.
pub async fn list(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "items": st.app.webhooks(&who).await? })))
}

/// `DELETE /api/v1/webhooks/{id}`.
pub async fn delete(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.app.delete_webhook(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/webhooks/{id}/deliveries`: the most recent deliveries and their state.
pub async fn deliveries(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "items": st.app.webhook_deliveries(&who, &id).await? }),
    ))
}
