//! The public portal's API: directory, challenge, filing, tracking. No account needed.

use super::correspondences::{drain_multipart, read_multipart};
use super::ApiQuery;
use crate::auth::ClientIp;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::Json;
use diwan_app::portal::FilingRequest;
use diwan_app::AppError;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryQuery {
    #[serde(default)]
    q: String,
}

/// `GET /api/v1/administrations`: the public directory of administrations and their registry
/// offices.
pub async fn directory(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<DirectoryQuery>,
) -> Result<Json<Value>, ApiError> {
    let needle = q.q.trim().to_lowercase();
    let mut items = Vec::new();
    for a in st.app.store.administrations().await? {
        let hay = format!(
            "{} {} {} {}",
            a.code,
            a.names.fr,
            a.names.ar,
            a.names.zgh.clone().unwrap_or_default()
        )
        .to_lowercase();
        if !needle.is_empty() && !hay.contains(&needle) {
            continue;
        }
        let tenant = st.app.store.tenant(a.id);
        let offices: Vec<Value> = tenant
            .entities()
            .await?
            .into_iter()
            .filter(|e| e.kind == diwan_core::org::EntityKind::RegistryOffice)
            .map(|e| json!({ "code": e.code, "level": e.level, "name_fr": e.names.fr, "name_ar": e.names.ar, "name_zgh": e.names.zgh }))
            .collect();
        items.push(json!({
            "code": a.code, "kind": a.kind, "name_fr": a.names.fr, "name_ar": a.names.ar, "name_zgh": a.names.zgh,
            "registry_offices": offices,
        }));
    }
    Ok(Json(json!({ "items": items })))
}

/// `GET /api/v1/portal/challenge`.
pub async fn challenge(State(st): State<AppState>) -> Json<Value> {
    let c = st.app.challenge();
    Json(
        json!({ "token": c.token, "bits": c.bits, "algorithm": c.algorithm, "required": st.app.config.portal.challenge }),
    )
}

/// `POST /api/v1/portal/filings`.
pub async fn file(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    mut mp: Multipart,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if let Err(e) = st
        .app
        .portal_rate_limit(ip.as_deref().and_then(|i| i.parse().ok()))
    {
        // Refused before the body is read: it is read away first, or the client, still
        // sending, would get a connection reset instead of the 429.
        drain_multipart(&mut mp).await;
        return Err(e.into());
    }
    let (meta, files): (FilingRequest, _) = read_multipart(&st.app, &mut mp).await?;
    let filed = st.app.file(meta, files).await?;
    st.metrics
        .filings
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = st.app.config.public_url();
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": filed.id,
            "number": filed.number,
            "tracking_code": filed.tracking_code,
            "registered_at": filed.registered_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "due_date": filed.due_date.map(|d| d.to_string()),
            "log_index": filed.leaf_index,
            "receipt_pdf": format!("{base}/api/v1/portal/receipts/{}.pdf", filed.receipt_token),
            "receipt_json": format!("{base}/api/v1/portal/receipts/{}.json", filed.receipt_token),
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackQuery {
    number: String,
    code: String,
}

/// `GET /api/v1/portal/track?number=…&code=…`.
pub async fn track(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiQuery(q): ApiQuery<TrackQuery>,
) -> Result<Json<Value>, ApiError> {
    // Guessing codes costs the same as filing.
    st.app
        .portal_rate_limit(ip.as_deref().and_then(|i| i.parse().ok()))?;
    if q.number.trim().is_empty() || q.code.trim().is_empty() {
        return Err(ApiError(AppError::field(
            "number",
            "number and code are required",
        )));
    }
    let t = st.app.track(&q.number, &q.code).await?;
    let base = st.app.config.public_url();
    Ok(Json(json!({
        "number": t.number,
        "administration": t.administration,
        "status": t.status,
        "registered_at": t.registered_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "due_date": t.due_date.map(|d| d.to_string()),
        "procedure": t.procedure,
        "silence_means_acceptance": t.silence_means_acceptance,
        "receipt_pdf": format!("{base}/api/v1/portal/receipts/{}.pdf", t.receipt_token),
        "receipt_json": format!("{base}/api/v1/portal/receipts/{}.json", t.receipt_token),
        "service": t.service,
        "answer": t.answer,
        "outcome": t.outcome,
    })))
}
