//! The JSON API under `/api/v1`.

pub mod correspondences;
pub mod deadlines;
pub mod exchange;
pub mod log;
pub mod org;
pub mod parapheur;
pub mod portal;
pub mod processing;
pub mod sessions;
pub mod webhooks;

use crate::problem::{parse_json, ApiError};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::routing::{get, post};
use axum::Router;
use diwan_app::AppError;

/// All API routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sessions", post(sessions::create).delete(sessions::delete))
        .route("/me", get(sessions::me))
        .route("/entities", get(org::entities).post(org::create_entity))
        .route("/registers", get(org::registers).post(org::create_register))
        .route("/users", get(org::users).post(org::create_user))
        .route("/users/{id}/memberships", post(org::add_membership))
        .route("/contacts", get(org::contacts))
        .route(
            "/correspondences",
            post(correspondences::create).get(correspondences::list),
        )
        .route("/correspondences/{id}", get(correspondences::get_one))
        .route(
            "/correspondences/{id}/history",
            get(correspondences::history),
        )
        .route(
            "/correspondences/{id}/documents/{doc}",
            get(correspondences::download),
        )
        .route(
            "/correspondences/{id}/assignments",
            post(processing::assign).get(processing::assignments),
        )
        .route(
            "/correspondences/{id}/assignments/{aid}/done",
            post(processing::assignment_done),
        )
        .route("/correspondences/{id}/status", post(processing::status))
        .route("/correspondences/bulk", post(processing::bulk))
        .route(
            "/correspondences/{id}/slip.pdf",
            get(processing::dispatch_slip),
        )
        .route(
            "/correspondences/{id}/notes",
            get(processing::notes).post(processing::add_note),
        )
        .route(
            "/correspondences/{id}/replies",
            post(processing::reply).get(processing::replies),
        )
        .route(
            "/correspondences/{id}/replies/register-signed",
            post(processing::register_signed_reply),
        )
        .route("/correspondences/{id}/deliveries", post(exchange::deliver))
        .route("/correspondences/{id}/evidence", get(exchange::list))
        .route(
            "/correspondences/{id}/refuse-delivery",
            post(exchange::refuse),
        )
        .route("/evidence/{event}", get(exchange::evidence))
        .route("/queues", get(processing::queues))
        .route("/queues/{queue}", get(processing::queue))
        .route("/search", get(processing::search))
        .route("/notifications", get(processing::notifications))
        .route("/notifications/read", post(processing::notifications_read))
        .route("/reminders/run", post(processing::run_reminders))
        .route(
            "/registers/{id}/export.csv",
            get(processing::export_register),
        )
        .route(
            "/registers/{id}/export.pdf",
            get(processing::export_register_pdf),
        )
        .route("/archives/export", get(processing::export_archive))
        .route("/dashboard", get(processing::dashboard))
        .route("/deadline-rules", get(deadlines::list))
        .route(
            "/deadline-rules/{code}",
            axum::routing::put(deadlines::put).delete(deadlines::delete),
        )
        .route(
            "/holidays",
            get(deadlines::holidays).post(deadlines::add_holiday),
        )
        .route(
            "/holidays/{day}",
            axum::routing::delete(deadlines::remove_holiday),
        )
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/{id}", axum::routing::delete(webhooks::delete))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/folders", post(parapheur::create).get(parapheur::list))
        .route("/folders/batch-sign", post(parapheur::batch_sign))
        .route("/folders/{id}", get(parapheur::get_one))
        .route(
            "/folders/{id}/circuit",
            axum::routing::put(parapheur::put_circuit),
        )
        .route("/folders/{id}/start", post(parapheur::start))
        .route("/folders/{id}/actions", post(parapheur::act))
        .route("/folders/{id}/recall", post(parapheur::recall))
        .route("/folders/{id}/documents", post(parapheur::add_documents))
        .route(
            "/folders/{id}/documents/{doc}",
            get(parapheur::document)
                .put(parapheur::replace_document)
                .delete(parapheur::remove_document),
        )
        .route("/folders/{id}/evidence.pdf", get(parapheur::evidence))
        .route(
            "/circuit-templates",
            get(parapheur::templates).post(parapheur::put_template),
        )
        .route(
            "/circuit-templates/{document_type}",
            axum::routing::delete(parapheur::delete_template),
        )
        .route(
            "/delegations",
            get(parapheur::delegations).post(parapheur::create_delegation),
        )
        .route(
            "/delegations/{id}",
            axum::routing::delete(parapheur::revoke_delegation),
        )
        .route(
            "/me/certificate",
            get(parapheur::my_certificate).post(parapheur::import_certificate),
        )
        .route("/administrations", get(portal::directory))
        .route(
            "/administrations/{code}/procedures",
            get(deadlines::public_procedures),
        )
        .route("/portal/challenge", get(portal::challenge))
        .route("/portal/filings", post(portal::file))
        .route("/portal/track", get(portal::track))
        .route("/portal/receipts/{file}", get(log::receipt))
        .route("/log/sth", get(log::sth))
        .route("/log/proof", get(log::inclusion))
        .route("/log/consistency", get(log::consistency))
        .route("/log/leaves/{index}", get(log::leaf))
        .route("/pki/root", get(log::root))
        .route("/pki/log", get(log::log_certificate))
        .route("/verify", post(log::verify))
        .route("/openapi.json", get(crate::openapi::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> ApiError {
    ApiError(AppError::NotFound("API route".into()))
}

async fn method_not_allowed() -> axum::response::Response {
    let mut r = crate::problem::problem(&AppError::BadRequest(
        "method not allowed on this route".into(),
    ));
    *r.status_mut() = axum::http::StatusCode::METHOD_NOT_ALLOWED;
    r
}

/// A JSON request body, parsed with precise errors (the offending field's path, unknown fields
/// refused where the type says so). At most 1 MiB.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.starts_with("application/json") {
            return Err(ApiError(AppError::UnsupportedMediaType(
                "the body must be application/json".into(),
            )));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError(AppError::BadRequest(format!("cannot read the body: {e}"))))?;
        if bytes.len() > 1 << 20 {
            return Err(ApiError(AppError::TooLarge(
                "JSON bodies are limited to 1 MiB".into(),
            )));
        }
        Ok(ApiJson(parse_json(&bytes, "body")?))
    }
}

/// Parses an id from a path segment; a malformed id is simply not found.
pub fn path_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError(AppError::NotFound(what.to_string())))
}

/// Query-string parameters, with precise errors (unknown parameters refused where the type says so).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for ApiQuery<T>
{
    type Rejection = ApiError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q)
            .map(ApiQuery)
            .map_err(|e| ApiError(AppError::field("query", e.to_string())))
    }
}
