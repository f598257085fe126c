//! Mail between administrations of the platform: deliveries and their signed evidence.

use super::{path_id, ApiJson};
use crate::auth::ApiUser;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use diwan_app::exchange::{DeliveryRequest, RefusalRequest};
use diwan_core::CorrespondenceId;
use serde_json::{json, Value};

/// `POST /api/v1/correspondences/{id}/deliveries`: sends an outgoing correspondence to another
/// administration of the platform; 201 with the delivery (`consigned` or `rejected`).
pub async fn deliver(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<DeliveryRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id: CorrespondenceId = path_id(&id, "correspondence")?;
    let d = st.app.deliver(&who, id, req).await?;
    Ok((StatusCode::CREATED, Json(json!(d))))
}

/// `GET /api/v1/correspondences/{id}/evidence`: the deliveries of a correspondence (sent, or
/// the one that brought it) with their evidence events.
pub async fn list(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id: CorrespondenceId = path_id(&id, "correspondence")?;
    Ok(Json(json!({ "items": st.app.deliveries(&who, id).await? })))
}

/// `POST /api/v1/correspondences/{id}/refuse-delivery`: the recipient refuses a delivery.
pub async fn refuse(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RefusalRequest>,
) -> Result<Json<Value>, ApiError> {
    let id: CorrespondenceId = path_id(&id, "correspondence")?;
    Ok(Json(json!(st.app.refuse_delivery(&who, id, req).await?)))
}

/// `GET /api/v1/evidence/{event_id}`: the sealed, time-stamped JSON of an evidence event.
pub async fn evidence(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(event): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    if event.len() != 36 || !event.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(ApiError(diwan_app::AppError::NotFound(
            "evidence event".into(),
        )));
    }
    let body = st.app.evidence(&who, &event).await?;
    Ok(super::processing::download(
        body,
        "application/json",
        &format!("preuve-{event}.json"),
    ))
}
