//! Organisation endpoints: entities, registers, users, memberships, contacts.

use super::{path_id, ApiJson};
use crate::auth::ApiUser;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use diwan_app::admin::{EntityRequest, MembershipRequest, RegisterRequest, UserRequest};
use diwan_core::org::Role;
use diwan_core::UserId;
use serde::Deserialize;
use serde_json::{json, Value};

/// `GET /api/v1/entities`: the caller's administration's entity tree.
pub async fn entities(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    let list = st.app.store.tenant(who.admin()).entities().await?;
    let items: Vec<Value> = list
        .iter()
        .map(|e| {
            json!({
                "id": e.id, "parent": e.parent, "code": e.code, "kind": e.kind, "level": e.level,
                "name_fr": e.names.fr, "name_ar": e.names.ar, "name_zgh": e.names.zgh,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

pub async fn create_entity(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiJson(req): ApiJson<EntityRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require_role(Role::Admin)?;
    let e = st.app.create_entity(who.admin(), req, &who.actor()).await?;
    Ok((StatusCode::CREATED, Json(json!(e))))
}

pub async fn registers(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    let list = st.app.store.tenant(who.admin()).registers().await?;
    Ok(Json(json!({ "items": list })))
}

pub async fn create_register(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require_role(Role::Admin)?;
    let r = st
        .app
        .create_register(who.admin(), req, &who.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(json!(r))))
}

pub async fn users(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
) -> Result<Json<Value>, ApiError> {
    if !who.has_role(Role::Admin) && !who.has_role(Role::Auditor) {
        return Err(ApiError(diwan_app::AppError::Forbidden(
            "listing users needs the admin or auditor role".into(),
        )));
    }
    let list = st.app.store.tenant(who.admin()).users().await?;
    Ok(Json(json!({ "items": list })))
}

pub async fn create_user(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    ApiJson(req): ApiJson<UserRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    who.require_role(Role::Admin)?;
    let u = st.app.create_user(who.admin(), req, &who.actor()).await?;
    Ok((StatusCode::CREATED, Json(json!(u))))
}

pub async fn add_membership(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MembershipRequest>,
) -> Result<StatusCode, ApiError> {
    who.require_role(Role::Admin)?;
    let user: UserId = path_id(&id, "user")?;
    st.app
        .add_membership(who.admin(), user, req, &who.actor())
        .await?;
    Ok(StatusCode::CREATED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactQuery {
    #[serde(default)]
    q: String,
}

/// `GET /api/v1/contacts?q=PREFIX`: the contacts directory (for registry clerks).
pub async fn contacts(
    State(st): State<AppState>,
    ApiUser(who): ApiUser,
    super::ApiQuery(q): super::ApiQuery<ContactQuery>,
) -> Result<Json<Value>, ApiError> {
    if !who.has_role(Role::RegistryClerk) && !who.has_role(Role::Admin) {
        return Err(ApiError(diwan_app::AppError::Forbidden(
            "the contacts directory is for registry offices".into(),
        )));
    }
    let list = st
        .app
        .store
        .tenant(who.admin())
        .search_contacts(&q.q, 20)
        .await?;
    // Identity numbers are sensitive: shown masked.
    let items: Vec<Value> = list
        .into_iter()
        .map(|c| {
            json!({ "id": c.id, "kind": c.kind, "name": c.name,
                    "id_number": c.id_number.as_deref().map(diwan_core::text::mask),
                    "email": c.email, "phone": c.phone })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}
