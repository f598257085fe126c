//! Processing deadlines and holidays of the caller's administration; the public list of an
//! administration's types of request (for the portal).

use super::ApiJson;
use crate::auth::ApiUser;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use diwan_app::deadlines::{DeadlineRuleRequest, HolidayRequest};
use diwan_app::AppError;
use serde_json::{json, Value};

/// `GET /api/v1/deadline-rules`: every type of request with the rule that applies.
pub async fn list(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({ "items": st.app.procedures(who.admin()).await? }),
    ))
}

/// `PUT /api/v1/deadline-rules/{code}` (administrators).
pub async fn put(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(code): Path<String>,
    ApiJson(req): ApiJson<DeadlineRuleRequest>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(
        st.app.put_deadline_rule(&who, &code, req).await?
    )))
}

/// `DELETE /api/v1/deadline-rules/{code}` (administrators): back to the built-in rule.
pub async fn delete(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.app.delete_deadline_rule(&who, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/holidays`: the administration's own days off and this year's fixed national ones.
pub async fn holidays(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    let own = st.app.holidays(who.admin()).await?;
    let national: Vec<String> =
        diwan_core::calendar::moroccan_fixed_holidays(st.app.today().year())
            .into_iter()
            .map(|d| d.to_string())
            .collect();
    Ok(Json(json!({ "items": own, "national": national })))
}

/// `POST /api/v1/holidays` (administrators).
pub async fn add_holiday(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiJson(req): ApiJson<HolidayRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let h = st.app.add_holiday(&who, req).await?;
    Ok((StatusCode::CREATED, Json(json!(h))))
}

/// `DELETE /api/v1/holidays/{day}` (administrators).
pub async fn remove_holiday(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(day): Path<String>,
) -> Result<StatusCode, ApiError> {
    let day =
        diwan_app::registration::opt_date::parse(&day).map_err(|m| AppError::field("day", m))?;
    st.app.remove_holiday(&who, day).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/administrations/{code}/procedures` (public): the types of request a filer can
/// choose, with their deadline.
pub async fn public_procedures(
    State(st): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let a = st.app.store.administration_by_code(&code).await?;
    Ok(Json(json!({ "items": st.app.procedures(a.id).await? })))
}
