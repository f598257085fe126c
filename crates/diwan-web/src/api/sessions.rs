//! `POST /api/v1/sessions` (login), `DELETE /api/v1/sessions` (logout), `GET /api/v1/me`.

use super::ApiJson;
use crate::auth::{bearer, ApiUser, ClientIp};
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use diwan_store::auth::SessionKind;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    login: String,
    password: String,
}

pub async fn create(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let s = st
        .app
        .store
        .login(&body.login, &body.password, SessionKind::Api, ip)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": s.token,
            "expires_at": s.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "user": { "id": s.user.id, "login": s.user.login, "display_name": s.user.display_name,
                      "administration": s.user.administration_id },
        })),
    ))
}

pub async fn delete(
    State(st): State<AppState>,
    _who: ApiUser,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    if let Some(t) = bearer(&headers) {
        st.app.store.logout(t).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    let admin = st.app.store.administration(who.admin()).await?;
    Ok(Json(json!({
        "user": who.user,
        "memberships": who.memberships,
        "administration": admin,
    })))
}
